"""One transaction per turn: claims, races, rollbacks, and the SQL a command turn costs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event, text

from bot_core.bootstrap import build_service
from bot_core.brains.base import BrainRequest
from bot_core.reply import Reply
from bot_core.settings import Settings
from bot_core.tasks import Tools
from tests.conftest import ServiceFactory, count, inbound, pg_engine


def test_a_delivery_is_processed_once(make_service: ServiceFactory, engine: Engine) -> None:
    s = make_service()
    results = [s.handle(inbound("/add once", delivery="update-1")) for _ in range(5)]
    assert [r.duplicate for r in results] == [False, True, True, True, True]
    assert count(engine, "tasks") == 1
    assert count(engine, "messages") == 2
    # The same key on another platform is another delivery.
    assert not s.handle(inbound("/add other", delivery="update-1", platform="other")).duplicate


class ExplodingBrain:
    """Adds a task, then fails the way a database or bug would (not a BrainUnavailable)."""

    def answer(self, request: BrainRequest, tools: Tools) -> Reply:
        tools.call("add_task", {"title": "half"})
        raise RuntimeError("boom")


def test_an_error_mid_turn_leaves_nothing_and_frees_the_claim(
    make_service: ServiceFactory, engine: Engine
) -> None:
    s = make_service(brain=ExplodingBrain())
    with pytest.raises(RuntimeError):
        s.handle(inbound("add half", delivery="u-9"))
    # Nothing of the turn: the user and their conversation exist (first contact is committed
    # before the model is asked, so no transaction waits on it), the rest is gone.
    for table in ("tasks", "messages", "delivery_claims", "outbox"):
        assert count(engine, table) == 0, table
    assert count(engine, "users") == 1 and count(engine, "conversations") == 1
    # The platform's redelivery is processed normally once the fault is gone.
    fixed = make_service()
    assert fixed.handle(inbound("/add half", delivery="u-9")).duplicate is False
    assert count(engine, "tasks") == 1


def test_racing_first_messages_create_one_user(pg_url: str) -> None:
    service = build_service(Settings(database_url=pg_url), engine=pg_engine(pg_url))
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def first_message(i: int) -> None:
        barrier.wait()
        try:
            service.handle(inbound(f"/add from thread {i}", user="newcomer", chat="dm"))
        except BaseException as error:  # noqa: BLE001 - surfaced below
            errors.append(error)

    threads = [threading.Thread(target=first_message, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine = pg_engine(pg_url)
    assert errors == []
    assert count(engine, "users") == 1
    assert count(engine, "chat_identities") == 1
    assert count(engine, "conversations") == 1
    with engine.connect() as conn:
        numbers = sorted(conn.execute(text("SELECT number FROM tasks")).scalars())
    assert numbers == list(range(1, 9))  # per-user numbers stay unique under concurrency


@contextmanager
def counting_statements(engine: Engine) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def test_a_command_turn_costs_a_constant_number_of_statements(
    make_service: ServiceFactory, engine: Engine
) -> None:
    s = make_service()
    s.handle(inbound("/add warm-up", delivery="d-0"))
    costs = []
    for i in range(1, 4):
        for j in range(20 * i):  # more history and more tasks each round
            s.handle(inbound(f"/add filler {i}-{j}"))
        with counting_statements(engine) as seen:
            s.handle(inbound("/add measured", delivery=f"d-{i}"))
        costs.append(len([q for q in seen if not q.startswith(("BEGIN", "SAVEPOINT"))]))
    assert costs[0] == costs[1] == costs[2]
    assert costs[0] <= 8, costs  # claim, identity, lock, conversation, counter, task, 2 messages
    first_lines = (q.split("\n")[0][:70] for q in seen)
    print(f"SQL statements per /add turn: {costs[0]}", *first_lines, sep="\n  ")


def test_database_errors_do_not_carry_users_text(engine: Engine) -> None:
    from sqlalchemy.exc import IntegrityError

    insert = text("INSERT INTO users (id, display_name, last_task_number, created_at) "
                  "VALUES ('same-id', :name, 0, CURRENT_TIMESTAMP)")
    with engine.begin() as conn:
        conn.execute(insert, {"name": "first"})
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert, {"name": "very private words"})
    assert "same-id" in str(caught.value) or "UNIQUE" in str(caught.value)
    assert "very private words" not in str(caught.value)
