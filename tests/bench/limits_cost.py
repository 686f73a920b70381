"""Benchmark: what the rate limit's check costs a warm Telegram ``/add``.

The same turn as :mod:`tests.bench.telegram_turn` (``handlers.telegram.handler`` on a warm
process, a throwaway PostgreSQL database, the loopback fake Bot API, the local path: the turn's
transaction, then the outbox row leased, sent and marked sent), alternately with the per-minute
limit off (``MESSAGES_PER_MINUTE_PER_USER=0``: no statement) and on (10,000, so it never trips:
the one ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` into ``rate_counts`` per turn), in the
same process, one turn of each in turn. Reports the SQL statements of one turn (BEGIN excluded)
and the median wall time of each, and their ratio. The input cap costs nothing measurable (a
slice and a length). Run: ``python -m tests.bench.limits_cost`` (``--quick``: 20 turns).
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from sqlalchemy import event, text

from models.migrate import upgrade
from tests.bench.aws import environment
from tests.bench.events import TELEGRAM_SECRET, LambdaContext, telegram_event, telegram_update
from tests.bench.table import Row, median, ms, percentile, render
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.pg_databases import temporary_database

NUMBER = 11  # the benchmark table's row number (after phrase_score's 10)
TURNS = 300
WARMUP = 30
ON = 10_000
"""The limit when on: high enough never to trip, so every turn is a whole ``/add``."""
USER_ID = 940_000_011


@dataclass
class Mode:
    """One setting of the limit: its samples (ms) and the statements of one turn."""

    limit: int
    samples: list[float] = field(default_factory=list)
    statements: list[str] = field(default_factory=list)

    @property
    def median(self) -> float:
        return median(self.samples)


@dataclass(frozen=True)
class CostRun:
    off: Mode
    on: Mode
    counted: int  # the rate_counts total at the end: one per turn with the limit on

    @property
    def ratio(self) -> float:
        return self.on.median / self.off.median


def _ms(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def run(turns: int = TURNS, warmup: int = WARMUP) -> CostRun:
    from handlers import composition

    with temporary_database("todobot_bench_limits") as url, FakeTelegram() as api, \
            environment({"DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
                         "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                         "TELEGRAM_API_BASE_URL": api.url,
                         "AWS_LAMBDA_FUNCTION_NAME": "todobot-bench-telegram",
                         "MESSAGES_PER_MINUTE_PER_USER": "0"}):
        upgrade(url)
        from handlers.telegram import handler

        root = composition.root()
        service = root.service
        context = LambdaContext("todobot-bench-telegram")
        update_ids = itertools.count(91_000_000)
        numbers = itertools.count(1)
        off, on = Mode(0), Mode(ON)

        def turn(mode: Mode) -> None:
            # The service's limits are fixed when it is built (from the settings); switching
            # them on the one warm service keeps everything else (pool, clients) the same.
            service._limits = replace(service._limits, messages_per_minute=mode.limit)
            update = telegram_update(f"/add Task {next(numbers)}", user_id=USER_ID,
                                     update_id=next(update_ids))
            response = handler(telegram_event(update), context)
            assert response["statusCode"] == 200, response

        for _ in range(warmup):
            for mode in (off, on):
                turn(mode)
        for mode in (off, on):
            mode.statements = _statements(root.engine, partial(turn, mode))
        for _ in range(turns):
            for mode in (off, on):  # interleaved: drift on a shared machine hits both
                mode.samples.append(_ms(partial(turn, mode)))
        total = 2 * (warmup + turns + 1)
        texts = api.sent_texts()
        assert len(texts) == total and all(t.startswith("Added #") for t in texts), \
            "every turn was a whole /add (the limit never tripped)"
        with root.engine.connect() as conn:
            counted = int(conn.execute(text(
                "SELECT coalesce(sum(count), 0) FROM rate_counts")).scalar_one())
        assert counted == warmup + turns + 1, counted
        return CostRun(off, on, counted)


def _statements(engine: Any, turn: Callable[[], None]) -> list[str]:
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if not statement.lstrip().upper().startswith("BEGIN"):
            seen.append(" ".join(statement.split())[:70])

    event.listen(engine, "before_cursor_execute", record)
    try:
        turn()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def measure(quick: bool = False) -> list[Row]:
    result = run(turns=20, warmup=5) if quick else run()
    off, on = result.off, result.on
    return [Row(
        NUMBER, "the rate limit's check on a warm `/add` through `handlers.telegram.handler` "
        "(PostgreSQL, fake Bot API): limit off (0) vs on (10,000, never tripped)",
        f"{len(off.statements)} → {len(on.statements)} SQL statements per turn (the one "
        f"`rate_counts` upsert); {ms(off.median)} off vs {ms(on.median)} on (median of "
        f"{len(on.samples)}, interleaved; p90 {ms(percentile(off.samples, 0.9))} vs "
        f"{ms(percentile(on.samples, 0.9))})",
        f"{result.ratio:.2f}", "reported", None)]


def main() -> None:
    quick = "--quick" in sys.argv
    if "--table" in sys.argv:
        print(render(measure(quick)))
        return
    result = run(turns=20, warmup=5) if quick else run()
    for label, mode in (("off", result.off), ("on", result.on)):
        print(f"limit {label:<3} ({mode.limit:>6}): {len(mode.statements):2} statements, median "
              f"{mode.median:.2f} ms, p90 {percentile(mode.samples, 0.9):.2f} ms "
              f"(of {len(mode.samples)})")
    print(f"ratio on / off: {result.ratio:.3f}; rate_counts total {result.counted}")
    extra = [s for s in result.on.statements if s not in result.off.statements]
    print("statements only with the limit on:")
    print("\n".join("    " + s for s in extra))


if __name__ == "__main__":
    main()
