"""How long what people said is kept: messages older than ``MESSAGE_RETENTION_DAYS`` (default
90) are deleted by the scheduler's sweep. Tasks are never pruned, nor users, conversations or
the token counts (``llm_usage``): only the ``messages`` rows, the text of the conversation.

Each batch is one ``DELETE ... WHERE id IN (SELECT id ... ORDER BY created_at LIMIT n)``: the
ids read through the index on ``messages.created_at`` (the oldest rows first, at most ``batch``
of them), the rows then found by primary key, each batch its own transaction when given an
engine. On PostgreSQL the ids go in as ``id = ANY(ARRAY(SELECT ...))``: with a plain ``IN``
the planner hashes the 5,000 ids and scans the whole table for them (seen at 200,000
messages), with the array it looks each up in the primary key. So a sweep's cost follows the
batch, not the table, and a backlog (the first sweep after retention is lowered, or after an
outage) drains a few batches a minute without holding long locks. Two sweeps at once are
harmless: the second finds the rows gone.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, any_, delete, func, select
from sqlmodel import Session, col

from models.tables import Message

BATCH = 5000
"""Messages one batch deletes at most."""


def cutoff(now: datetime, days: int) -> datetime:
    """The instant before which messages are pruned."""
    return now - timedelta(days=days)


def prune_messages(bind: Engine | Session, now: datetime, days: int, batch: int = BATCH, *,
                   batches: int = 1) -> int:
    """Delete messages older than ``days`` before ``now``, the oldest first, in at most
    ``batches`` batches of at most ``batch`` rows (stopping at the first batch that is not
    full); how many were deleted. Given a session, it runs in the caller's transaction (which
    the caller commits); given an engine, each batch commits on its own."""
    if days <= 0 or batch <= 0:
        return 0
    before = cutoff(now, days)
    oldest = (select(col(Message.id)).where(col(Message.created_at) < before)
              .order_by(col(Message.created_at)).limit(batch))
    dialect = (bind.get_bind() if isinstance(bind, Session) else bind).dialect.name
    statement = delete(Message).where(
        col(Message.id) == any_(func.array(oldest.scalar_subquery())) if dialect == "postgresql"
        else col(Message.id).in_(oldest))
    deleted = 0
    for _ in range(batches):
        if isinstance(bind, Session):
            result = cast(CursorResult[Any], bind.execute(statement))
        else:
            with bind.begin() as conn:
                result = conn.execute(statement)
        count = int(result.rowcount or 0)
        deleted += count
        if count < batch:
            break
    return deleted
