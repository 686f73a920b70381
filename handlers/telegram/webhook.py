"""``POST /telegram/webhook``: authenticate, parse, enqueue, answer.

Statuses: 401 wrong or missing secret token (nothing read further, nothing written); 400 a body
that is not a JSON object; 200 everything Telegram should not send again (queued, ignored,
unparseable); 500 when the delivery could not be queued (or, with the in-process queue, its
turn could not be stored) — Telegram delivers it again, and the deduplication id and the
delivery claim make the second try the only one that counts.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from bot_core.reply import Reply
from bot_core.service import needs_brain
from bot_core.settings import Settings
from handlers.aws.sqs_queue import fifo_id
from handlers.delivery import Enqueuer, QueuedDelivery, group_of
from handlers.telegram.client import BotIdentity
from handlers.telegram.parse import (
    PLATFORM,
    Decision,
    Ignore,
    Say,
    Turn,
    Unparseable,
    classify,
    is_group,
    parse_update,
)
from models.types import utcnow

log = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"

Answer = tuple[int, dict[str, Any]]


class TelegramWebhook:
    """The webhook's work, framework-free (the Starlette route calls :meth:`receive`)."""

    def __init__(self, settings: Settings, identity: Callable[[bool], BotIdentity],
                 queue: Enqueuer) -> None:
        secret = settings.telegram_webhook_secret
        self._secret = secret.get_secret_value().encode() if secret is not None else b""
        self._identity = identity
        self._queue = queue

    def receive(self, body: bytes, secret: str | None) -> Answer:
        """Authenticate and queue one update; (status, JSON answer)."""
        if not self._authentic(secret):
            return 401, {"ok": False, "error": "unauthorized"}
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):  # nesting past Python's stack
            return 400, {"ok": False, "error": "body is not JSON"}
        if not isinstance(data, dict):
            return 400, {"ok": False, "error": "body is not a JSON object"}
        delivery = self.delivery_of(data)
        if delivery is None:
            return 200, {"ok": True}
        try:
            self._queue.enqueue(delivery)
        except Exception:  # any failure: 5xx so that Telegram redelivers (logged)
            log.exception("Telegram update %s was not queued; answering 500 for a redelivery",
                          delivery.seq)
            return 500, {"ok": False, "error": "try again"}
        return 200, {"ok": True}

    def delivery_of(self, data: dict[str, Any]) -> QueuedDelivery | None:
        """The update as a queued delivery, or None when there is nothing to do."""
        try:
            update = parse_update(data)
        except Unparseable as error:
            log.warning("ignored an update python-telegram-bot cannot parse (%s)", error)
            return None
        decision = classify(update, self._identity(is_group(update)))
        if isinstance(decision, Ignore):
            log.info("ignored update %s: %s", update.update_id, decision.reason)
            return None
        return to_delivery(decision)

    def _authentic(self, secret: str | None) -> bool:
        """Constant-time comparison with TELEGRAM_WEBHOOK_SECRET; no secret set, no entry."""
        if not self._secret:
            log.error("TELEGRAM_WEBHOOK_SECRET is not set; refusing webhook requests")
            return False
        if secret is None:
            return False
        return hmac.compare_digest(secret.encode(), self._secret)


def to_delivery(decision: Decision) -> QueuedDelivery | None:
    """A turn or a fixed answer as the queue carries it."""
    now = utcnow()
    if isinstance(decision, Turn):
        return QueuedDelivery(
            kind="turn", platform=PLATFORM, group=group_of(decision.inbound),
            target=decision.target.to_dict(), inbound=decision.inbound,
            delivery_key=decision.inbound.delivery_key, seq=decision.seq, received_at=now,
            thinks=needs_brain(decision.inbound), chat_target=decision.target.in_chat().to_dict(),
        )
    if isinstance(decision, Say):
        return QueuedDelivery(
            kind="say", platform=PLATFORM,
            group=fifo_id(PLATFORM, decision.chat_key, str(decision.user_id)),
            target=decision.target.to_dict(), reply=Reply(text=decision.text),
            delivery_key=str(decision.seq), seq=decision.seq, received_at=now,
        )
    return None
