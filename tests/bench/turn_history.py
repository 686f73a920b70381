"""Benchmark: does a turn get slower as the conversation grows?

Times the same turns with 10 and with 10,000 earlier messages in the conversation, side by side
in one run, on PostgreSQL and SQLite, and prints the ratio (target, issue #6: <= 1.2). Also
counts the SQL statements of a command turn at both sizes (target: the same). Every timed turn
adds two messages, so by the end the conversations hold a few hundred more than their label.
Run: ``python -m tests.bench.turn_history``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Engine, event, text

from bot_core.bootstrap import build_service
from bot_core.inbound import Inbound
from bot_core.service import TodoService
from bot_core.settings import Settings
from models.db import create_db_engine
from models.migrate import upgrade
from tests.bench.table import Row, ratio_row, render
from tests.pg_databases import temporary_database

SIZES = (10, 10_000)
REPEATS = 60
KINDS = (("free text", "what's pending?"), ("/add", "/add bench task"))
LIMIT = 1.2


@dataclass(frozen=True)
class HistoryRun:
    """One database's medians (ms) by (kind, size), statements per /add turn by size, and the
    history query's plan (PostgreSQL)."""

    label: str
    medians: dict[tuple[str, int], float]
    statements: dict[int, int]
    plan: str


def _say(user: str, said: str, delivery_key: str | None = None) -> Inbound:
    return Inbound(platform="bench", chat_id=f"chat-{user}", external_user_id=user, text=said,
                   delivery_key=delivery_key)


def _seed_history(engine: Engine, service: TodoService, user: str, messages: int) -> None:
    """Create the user's conversation, then bulk-insert ``messages`` earlier messages."""
    service.handle(_say(user, "/add seed"))
    with engine.begin() as conn:
        user_id, conversation_id = conn.execute(text(
            "SELECT c.user_id, c.id FROM conversations c JOIN chat_identities i "
            "ON i.user_id = c.user_id WHERE i.external_user_id = :u"), {"u": user}).one()
        start = datetime.now(UTC) - timedelta(days=30)
        rows = [
            {"c": conversation_id, "u": user_id, "r": "user" if i % 2 == 0 else "assistant",
             "t": f"earlier message number {i} " + "x" * 80,
             "at": (start + timedelta(seconds=i)).replace(tzinfo=None)
             if engine.dialect.name == "sqlite" else start + timedelta(seconds=i)}
            for i in range(messages - 2)
        ]
        conn.execute(text("INSERT INTO messages (conversation_id, user_id, role, content, "
                          "created_at) VALUES (:c, :u, :r, :t, :at)"), rows)


def _interleaved_medians_ms(turns: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median time of each turn, sampled alternately so drift on a shared machine hits all."""
    for turn in turns:
        for _ in range(5):
            turn()
    samples: list[list[float]] = [[] for _ in turns]
    for _ in range(repeats):
        for index, turn in enumerate(turns):
            started = time.perf_counter()
            turn()
            samples[index].append((time.perf_counter() - started) * 1000)
    return [statistics.median(s) for s in samples]


def _statements_of(engine: Engine, turn: Callable[[], object]) -> int:
    seen: list[str] = []

    def record(*args: object) -> None:
        seen.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        turn()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return len([s for s in seen if not s.startswith("BEGIN")])


def run(label: str, url: str, sizes: tuple[int, ...] = SIZES, repeats: int = REPEATS
        ) -> HistoryRun:
    upgrade(url)
    engine = create_db_engine(url)
    service = build_service(Settings(database_url=url), engine=engine)
    medians: dict[tuple[str, int], float] = {}
    try:
        for size in sizes:
            _seed_history(engine, service, f"user{size}", size)
        for kind, said in KINDS:
            timed = _interleaved_medians_ms(
                [partial(service.handle, _say(f"user{size}", said)) for size in sizes], repeats)
            for size, median in zip(sizes, timed, strict=True):
                medians[(kind, size)] = median
        # Counted as platforms send them: with a delivery key (the claim) and a reply target
        # (the outbox row).
        statements = {size: _statements_of(
            engine, partial(service.handle, _say(f"user{size}", "/add counted",
                                                 delivery_key=f"counted-{size}"),
                            target=json.dumps({"chat": f"chat-user{size}"})))
            for size in sizes}
        plan = ""
        if engine.dialect.name == "postgresql":
            with engine.connect() as conn:
                conn.execute(text("ANALYZE messages"))
                lines = conn.execute(text(
                    "EXPLAIN SELECT role, content FROM messages WHERE conversation_id = 2 "
                    "ORDER BY created_at DESC, id DESC LIMIT 20")).scalars().all()
            plan = " / ".join(line.strip() for line in lines)
        return HistoryRun(label, medians, statements, plan)
    finally:
        engine.dispose()


def run_both(sizes: tuple[int, ...] = SIZES, repeats: int = REPEATS) -> list[HistoryRun]:
    with temporary_database("todobot_bench") as url:
        postgresql = run("PostgreSQL", url, sizes, repeats)
    with tempfile.TemporaryDirectory() as folder:
        sqlite = run("SQLite", f"sqlite:///{Path(folder) / 'bench.db'}", sizes, repeats)
    return [postgresql, sqlite]


def measure(quick: bool = False) -> list[Row]:
    sizes = (10, 500) if quick else SIZES
    repeats = 5 if quick else REPEATS
    results = run_both(sizes, repeats)
    small, large = sizes
    rows = []
    for result in results:
        ratios = {kind: result.medians[(kind, large)] / result.medians[(kind, small)]
                  for kind, _ in KINDS}
        figures = "; ".join(
            f"{kind} {result.medians[(kind, small)]:.2f} ms @{small:,} vs "
            f"{result.medians[(kind, large)]:.2f} ms @{large:,}" for kind, _ in KINDS)
        rows.append(ratio_row(
            3, f"turn at {large:,} vs {small:,} earlier messages, {result.label} "
            "(worse of free text and `/add`)",
            f"{figures} (median of {repeats}, interleaved)",
            max(ratios.values()), LIMIT))
    counts = {result.label: result.statements for result in results}
    constant = all(len(set(by_size.values())) == 1 for by_size in counts.values())
    rows.append(Row(
        3, "SQL statements per `/add` turn with a delivery claim and its outbox row (BEGIN "
        "excluded), at both conversation lengths",
        "; ".join(f"{label} {by_size[small]} @{small:,}, {by_size[large]} @{large:,}"
                  for label, by_size in counts.items()),
        " / ".join(str(by_size[large]) for by_size in counts.values()), "constant",
        constant))
    return rows


def main() -> None:
    if "--table" in sys.argv:
        print(render(measure("--quick" in sys.argv)))
        return
    print(f"median of {REPEATS} turns each, same run")
    for result in run_both():
        if result.plan:
            print(f"{result.label:<10} history query plan: {result.plan}")
        for kind, _ in KINDS:
            small, large = result.medians[(kind, SIZES[0])], result.medians[(kind, SIZES[1])]
            print(f"{result.label:<10} {kind:<10} {small:8.2f} ms @10  {large:8.2f} ms "
                  f"@10,000  ratio {large / small:5.2f}")
        print(f"{result.label:<10} SQL statements per /add turn with claim and outbox row "
              "(BEGIN excluded): "
              + ", ".join(f"{n} @{size:,}" for size, n in result.statements.items()))


if __name__ == "__main__":
    main()
