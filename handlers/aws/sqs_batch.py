"""One batch of SQS FIFO records through the worker, answered as a partial batch response.

What the event source mapping and FIFO need from us:

- The records of one message group (one chat member's conversation) run one after another, in
  the batch's order; groups run side by side on threads, so one member's slow LLM turn does
  not hold up another member's ``/add`` that came in the same batch.
- A record that fails fails the rest of its group in this batch too (``batchItemFailures``
  lists them all); otherwise SQS would delete the later ones and order would be lost.
- A failed record comes back sooner than the queue's long visibility timeout: after the
  platform's ``retry_after`` when a send was refused for rate, after a short backoff when the
  turn failed. Records we stop taking because the deadline is near go back at once.
- An unsent reply is retried through the queue a few times; after that the record is let go
  and the outbox row is the scheduler's, so a platform outage neither dead-letters stored turns
  nor blocks the conversation behind them.
- A record whose turn keeps failing for a reason of its own (a bug it triggers: "poisoned") is
  moved to the dead-letter queue by the worker itself after :data:`POISONED_AFTER` receives, and
  the rest of its group goes on. Left to the redrive policy, the records reported failed behind
  it would be received (and counted) with it every time and follow it there.
- A turn that fails because the database (or the network) is down is not poisoned: it is
  retried with a backoff growing to 15 minutes until the redrive policy's ``maxReceiveCount``
  (about four hours at 20), so an outage delays turns but does not dead-letter them. The
  redrive policy stays as the backstop for a worker that cannot even run.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from handlers.delivery import QueuedDelivery
from handlers.processing import Worker

log = logging.getLogger(__name__)

MAX_GROUPS_AT_ONCE = 10
"""The event source mapping's batch size: at most this many groups run side by side."""
QUEUE_SEND_RETRIES = 3
"""Receives of a record whose reply could not be sent before the scheduler takes over."""
MAX_TURN_BACKOFF_SECONDS = 900
OUTAGE_FIRST_BACKOFF_SECONDS = 15
POISONED_AFTER = 5
"""Receives after which a record failing for a reason of its own is dead-lettered."""


@dataclass(frozen=True)
class BatchSettings:
    """How much time a record may need before the function's deadline, and when a failing
    record is given up on (the redrive policy's ``maxReceiveCount``)."""

    instant_reserve_ms: int
    brain_reserve_ms: int
    max_receives: int = 5


DeadLetter = Callable[[str, str, str], None]
"""Moves a record (message id, group, body) to the dead-letter queue; raises if it could not."""


@dataclass(frozen=True)
class _Record:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    group: str


def process_records(
    records: Sequence[dict[str, Any]], worker: Worker, *, remaining_ms: Callable[[], int],
    retry_later: Callable[[str, int], None], settings: BatchSettings,
    dead_letter: DeadLetter | None = None,
) -> list[str]:
    """Run the records; the message ids to report as ``batchItemFailures``."""
    groups: dict[str, list[_Record]] = {}
    for raw in records:
        record = _record(raw)
        groups.setdefault(record.group, []).append(record)

    def run(group: list[_Record]) -> list[str]:
        return _run_group(group, worker, remaining_ms, retry_later, settings, dead_letter)

    if len(groups) <= 1:
        return [failed for group in groups.values() for failed in run(group)]
    with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="group") as pool:
        results = list(pool.map(run, groups.values()))
    return [failed for result in results for failed in result]


def _record(raw: dict[str, Any]) -> _Record:
    attributes = raw.get("attributes") or {}
    return _Record(
        message_id=str(raw.get("messageId", "")), receipt_handle=str(raw.get("receiptHandle", "")),
        body=str(raw.get("body", "")),
        receive_count=int(attributes.get("ApproximateReceiveCount") or 1),
        group=str(attributes.get("MessageGroupId") or raw.get("messageId", "")),
    )


def _run_group(group: list[_Record], worker: Worker, remaining_ms: Callable[[], int],
               retry_later: Callable[[str, int], None], settings: BatchSettings,
               dead_letter: DeadLetter | None) -> list[str]:
    def give_up(record: _Record, *, outage: bool) -> bool:
        """Move a record that failed too often to the dead-letter queue; True if done."""
        limit = settings.max_receives if outage else min(POISONED_AFTER, settings.max_receives)
        if dead_letter is None or record.receive_count < limit:
            return False
        try:
            dead_letter(record.message_id, record.group, record.body)
        except Exception as error:  # noqa: BLE001 - the redrive policy moves it instead
            log.error("could not dead-letter record %s (%s)", record.message_id,
                      type(error).__name__)
            return False
        log.error("record %s failed %d times; moved to the dead-letter queue", record.message_id,
                  record.receive_count)
        return True

    for index, record in enumerate(group):
        rest = group[index + 1:]
        try:
            delivery = QueuedDelivery.model_validate_json(record.body)
        except ValidationError:
            log.error("record %s is not a delivery this worker understands", record.message_id)
            if give_up(record, outage=False):
                continue
            return _fail(record, 0, rest, retry_later)
        reserve = settings.brain_reserve_ms if delivery.thinks else settings.instant_reserve_ms
        if remaining_ms() < reserve:
            log.warning("deadline near: %d record(s) of a group go back to the queue",
                        len(rest) + 1)
            return _fail(record, 0, rest, retry_later)
        try:
            delay = worker.process(delivery)
        except Exception as error:  # the turn was not stored: the queue runs it again
            outage = is_outage(error)
            log.exception("%s delivery failed (receive %d%s)", delivery.platform,
                          record.receive_count, ", an outage" if outage else "")
            if give_up(record, outage=outage):
                continue
            return _fail(record, turn_backoff(record.receive_count, outage=outage), rest,
                         retry_later)
        if delay is not None:
            if record.receive_count < QUEUE_SEND_RETRIES:
                return _fail(record, math.ceil(delay), rest, retry_later)
            log.warning("%s reply still unsent after %d receives; left to the scheduler",
                        delivery.platform, record.receive_count)
    return []


def is_outage(error: BaseException) -> bool:
    """True for failures of the infrastructure (database unreachable or restarting, a
    connection dropped, a timeout) rather than of this record."""
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    if isinstance(error, OperationalError | InterfaceError | ConnectionError | TimeoutError):
        return True
    return isinstance(error, DBAPIError) and bool(error.connection_invalidated)


def turn_backoff(receive_count: int, *, outage: bool) -> int:
    """Seconds before a failed turn is tried again: quick for a poisoned record (it is soon
    dead-lettered), growing to 15 minutes through an outage."""
    if outage:
        return int(min(OUTAGE_FIRST_BACKOFF_SECONDS * 2 ** (receive_count - 1),
                       MAX_TURN_BACKOFF_SECONDS))
    return int(min(2 ** receive_count, MAX_TURN_BACKOFF_SECONDS))


def _fail(record: _Record, seconds: int, rest: list[_Record],
          retry_later: Callable[[str, int], None]) -> list[str]:
    """Report ``record`` and the rest of its group as failed; ``record`` is visible again
    after ``seconds``, the rest at once (FIFO still hands them out only after it)."""
    for failed, delay in [(record, seconds), *((r, 0) for r in rest)]:
        try:
            retry_later(failed.receipt_handle, delay)
        except Exception as error:  # noqa: BLE001 - the queue's visibility timeout applies
            log.warning("could not change a record's visibility: %s", type(error).__name__)
    return [r.message_id for r in (record, *rest)]
