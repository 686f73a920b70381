"""What the model costs: each call's usage as the API reports it, kept per user and local day
(the daily budget, ``/usage``, ``todobot usage``) and per UTC month for everyone (the optional
global cap). Commands and buttons never reach the model, so they never count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Literal

from sqlalchemy import func, select
from sqlmodel import Session, col

from models.db import add_to_counters, insert_ignoring_conflicts
from models.tables import LlmMonth, LlmNotice, LlmUsage

NoticeKind = Literal["daily", "monthly"]

DAILY_SPENT_TEXT = ("(Today's AI allowance is used up, so until tomorrow I answer with my "
                    "simple rules: commands and buttons work as always.)")
MONTHLY_SPENT_TEXT = ("(This month's AI allowance is used up, so I answer with my simple rules "
                      "for now: commands and buttons work as always.)")


@dataclass(frozen=True)
class ModelCall:
    """One model call's usage, as the API reported it."""

    model: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class Meter:
    """The model calls of one turn (the LLM brain adds to it; the service stores it)."""

    calls: list[ModelCall] = field(default_factory=list)

    def add(self, model: str, prompt_tokens: int, completion_tokens: int) -> None:
        self.calls.append(ModelCall(model, max(0, prompt_tokens), max(0, completion_tokens)))

    def to_json(self) -> str | None:
        if not self.calls:
            return None
        return json.dumps([{"model": c.model, "prompt_tokens": c.prompt_tokens,
                            "completion_tokens": c.completion_tokens} for c in self.calls])


@dataclass(frozen=True)
class Allowance:
    """Whether the model may be asked for this turn, and if not, which cap stopped it."""

    spent_today: int
    over: NoticeKind | None


def month_of(now: datetime) -> str:
    """The UTC month of an instant (a clock in another zone names the same month)."""
    return f"{now.astimezone(UTC):%Y-%m}"


def allowance(session: Session, user_id: str, day: date, now: datetime, *, daily: int,
              monthly: int) -> Allowance:
    """Read the user's tokens today and (when capped) everyone's this month: two indexed
    reads, only for free-text turns."""
    spent = int(session.execute(
        select(func.coalesce(func.sum(col(LlmUsage.prompt_tokens)
                                      + col(LlmUsage.completion_tokens)), 0))
        .where(col(LlmUsage.user_id) == user_id, col(LlmUsage.day) == day)
    ).scalar_one())
    if daily > 0 and spent >= daily:
        return Allowance(spent, "daily")
    if monthly > 0:
        everyone = session.execute(
            select(col(LlmMonth.tokens)).where(col(LlmMonth.month) == month_of(now))
        ).scalar_one_or_none()
        if everyone is not None and everyone >= monthly:
            return Allowance(spent, "monthly")
    return Allowance(spent, None)


def record_usage(session: Session, user_id: str, day: date, now: datetime,
                 meter: Meter) -> None:
    """Add the turn's calls to the user's day (per model) and to the month's total."""
    by_model: dict[str, list[int]] = {}
    for call in meter.calls:
        totals = by_model.setdefault(call.model, [0, 0, 0])
        totals[0] += 1
        totals[1] += call.prompt_tokens
        totals[2] += call.completion_tokens
    for model, (calls, prompt, completion) in sorted(by_model.items()):
        add_to_counters(session, LlmUsage, {"user_id": user_id, "day": day, "model": model},
                        {"calls": calls, "prompt_tokens": prompt,
                         "completion_tokens": completion})
    if meter.calls:
        add_to_counters(session, LlmMonth, {"month": month_of(now)},
                        {"tokens": sum(c.tokens for c in meter.calls)})


def first_notice(session: Session, user_id: str, day: date, kind: NoticeKind) -> bool:
    """True the first time today this user is told the allowance ``kind`` is spent."""
    return insert_ignoring_conflicts(session, LlmNotice,
                                     {"user_id": user_id, "day": day, "kind": kind},
                                     ["user_id", "day", "kind"])


def notice_text(kind: NoticeKind) -> str:
    return DAILY_SPENT_TEXT if kind == "daily" else MONTHLY_SPENT_TEXT
