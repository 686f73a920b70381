"""Running one queued delivery: its turn through the core, then its reply through the outbox.

The same code runs in the worker Lambda (records from SQS) and in the in-process queue (local
runs and tests). A delivery seen again (SQS redelivered it, or the platform did) makes no second
turn — the core's delivery claim sees to that — but whatever of its reply is still unsent goes
out now.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from bot_core.inbound import Inbound
from bot_core.outbox import Outbox
from bot_core.service import TodoService, Where
from handlers.delivery import Deliverer, QueuedDelivery

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from models.db import UnitOfWorkFactory

log = logging.getLogger(__name__)

Enrich = Callable[[Inbound, Mapping[str, Any]], Inbound]
"""What a platform adds to an inbound value before its turn, given the delivery's target
(Slack: the person's timezone, asked of the workspace the target names)."""


class Worker:
    """Runs deliveries. Raises when the turn could not be stored (the queue runs it again);
    returns the seconds after which an unsent reply should be retried, or None."""

    def __init__(self, service: TodoService, deliverer: Deliverer,
                 enrich: Mapping[str, Enrich] | None = None, *,
                 engine: Engine | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self._service = service
        self._deliverer = deliverer
        self._enrich = dict(enrich or {})
        self._unit_of_work: UnitOfWorkFactory | None = None
        if engine is not None:
            from models.db import UnitOfWork

            self._unit_of_work = partial(UnitOfWork, engine)
        self._clock: Callable[[], datetime] = clock or (lambda: datetime.now(UTC))

    @property
    def outbox(self) -> Outbox:
        return self._deliverer.outbox

    def process(self, delivery: QueuedDelivery) -> float | None:
        """Run ``delivery`` and send its reply."""
        row_ids = self._run(delivery)
        if not row_ids and delivery.delivery_key:
            # Already processed: send what of its reply is still unsent, if anything.
            row_ids = self.outbox.unsent_for(delivery.platform, delivery.delivery_key)
        return self._deliverer.deliver(row_ids)

    def _run(self, delivery: QueuedDelivery) -> list[int]:
        if delivery.admission is not None:
            admitted = self._admit(delivery)
            if admitted is not None:
                return admitted
        target = delivery.target_json
        if delivery.kind == "say":
            assert delivery.reply is not None, "a say delivery carries its reply"
            where = Where(target, delivery.platform, delivery.workspace, delivery.delivery_key)
            row = self._service.say(where, delivery.reply)
            return [row] if row is not None else []
        assert delivery.inbound is not None, "turns and overviews carry their inbound"
        if delivery.kind == "overview":
            # Run again (a short Retry-After, the queue's retry): send the view already queued
            # rather than queue a second copy for the scheduler to publish, stale, later.
            if delivery.delivery_key:
                queued = self.outbox.unsent_for(delivery.platform, delivery.delivery_key)
                if queued:
                    return queued
            row = self._service.overview(delivery.inbound, target=target,
                                         delivery_key=delivery.delivery_key).outbox_id
            return [row] if row is not None else []
        sender = self._deliverer.sender(delivery.platform) if delivery.thinks else None
        inbound = delivery.inbound
        enrich = self._enrich.get(delivery.platform)
        if enrich is not None:  # what the platform can tell about the person (Slack's zone)
            inbound = enrich(inbound, delivery.target)
        result = self._service.handle(
            inbound, target=target, chat_target=delivery.chat_target_json,
            thinking=(lambda: sender.thinking(delivery.target)) if sender is not None else None)
        if result.duplicate:
            log.info("%s delivery was already processed", delivery.platform)
        return [result.outbox_id] if result.outbox_id is not None else []

    def _admit(self, delivery: QueuedDelivery) -> list[int] | None:
        """The allow-list's part: the outbox rows of a stranger's answer or a join's hello
        (none when already answered), or None when the delivery runs as usual (a group an
        allowed user added the bot to)."""
        from bot_core import strangers

        admission = delivery.admission
        assert admission is not None
        if self._unit_of_work is None:
            raise RuntimeError("the worker was built without a database engine")
        uow = self._unit_of_work
        if delivery.kind == "join":
            assert admission.chat_id is not None, "a join names its chat"
            answer = strangers.Answer(delivery.target_json, delivery.platform,
                                      delivery.workspace, delivery.delivery_key)
            row = strangers.admit_chat(
                uow, platform=delivery.platform, workspace=delivery.workspace,
                chat_id=admission.chat_id, added_by=admission.external_id, answer=answer,
                reply=delivery.reply, now=self._clock())
            return [row] if row is not None else []
        if delivery.kind != "stranger" and admission.chat_id is not None and (
                strangers.chat_admitted(uow, platform=delivery.platform,
                                        workspace=delivery.workspace,
                                        chat_id=admission.chat_id)):
            return None
        answer = strangers.Answer(delivery.answer_target_json, delivery.platform,
                                  delivery.workspace, delivery.delivery_key)
        row = strangers.greet_once(uow, platform=delivery.platform,
                                   workspace=delivery.workspace,
                                   external_id=admission.external_id, answer=answer,
                                   now=self._clock())
        if row is None:
            log.info("%s stranger already answered; nothing written", delivery.platform)
        return [row] if row is not None else []
