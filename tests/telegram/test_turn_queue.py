"""The turn queue (bot_core.turn_queue) on its own, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from bot_core.conversations import ChatBusy
from bot_core.turn_queue import MAX_ATTEMPTS, PendingTurn, TurnQueue
from models.db import create_db_engine
from tests.conftest import count


@pytest.fixture
def queue(engine: Engine) -> TurnQueue:
    return TurnQueue(engine)


def test_enqueue_once_per_delivery(queue: TurnQueue) -> None:
    assert queue.enqueue("p", "chat", 7, "{}") is True
    assert queue.enqueue("p", "chat", 7, "{}") is False
    assert queue.waiting("p", "chat") == 1


def test_drain_runs_lowest_first_up_to_the_given_delivery(queue: TurnQueue) -> None:
    for seq in (30, 10, 20, 40):
        queue.enqueue("p", "chat", seq, f"payload {seq}")
    queue.enqueue("p", "other chat", 5, "elsewhere")
    queue.enqueue("q", "chat", 5, "other platform")
    seen: list[str] = []

    with queue.holding("p", "chat") as turns:
        assert turns is not None
        assert turns.has_earlier(20) and not turns.has_earlier(10)
        assert turns.drain(30, lambda turn: seen.append(turn.payload)) == 3

    assert seen == ["payload 10", "payload 20", "payload 30"]
    assert queue.waiting("p", "chat") == 1
    assert queue.waiting("p", "other chat") == queue.waiting("q", "chat") == 1


def test_a_failure_keeps_the_delivery_and_counts_the_attempt(queue: TurnQueue,
                                                             engine: Engine) -> None:
    queue.enqueue("p", "chat", 1, "ok")
    queue.enqueue("p", "chat", 2, "boom")
    queue.enqueue("p", "chat", 3, "later")
    done: list[str] = []

    def process(turn: PendingTurn) -> None:
        if turn.payload == "boom":
            raise RuntimeError("database went away")
        done.append(turn.payload)

    with queue.holding("p", "chat") as turns, pytest.raises(RuntimeError):
        assert turns is not None
        turns.drain(3, process)

    assert done == ["ok"]
    assert count(engine, "turn_queue", "seq = 2 AND attempts = 1") == 1
    assert queue.waiting("p", "chat") == 2  # the failed one and the one behind it


def test_a_delivery_that_keeps_failing_is_dropped(queue: TurnQueue) -> None:
    queue.enqueue("p", "chat", 1, "poison")
    queue.enqueue("p", "chat", 2, "fine")
    done: list[str] = []

    def process(turn: PendingTurn) -> None:
        if turn.payload == "poison":
            raise RuntimeError("always")
        done.append(turn.payload)

    for _ in range(MAX_ATTEMPTS):
        with queue.holding("p", "chat") as turns, pytest.raises(RuntimeError):
            assert turns is not None
            turns.drain(2, process)
    with queue.holding("p", "chat") as turns:
        assert turns is not None
        turns.drain(2, process)

    assert done == ["fine"]
    assert queue.waiting("p", "chat") == 0


def test_a_held_chat_is_not_available_without_waiting(queue: TurnQueue) -> None:
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with queue.holding("p", "chat"):
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(30)
    try:
        with queue.holding("p", "chat", wait=False) as turns:
            assert turns is None
        with queue.holding("p", "another chat", wait=False) as turns:
            assert turns is not None
    finally:
        release.set()
        thread.join(30)
    with queue.holding("p", "chat", wait=False) as turns:
        assert turns is not None


def test_waiting_for_a_chat_outlasts_the_statement_timeout(pg_url: str) -> None:
    """Waiting behind an LLM turn may take longer than the engine's statement timeout; the
    wait is bounded by the queue's own lock_wait_seconds instead."""
    engine = create_db_engine(pg_url, statement_timeout_ms=100)
    key = "p\x1fchat"
    try:
        queue = TurnQueue(engine)
        with engine.connect() as other:
            other.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), {"k": key})
            got: list[bool] = []
            waiter = threading.Thread(target=lambda: _hold_once(queue, got))
            waiter.start()
            time.sleep(0.4)  # well past the 100 ms statement timeout
            other.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"),
                          {"k": key})
            waiter.join(30)
        assert got == [True]

        impatient = TurnQueue(engine, lock_wait_seconds=0.05)
        with engine.connect() as other:
            other.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), {"k": key})
            with pytest.raises(Exception, match="lock timeout"), impatient.holding("p", "chat"):
                pass
            other.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"),
                          {"k": key})
    finally:
        engine.dispose()


def _hold_once(queue: TurnQueue, got: list[bool]) -> None:
    with queue.holding("p", "chat") as turns:
        got.append(turns is not None)


def test_a_delivery_left_waiting_too_long_is_dropped_not_run(queue: TurnQueue,
                                                               engine: Engine) -> None:
    # Its deferred invocation failed for good; the next message of the chat must not replay it.
    queue.enqueue("p", "chat", 1, "from yesterday")
    queue.enqueue("p", "chat", 2, "today")
    with engine.begin() as conn:
        conn.execute(text("UPDATE turn_queue SET received_at = :old WHERE seq = 1"),
                      {"old": (datetime.now(UTC) - timedelta(hours=5)).replace(
                          tzinfo=None if engine.dialect.name == "sqlite" else UTC)})
    done: list[str] = []
    with queue.holding("p", "chat") as turns:
        assert turns is not None
        turns.drain(2, lambda turn: done.append(turn.payload))
    assert done == ["today"]
    assert queue.waiting("p", "chat") == 0


def test_waiting_for_a_busy_chat_in_this_process_is_bounded(engine: Engine) -> None:
    queue = TurnQueue(engine, lock_wait_seconds=0.2)
    inside = threading.Event()
    leave = threading.Event()

    def hold() -> None:
        with queue.holding("p", "busy chat") as turns:
            assert turns is not None
            inside.set()
            leave.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert inside.wait(10)
        with pytest.raises(ChatBusy), queue.holding("p", "busy chat"):
            pass
    finally:
        leave.set()
        holder.join(10)
