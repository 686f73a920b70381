"""The outbox: every reply is a row written in its turn's transaction, sent after the commit and
marked sent, so that nothing the bot says is lost to a failed send or a dead process.

The core decides *what* is said (a :class:`Reply`) and stores the platform's *where* (``target``,
opaque JSON) beside it; a platform sender turns a row into API calls and says how it went
(:data:`SendOutcome`). :class:`Outbox` holds the row's life: leased by one sender at a time,
then sent, retried later (429 retry_after, 5xx, timeout) or refused for good (bot blocked, chat
gone, 400). A row nobody managed to send within :data:`STALE_AFTER` is dropped with a log line:
by then the answer no longer makes sense.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, delete, insert, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, col

from bot_core.destinations import forget_destination, unprompted
from bot_core.reply import Reply
from models.tables import DeliveryClaim, OutboxMessage

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
"""How long a sender owns a row it is sending; a sender that died frees it when this passes."""
STALE_AFTER = timedelta(hours=6)
"""A reply still unsent after this long is dropped: the conversation has moved on."""
MAX_ATTEMPTS = 12
FIRST_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 900.0
RECORD_ATTEMPTS = 4
RECORD_PAUSE_SECONDS = 1.0
KEEP_SENT = timedelta(days=7)
"""Sent and refused rows are kept this long after they were written (support, "did it
arrive?"), then pruned."""
KEEP_CLAIMS = timedelta(days=7)
"""Delivery claims outlive every platform's redelivery (Telegram retries for about a day at
most; Slack for minutes; SQS deduplicates for 5 minutes), then are pruned."""


@dataclass(frozen=True)
class OutboxItem:
    """One row to send, as a platform sender sees it."""

    id: int
    platform: str
    workspace: str
    delivery_key: str | None
    target: str
    reply: Reply
    attempts: int
    created_at: datetime
    progress: int = 0


@dataclass(frozen=True)
class Sent:
    """The platform accepted it."""


@dataclass(frozen=True)
class RetryLater:
    """A transient failure; ``after_seconds`` is the platform's own hint when it gave one."""

    reason: str
    after_seconds: float | None = None
    progress: int = 0


@dataclass(frozen=True)
class Refused:
    """A permanent refusal (blocked, chat gone, malformed): recorded, never retried.
    ``gone``: the chat itself will not take messages any more (blocked, deleted, archived)."""

    reason: str
    gone: bool = False


SendOutcome = Sent | RetryLater | Refused


def add_to_outbox(session: Session, *, platform: str, workspace: str, delivery_key: str | None,
                  target: str, reply: Reply, now: datetime, user_id: str | None = None) -> int:
    """Write a reply to send, inside the caller's transaction; its id.

    The row is not due for the scheduler until a lease's time has passed: the worker that
    wrote it sends it right after the commit (its lease does not look at the due time), and a
    sweep in between must not take it from under it (the reply would go out late, and the
    conversation's replies out of order). ``user_id``: whom it is for (None: a stranger)."""
    row_id = session.execute(
        insert(OutboxMessage.__table__)  # type: ignore[attr-defined]
        .values(platform=platform, workspace=workspace, delivery_key=delivery_key,
                target=target, reply=reply.model_dump_json(exclude_defaults=True),
                created_at=now, next_attempt_at=now + LEASE, attempts=0, user_id=user_id)
        .returning(col(OutboxMessage.id))
    ).scalar_one()
    return int(row_id)


def retry_delay(attempts: int, hint: float | None) -> float:
    """Seconds until the next attempt: the platform's hint if it gave one, else doubling from
    :data:`FIRST_RETRY_SECONDS` up to :data:`MAX_RETRY_SECONDS`."""
    if hint is not None and hint >= 0:
        return min(max(float(hint), 0.5), MAX_RETRY_SECONDS)
    return float(min(FIRST_RETRY_SECONDS * 2.0 ** max(attempts - 1, 0), MAX_RETRY_SECONDS))


_PENDING = and_(col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed_at).is_(None))


class Outbox:
    """The outbox's rows on one database, each operation its own short transaction."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock

    def unsent_for(self, platform: str, delivery_key: str) -> list[int]:
        """Pending rows answering one delivery (a redelivered turn whose reply did not go)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(col(OutboxMessage.id)).where(
                    col(OutboxMessage.platform) == platform,
                    col(OutboxMessage.delivery_key) == delivery_key, _PENDING,
                ).order_by(col(OutboxMessage.id))
            ).scalars().all()
        return [int(r) for r in rows if r is not None]

    def due(self, limit: int) -> list[int]:
        """Pending rows whose next attempt is due, oldest first (through the pending index)."""
        now = self._clock()
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(col(OutboxMessage.id)).where(
                    _PENDING, col(OutboxMessage.next_attempt_at) <= now,
                    or_(col(OutboxMessage.lease_until).is_(None),
                        col(OutboxMessage.lease_until) < now),
                ).order_by(col(OutboxMessage.next_attempt_at)).limit(limit)
            ).scalars().all()
        return [int(r) for r in rows if r is not None]

    def lease(self, row_id: int) -> OutboxItem | None:
        """Take a pending row for sending, or None if it is sent, refused, or being sent by
        someone else. One UPDATE ... RETURNING: two senders can never both get it."""
        now = self._clock()
        with self._engine.begin() as conn:
            row = conn.execute(
                update(OutboxMessage)
                .where(col(OutboxMessage.id) == row_id, _PENDING,
                       or_(col(OutboxMessage.lease_until).is_(None),
                           col(OutboxMessage.lease_until) < now))
                .values(lease_until=now + LEASE, attempts=col(OutboxMessage.attempts) + 1)
                .returning(col(OutboxMessage.platform), col(OutboxMessage.workspace),
                           col(OutboxMessage.delivery_key), col(OutboxMessage.target),
                           col(OutboxMessage.reply), col(OutboxMessage.attempts),
                           col(OutboxMessage.created_at), col(OutboxMessage.progress))
            ).first()
        if row is None:
            return None
        return OutboxItem(id=row_id, platform=row[0], workspace=row[1], delivery_key=row[2],
                          target=row[3], reply=Reply.model_validate_json(row[4]),
                          attempts=int(row[5]), created_at=row[6], progress=int(row[7]))

    def record(self, item: OutboxItem, outcome: SendOutcome) -> float | None:
        """Store how a send went; for a retry, the seconds until the next attempt (None when
        the row is done: sent, refused, or given up on)."""
        now = self._clock()
        values: dict[str, object]
        delay: float | None = None
        if isinstance(outcome, Sent):
            values = {"sent_at": now, "lease_until": None, "failure": None}
        elif isinstance(outcome, Refused):
            log.warning("%s refused outbox row %d for good: %s", item.platform, item.id,
                        outcome.reason)
            values = {"failed_at": now, "lease_until": None, "failure": outcome.reason[:200]}
            if outcome.gone and unprompted(item.delivery_key):
                self._forget(item)
        elif item.attempts >= MAX_ATTEMPTS or now - item.created_at >= STALE_AFTER:
            log.error("gave up on %s outbox row %d after %d attempts (%s)", item.platform,
                      item.id, item.attempts, outcome.reason)
            values = {"failed_at": now, "lease_until": None,
                      "failure": f"gave up: {outcome.reason}"[:200]}
        else:
            delay = retry_delay(item.attempts, outcome.after_seconds)
            values = {"next_attempt_at": now + timedelta(seconds=delay), "lease_until": None,
                      "failure": outcome.reason[:200],
                      "progress": max(outcome.progress, item.progress)}
        self._write_outcome(item.id, values)
        return delay

    def _forget(self, item: OutboxItem) -> None:
        with Session(self._engine) as session:
            forget_destination(session, item.delivery_key, item.target)
            session.commit()
        log.warning("%s chat refuses unprompted messages; its reminders and digest stop",
                    item.platform)

    def _write_outcome(self, row_id: int, values: dict[str, object]) -> None:
        """Store an outcome, riding out a database blip of a few seconds: a send that went out
        but could not be marked would be sent again once its lease ran out."""
        for attempt in range(RECORD_ATTEMPTS):
            try:
                with self._engine.begin() as conn:
                    conn.execute(update(OutboxMessage).where(col(OutboxMessage.id) == row_id)
                                 .values(**values))
                return
            except OperationalError:
                if attempt == RECORD_ATTEMPTS - 1:
                    raise
                log.warning("could not record outbox row %d's outcome yet; retrying", row_id)
                time.sleep(RECORD_PAUSE_SECONDS * (attempt + 1))

    def drop_stale(self) -> int:
        """Give up on rows too old to make sense any more (logged); how many."""
        now = self._clock()
        with self._engine.begin() as conn:
            dropped = conn.execute(
                update(OutboxMessage)
                .where(_PENDING, col(OutboxMessage.created_at) < now - STALE_AFTER)
                .values(failed_at=now, failure="stale: never sent", lease_until=None)
                .returning(col(OutboxMessage.id))
            ).scalars().all()
        if dropped:
            log.error("dropped %d stale unsent replies", len(dropped))
        return len(dropped)

    def prune(self) -> tuple[int, int]:
        """Delete finished outbox rows and delivery claims past their purpose; (rows, claims)."""
        now = self._clock()
        with self._engine.begin() as conn:
            # Through the index on created_at: a row is sent or given up on within hours of
            # being written (STALE_AFTER), so its age is what bounds the scan.
            rows = conn.execute(
                delete(OutboxMessage).where(
                    col(OutboxMessage.created_at) < now - KEEP_SENT,
                    or_(col(OutboxMessage.sent_at).is_not(None),
                        col(OutboxMessage.failed_at).is_not(None)))
            ).rowcount
            claims = conn.execute(
                delete(DeliveryClaim).where(col(DeliveryClaim.claimed_at) < now - KEEP_CLAIMS)
            ).rowcount
        return int(rows or 0), int(claims or 0)

    def state(self, row_ids: Sequence[int]) -> dict[int, str]:
        """``sent`` / ``failed`` / ``pending`` per row (operations and tests)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(col(OutboxMessage.id), col(OutboxMessage.sent_at),
                       col(OutboxMessage.failed_at)).where(col(OutboxMessage.id).in_(row_ids))
            ).all()
        return {int(r[0] or 0): "sent" if r[1] else "failed" if r[2] else "pending" for r in rows}
