"""Benchmark: does a turn get slower as the conversation grows?

Times the same turns with 10 and with 10,000 earlier messages in the conversation, side by side
in one run, on PostgreSQL and SQLite, and prints the ratio (target: near 1). Also prints the SQL
statements of a command turn. Run: ``python -m tests.bench.turn_history``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
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
from tests.pg_databases import temporary_database

SIZES = (10, 10_000)
REPEATS = 60


def _say(user: str, said: str) -> Inbound:
    return Inbound(platform="bench", chat_id=f"chat-{user}", external_user_id=user, text=said)


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


def _interleaved_medians_ms(turns: list[Callable[[], object]]) -> list[float]:
    """Median time of each turn, sampled alternately so drift on a shared machine hits all."""
    for turn in turns:
        for _ in range(5):
            turn()
    samples: list[list[float]] = [[] for _ in turns]
    for _ in range(REPEATS):
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


def bench(label: str, url: str) -> None:
    upgrade(url)
    engine = create_db_engine(url)
    service = build_service(Settings(database_url=url), engine=engine)
    results: dict[tuple[str, int], float] = {}
    for size in SIZES:
        _seed_history(engine, service, f"user{size}", size)
    for kind, said in (("free text", "what's pending?"), ("/add", "/add bench task")):
        medians = _interleaved_medians_ms(
            [partial(service.handle, _say(f"user{size}", said)) for size in SIZES])
        for size, median in zip(SIZES, medians, strict=True):
            results[(kind, size)] = median
    statements = _statements_of(engine, lambda: service.handle(_say("user10", "/add counted")))
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("ANALYZE messages"))
            plan = conn.execute(text(
                "EXPLAIN SELECT role, content FROM messages WHERE conversation_id = 2 "
                "ORDER BY created_at DESC, id DESC LIMIT 20")).scalars().all()
        print(f"{label:<10} history query plan: " + " / ".join(p.strip() for p in plan))
    for kind in ("free text", "/add"):
        small, large = results[(kind, SIZES[0])], results[(kind, SIZES[1])]
        print(f"{label:<10} {kind:<10} {small:8.2f} ms @10  {large:8.2f} ms @10,000  "
              f"ratio {large / small:5.2f}")
    print(f"{label:<10} SQL statements per /add turn (BEGIN excluded): {statements}")
    engine.dispose()


def main() -> None:
    print(f"median of {REPEATS} turns each, same run")
    with temporary_database("todobot_bench") as url:
        bench("postgresql", url)
    with tempfile.TemporaryDirectory() as folder:
        bench("sqlite", f"sqlite:///{Path(folder) / 'bench.db'}")


if __name__ == "__main__":
    main()
