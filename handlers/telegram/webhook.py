"""``POST /telegram/webhook``: authenticate, parse, enqueue, answer.

The allow-list (``TELEGRAM_ALLOWED_USERS``, :mod:`handlers.access`) is decided here on the
update alone: someone it does not admit becomes a ``stranger`` delivery (answered once by the
worker, their message not carried further); an unlisted sender in a group carries the turn with
an admission note, for the worker to run if an allowed user added the bot to that group and to
answer once otherwise; an allowed user adding the bot to a group becomes a ``join``.

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
from handlers.access import Access
from handlers.aws.sqs_queue import fifo_id
from handlers.delivery import Admission, Enqueuer, QueuedDelivery, group_of
from handlers.telegram.client import BotIdentity
from handlers.telegram.parse import (
    PLATFORM,
    Decision,
    Ignore,
    Join,
    ReplyTarget,
    Say,
    Sender,
    Turn,
    Unparseable,
    classify,
    is_group,
    parse_update,
    sender_of,
)
from models.types import utcnow

log = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"
JOINED_TEXT = "Hi! {name} added me here, so anyone in this chat can now talk to me: mention me, " \
    "reply to me, or send /help."

Answer = tuple[int, dict[str, Any]]


class TelegramWebhook:
    """The webhook's work, framework-free (the Starlette route calls :meth:`receive`)."""

    def __init__(self, settings: Settings, identity: Callable[[bool], BotIdentity],
                 queue: Enqueuer, access: Access | None = None) -> None:
        self._access = access or Access.from_settings(settings)
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
        if isinstance(decision, Join):
            if not self._access.telegram_restricted or not self._access.telegram_user(
                    decision.added_by, decision.added_by_username):
                log.info("ignored update %s: added to a group", update.update_id)
                return None
            return join_delivery(decision)
        delivery = to_delivery(decision)
        sender = sender_of(update)
        if delivery is None or sender is None or self._access.telegram(
                sender.user_id, sender.username, sender.chat_id, sender.chat_type):
            return delivery
        return as_stranger(delivery, sender, decision)

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


def join_delivery(join: Join) -> QueuedDelivery:
    """An allowed user added the bot to a group: the worker records the group and says hello."""
    name = join.added_by_name or (f"@{join.added_by_username}" if join.added_by_username
                                  else "Someone")
    return QueuedDelivery(
        kind="join", platform=PLATFORM, group=fifo_id(PLATFORM, join.chat_key, str(join.added_by)),
        target=join.target.to_dict(), reply=Reply(text=JOINED_TEXT.format(name=name)),
        delivery_key=str(join.seq), seq=join.seq, received_at=utcnow(),
        admission=Admission(external_id=str(join.added_by), chat_id=str(join.chat_id)),
    )


def as_stranger(delivery: QueuedDelivery, sender: Sender,
                decision: Turn | Say | Ignore | Join) -> QueuedDelivery:
    """The delivery of someone the allow-list does not admit. A button press is answered with
    a toast (never by editing the list it was under)."""
    target = decision.target if isinstance(decision, Turn | Say) else None
    answer: dict[str, Any] | None = None
    if target is not None and target.callback_query_id is not None:
        answer = ReplyTarget(chat_id=target.chat_id, callback_query_id=target.callback_query_id,
                             toast_only=True).to_dict()
    if sender.in_group:
        # Runs as usual if an allowed user added the bot to this group (the worker knows).
        return delivery.model_copy(update={"admission": Admission(
            external_id=str(sender.user_id), chat_id=str(sender.chat_id), answer_target=answer)})
    # Nothing of what they sent travels further than this.
    return delivery.model_copy(update={
        "kind": "stranger", "inbound": None, "reply": None, "thinks": False,
        "chat_target": None, "target": answer or delivery.target,
        "admission": Admission(external_id=str(sender.user_id)),
    })
