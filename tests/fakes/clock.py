"""The clock tests give the composition root: it stands still at an instant the test chooses
and moves only when the test says (a reminder at a given local time, the scheduler's "later"
without waiting, the daylight-saving days)."""

from __future__ import annotations

from datetime import datetime, timedelta


class SetClock:
    """A callable returning :attr:`now`, an aware instant."""

    def __init__(self, now: datetime) -> None:
        assert now.tzinfo is not None, "the clock keeps aware instants"
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def set(self, now: datetime) -> None:
        assert now.tzinfo is not None
        self.now = now

    def advance(self, seconds: float = 0.0, **delta: float) -> None:
        self.now += timedelta(seconds=seconds, **delta)
