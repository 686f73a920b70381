"""The worker Lambda (``handlers.worker.handler``): SQS FIFO records in, turns run and replies
sent, ``{"batchItemFailures": [...]}`` out.

An adapter only: it translates the event, hands the records to
:func:`handlers.aws.sqs_batch.process_records` with the function's deadline, and translates the
failures back. The stack (settings, engine, service, clients) is built while this module is
imported, at INIT.
"""

from __future__ import annotations

# isort: off
from handlers.aws import lambda_init  # first: INIT runs without the garbage collector
# isort: on

from typing import Any

from handlers import composition
from handlers.aws import snapstart
from handlers.aws.sqs_batch import (
    MAX_GROUPS_AT_ONCE,
    BatchSettings,
    DeadLetter,
    process_records,
)
from handlers.aws.sqs_queue import OutgoingMessage, SqsQueue, fifo_id

INSTANT_RESERVE_MS = 20_000
"""Time a command, button or fixed answer may need: its turn plus sending (with retries)."""
SEND_ALLOWANCE_MS = 20_000

_ROOT = composition.root(pool_size=MAX_GROUPS_AT_ONCE).warm("worker", "queue")
snapstart.register(composition.root)
lambda_init.finished()


def dead_letter_queue(root: composition.Root) -> DeadLetter | None:
    """Moves a record to the configured dead-letter queue (None: the redrive policy does)."""
    url = root.settings.todobot_dead_letter_queue_url
    if not url:
        return None
    queue = root.part("dead_letter_queue", lambda: SqsQueue(url))

    def move(message_id: str, group: str, body: str) -> None:
        # The record's own group and message id are valid FIFO ids as they are.
        queue.send(OutgoingMessage(group_id=group, dedup_id=fifo_id(message_id), body=body))
    return move


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run a batch; report the records to retry."""
    root = composition.root()
    records = event.get("Records") or []
    sqs = root.sqs_queue

    def retry_later(receipt_handle: str, seconds: int) -> None:
        if sqs is not None and receipt_handle:
            sqs.retry_later(receipt_handle, seconds)

    settings = BatchSettings(
        instant_reserve_ms=INSTANT_RESERVE_MS,
        brain_reserve_ms=int(root.settings.llm_turn_budget_seconds * 1000) + SEND_ALLOWANCE_MS,
        max_receives=root.settings.todobot_queue_max_receives,
    )
    failures = process_records(records, root.worker,
                               remaining_ms=lambda: int(context.get_remaining_time_in_millis()),
                               retry_later=retry_later, settings=settings,
                               dead_letter=dead_letter_queue(root))
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}
