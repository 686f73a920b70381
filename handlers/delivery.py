"""What travels through the queue, and how outbox rows are sent.

A webhook turns a platform payload into one :class:`QueuedDelivery` (the core's
:class:`Inbound` plus the platform's reply target) and enqueues it; the worker runs it. Its
MessageGroupId is one chat member's conversation (:func:`group_of`), so the turns of one
conversation run in order and nobody waits for anyone else; its deduplication id is the
platform and delivery key.

:class:`Deliverer` sends outbox rows through the platform's :class:`ReplySender`, for the worker
right after a turn and for the scheduler's retries.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from bot_core.inbound import Inbound
from bot_core.outbox import Outbox, OutboxItem, RetryLater, SendOutcome
from bot_core.reply import Reply
from handlers.aws.sqs_queue import fifo_id

log = logging.getLogger(__name__)

DeliveryKind = Literal["turn", "say", "overview", "stranger", "join"]


class Admission(BaseModel):
    """What the allow-list said at the webhook, for the worker to finish.

    On a ``stranger`` delivery: the person it did not admit (``external_id``, in the
    delivery's workspace), answered once at the delivery's target. On a ``turn`` or ``say``:
    the sender is not listed but ``chat_id`` is a group an allowed user may have added the bot
    to; the worker runs the delivery if so, else answers the person once at ``answer_target``.
    On a ``join``: the allowed user (``external_id``) who added the bot to group ``chat_id``.
    """

    model_config = ConfigDict(frozen=True)

    external_id: str
    chat_id: str | None = None
    answer_target: dict[str, Any] | None = None


class QueuedDelivery(BaseModel):
    """One inbound delivery, parsed, on its way to the worker.

    ``turn``: a message, command or button for the core. ``say``: a fixed answer that makes no
    turn (``reply``). ``overview``: a list view shown without a turn (Slack's App Home).
    ``stranger``: someone the allow-list does not admit, answered once (``admission``).
    ``join``: an allowed user added the bot to a group (``admission``; ``reply``: the hello).
    ``target`` is the platform's own description of where the answer goes.
    """

    model_config = ConfigDict(frozen=True)

    kind: DeliveryKind
    platform: str
    group: str
    target: dict[str, Any]
    inbound: Inbound | None = None
    reply: Reply | None = None
    workspace: str = ""
    delivery_key: str | None = None
    seq: int = 0
    """The platform's order of deliveries where it has one (Telegram's update_id)."""
    received_at: datetime
    thinks: bool = False
    """True when the turn goes to the brain (the platform may show "typing…")."""
    chat_target: dict[str, Any] | None = None
    """Where this chat member's unprompted messages go (reminders of tasks made here, the
    digest set here): a new message in the chat, DM or thread, never an expiring response."""
    admission: Admission | None = None
    """The allow-list's part (see :class:`Admission`); None: admitted at the webhook."""

    @property
    def dedup_id(self) -> str:
        """The queue's deduplication id: the platform and the delivery key."""
        return fifo_id(self.platform, self.delivery_key or f"seq:{self.seq}")

    @property
    def target_json(self) -> str:
        return _json(self.target)

    @property
    def answer_target_json(self) -> str:
        """Where a stranger's one answer goes: the admission's own target (a button press is
        answered with a toast, not by editing the list), else the delivery's."""
        admission = self.admission
        if admission is not None and admission.answer_target is not None:
            return _json(admission.answer_target)
        return self.target_json

    @property
    def chat_target_json(self) -> str | None:
        return _json(self.chat_target) if self.chat_target is not None else None


def _json(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def group_of(inbound: Inbound) -> str:
    """One chat member's conversation: platform, workspace, chat (and thread), person."""
    return fifo_id(inbound.platform, inbound.chat_key, inbound.external_user_id)


class Enqueuer(Protocol):
    """Where webhooks put deliveries: SQS on AWS, the in-process queue elsewhere."""

    def enqueue(self, delivery: QueuedDelivery) -> None:
        """Hand the delivery over; raise if it could not be (the webhook answers 5xx)."""
        ...


class ReplySender(Protocol):
    """A platform's way of saying one outbox row."""

    def send(self, item: OutboxItem) -> SendOutcome:
        """Send what is left of ``item`` (from ``item.progress`` on); never raises for what
        the platform answered (that is the outcome), only for bugs."""
        ...

    def thinking(self, target: Mapping[str, Any]) -> AbstractContextManager[None]:
        """Show that the bot is working on an answer (Telegram's "typing…") while inside."""
        ...


class Deliverer:
    """Leases outbox rows, sends them through their platform's sender, records the outcome."""

    def __init__(self, outbox: Outbox, senders: Mapping[str, ReplySender]) -> None:
        self.outbox = outbox
        self._senders = senders

    def sender(self, platform: str) -> ReplySender | None:
        """The platform's sender; None while the platform is not configured (its rows wait)."""
        return self._senders.get(platform)

    def deliver(self, row_ids: Sequence[int]) -> float | None:
        """Send the rows; None when every one is done (sent, refused, or being sent by someone
        else), else the seconds after which the earliest unsent one should be tried again."""
        retry: float | None = None
        for row_id in row_ids:
            item = self.outbox.lease(row_id)
            if item is None:
                continue
            delay = self.outbox.record(item, self._send(item))
            if delay is not None:
                retry = delay if retry is None else min(retry, delay)
        return retry

    def _send(self, item: OutboxItem) -> SendOutcome:
        sender = self._senders.get(item.platform)
        if sender is None:
            return RetryLater(f"no sender configured for {item.platform}")
        try:
            return sender.send(item)
        except Exception as error:  # a bug in rendering or sending: logged, retried later
            log.exception("sending outbox row %d failed unexpectedly", item.id)
            return RetryLater(f"error: {type(error).__name__}", progress=item.progress)
