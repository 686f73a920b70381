"""Reading the model usage back: a person's own day and month (``/usage``) and the operator's
per-user totals with an estimated cost (``todobot usage``).

Usage rows are kept per user, *local* day and model (:mod:`bot_core.usage`), so a person's
"today" and "this month" are their own calendar's, and ``--since`` is compared with those days.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlmodel import Session, col

from models.tables import ChatIdentity, LlmUsage, User

Prices = Mapping[str, tuple[float, float]]
"""USD per million (prompt, completion) tokens, per model (``Settings.llm_prices``)."""

SHORT_ID = 8


@dataclass(frozen=True)
class UsageSummary:
    """One person's model usage on one local day and in that day's month."""

    day_tokens: int
    day_calls: int
    month_tokens: int
    month_calls: int


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month_start(day: date) -> date:
    return (date(day.year + 1, 1, 1) if day.month == 12
            else date(day.year, day.month + 1, 1))


def usage_summary(session: Session, user_id: str, day: date) -> UsageSummary:
    """The user's tokens and calls on ``day`` and in its calendar month (one indexed read)."""
    tokens = col(LlmUsage.prompt_tokens) + col(LlmUsage.completion_tokens)
    rows = session.execute(
        select(col(LlmUsage.day), func.sum(tokens), func.sum(col(LlmUsage.calls)))
        .where(col(LlmUsage.user_id) == user_id, col(LlmUsage.day) >= month_start(day),
               col(LlmUsage.day) < next_month_start(day))
        .group_by(col(LlmUsage.day))
    ).all()
    day_tokens = day_calls = month_tokens = month_calls = 0
    for row_day, row_tokens, row_calls in rows:
        month_tokens += int(row_tokens or 0)
        month_calls += int(row_calls or 0)
        if row_day == day:
            day_tokens, day_calls = int(row_tokens or 0), int(row_calls or 0)
    return UsageSummary(day_tokens, day_calls, month_tokens, month_calls)


def _plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}" + ("" if count == 1 else "s")


def usage_text(summary: UsageSummary, daily_limit: int | None) -> str:
    """What ``/usage`` says. ``daily_limit``: the per-person daily tokens (0: no limit; None:
    not known here, so not mentioned)."""
    if daily_limit:
        of = f" (of {daily_limit:,})"
    elif daily_limit == 0:
        of = " (no daily limit)"
    else:
        of = ""
    lines = [
        f"Today: {_plural(summary.day_tokens, 'token')} in "
        f"{_plural(summary.day_calls, 'model call')}{of}.",
        f"This month: {_plural(summary.month_tokens, 'token')}.",
    ]
    if daily_limit and summary.day_tokens >= daily_limit:
        lines.append("Today's AI allowance is used up: until tomorrow I answer with my simple "
                     "rules (commands and buttons work as always).")
    lines.append("Only messages the AI reads count; commands and buttons never do.")
    return "\n".join(lines)


# -- the operator's report -------------------------------------------------------------------


@dataclass(frozen=True)
class ModelTotals:
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class UserTotals:
    """One user's model usage over the report's days."""

    user_id: str
    display_name: str | None
    chats: tuple[str, ...]
    models: tuple[ModelTotals, ...]

    @property
    def calls(self) -> int:
        return sum(m.calls for m in self.models)

    @property
    def prompt_tokens(self) -> int:
        return sum(m.prompt_tokens for m in self.models)

    @property
    def completion_tokens(self) -> int:
        return sum(m.completion_tokens for m in self.models)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def user_totals(session: Session, since: date | None = None) -> list[UserTotals]:
    """Every user with model usage (on or after the local day ``since``), most tokens first
    (ties by user id)."""
    query = (select(col(LlmUsage.user_id), col(LlmUsage.model), func.sum(col(LlmUsage.calls)),
                    func.sum(col(LlmUsage.prompt_tokens)),
                    func.sum(col(LlmUsage.completion_tokens)))
             .group_by(col(LlmUsage.user_id), col(LlmUsage.model)))
    if since is not None:
        query = query.where(col(LlmUsage.day) >= since)
    per_user: dict[str, list[ModelTotals]] = {}
    for user_id, model, calls, prompt, completion in session.execute(query).all():
        per_user.setdefault(user_id, []).append(
            ModelTotals(model, int(calls or 0), int(prompt or 0), int(completion or 0)))
    if not per_user:
        return []
    ids = sorted(per_user)
    names: dict[str, str | None] = {
        user_id: name for user_id, name in session.execute(
            select(col(User.id), col(User.display_name)).where(col(User.id).in_(ids))).all()}
    chats: dict[str, list[str]] = {}
    for user_id, platform, external in session.execute(
            select(col(ChatIdentity.user_id), col(ChatIdentity.platform),
                   col(ChatIdentity.external_user_id))
            .where(col(ChatIdentity.user_id).in_(ids))).all():
        chats.setdefault(user_id, []).append(f"{platform}:{external}")
    totals = [
        UserTotals(user_id, names.get(user_id), tuple(sorted(chats.get(user_id, []))),
                   tuple(sorted(per_user[user_id], key=lambda m: m.model)))
        for user_id in ids
    ]
    return sorted(totals, key=lambda t: (-t.tokens, t.user_id))


def price_of(model: str, prices: Prices) -> tuple[float, float] | None:
    """The model's price: by its name, or by the longest priced name it is a dated version of
    (the API reports ``gpt-4o-mini-2024-07-18`` for ``gpt-4o-mini``); None if unknown."""
    if model in prices:
        return prices[model]
    versions = [name for name in prices if model.startswith(f"{name}-")]
    return prices[max(versions, key=len)] if versions else None


@dataclass(frozen=True)
class Estimate:
    """The estimated cost of the priced models, and whether some model used had no price."""

    usd: float
    priced: bool
    unpriced: bool

    def __str__(self) -> str:
        if not self.unpriced:
            return f"{self.usd:.4f}"
        return f"{self.usd:.4f}+?" if self.priced else "?"


def estimate_usd(models: Iterable[ModelTotals], prices: Prices) -> Estimate:
    """The estimated cost in USD (a model without a price adds "?")."""
    total, priced, unpriced = 0.0, False, False
    for used in models:
        price = price_of(used.model, prices)
        if price is None:
            unpriced = True
            continue
        priced = True
        total += (used.prompt_tokens * price[0] + used.completion_tokens * price[1]) / 1_000_000
    return Estimate(total, priced, unpriced)


_HEADERS = ("user", "chats", "name", "calls", "prompt", "completion", "total", "est. USD")
_RIGHT = (False, False, False, True, True, True, True, True)


def format_report(totals: list[UserTotals], prices: Prices, since: date | None) -> str:
    """The operator's table: one row per user, most tokens first, and a total line."""
    span = f"since {since.isoformat()}" if since else "all days"
    if not totals:
        return f"No model usage ({span})."
    rows: list[tuple[str, ...]] = []
    everything: list[ModelTotals] = []
    for user in totals:
        everything.extend(user.models)
        rows.append((user.user_id[:SHORT_ID], ", ".join(user.chats) or "-",
                     user.display_name or "-", f"{user.calls:,}", f"{user.prompt_tokens:,}",
                     f"{user.completion_tokens:,}", f"{user.tokens:,}",
                     str(estimate_usd(user.models, prices))))
    prompt = sum(m.prompt_tokens for m in everything)
    completion = sum(m.completion_tokens for m in everything)
    people = f"{len(totals)} user" + ("" if len(totals) == 1 else "s")
    rows.append(("total", people, "", f"{sum(m.calls for m in everything):,}", f"{prompt:,}",
                 f"{completion:,}", f"{prompt + completion:,}",
                 str(estimate_usd(everything, prices))))
    widths = [max(len(row[i]) for row in [_HEADERS, *rows]) for i in range(len(_HEADERS))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(cell.rjust(width) if right else cell.ljust(width)
                         for cell, width, right in zip(cells, widths, _RIGHT, strict=True)
                         ).rstrip()

    out = [f"Model usage, {span} (local days; USD estimated from LLM_PRICES):",
           line(_HEADERS), line(tuple("-" * w for w in widths)),
           *(line(row) for row in rows[:-1]), line(tuple("-" * w for w in widths)),
           line(rows[-1])]
    unknown = sorted({m.model for m in everything if price_of(m.model, prices) is None})
    if unknown:
        out.append(f"No price for: {', '.join(unknown)} (add it to LLM_PRICES, USD per million "
                   "prompt and completion tokens).")
    return "\n".join(out)
