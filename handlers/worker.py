"""The worker Lambda (``handlers.worker.handler``): SQS FIFO records in, turns run and replies
sent, ``{"batchItemFailures": [...]}`` out.

An adapter only: it translates the event, hands the records to
:func:`handlers.aws.sqs_batch.process_records` with the function's deadline, and translates the
failures back. The stack (settings, engine, service, clients) is built while this module is
imported, at INIT.
"""

from __future__ import annotations

from typing import Any

from handlers import composition
from handlers.aws import snapstart
from handlers.aws.sqs_batch import MAX_GROUPS_AT_ONCE, BatchSettings, process_records

INSTANT_RESERVE_MS = 20_000
"""Time a command, button or fixed answer may need: its turn plus sending (with retries)."""
SEND_ALLOWANCE_MS = 20_000

_ROOT = composition.root(pool_size=MAX_GROUPS_AT_ONCE).warm("worker", "queue")
snapstart.register(composition.root)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Run a batch; report the records to retry."""
    root = composition.root()
    records = event.get("Records") or []
    queue = root.queue
    sqs = getattr(queue, "sqs", None)

    def retry_later(receipt_handle: str, seconds: int) -> None:
        if sqs is not None and receipt_handle:
            sqs.retry_later(receipt_handle, seconds)

    settings = BatchSettings(
        instant_reserve_ms=INSTANT_RESERVE_MS,
        brain_reserve_ms=int(root.settings.llm_turn_budget_seconds * 1000) + SEND_ALLOWANCE_MS,
    )
    failures = process_records(records, root.worker,
                               remaining_ms=lambda: int(context.get_remaining_time_in_millis()),
                               retry_later=retry_later, settings=settings)
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}
