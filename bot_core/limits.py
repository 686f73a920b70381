"""How fast one person may send: a count per user per minute, in the database (every Lambda
container sees the same count). Past the limit the bot says "slow down" once and ignores the
rest of that minute; button presses count too.

A fixed one-minute window: one upsert per turn, no clock skew between containers to care about;
a burst straddling a minute boundary may reach twice the limit, which is fine for its purpose
(a script flooding the bot, not an exact quota).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import delete
from sqlmodel import Session, col

from models.db import add_to_counters
from models.tables import RateCount

Verdict = Literal["ok", "slow_down", "ignore"]

SLOW_DOWN_TEXT = ("You're sending messages faster than I can keep up — please wait a minute. "
                  "I'll skip what you send until then.")
KEEP_WINDOWS = timedelta(minutes=10)


def count_message(session: Session, user_id: str, now: datetime, limit: int) -> Verdict:
    """Count one message of ``user_id`` in the current minute; what to do with it."""
    if limit <= 0:
        return "ok"
    window = now.replace(second=0, microsecond=0)
    (count,) = add_to_counters(session, RateCount, {"user_id": user_id, "window_start": window},
                               {"count": 1})
    if count <= limit:
        return "ok"
    return "slow_down" if count == limit + 1 else "ignore"


def prune_windows(session: Session, now: datetime) -> int:
    """Drop counts of minutes long gone (through the index on window_start)."""
    result = session.execute(
        delete(RateCount).where(col(RateCount.window_start) < now - KEEP_WINDOWS))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
