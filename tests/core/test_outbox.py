"""The outbox on both databases: one sender per row at a time, outcomes recorded, retries
scheduled from the platform's hint or a backoff, stale rows given up on, old rows pruned."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

from bot_core.outbox import (
    MAX_ATTEMPTS,
    STALE_AFTER,
    Outbox,
    Refused,
    RetryLater,
    Sent,
    add_to_outbox,
    retry_delay,
)
from bot_core.reply import Reply
from models.db import UnitOfWork
from tests.conftest import count
from tests.fakes.clock import SetClock


def _row(engine: Engine, clock: SetClock, key: str = "d-1") -> int:
    with UnitOfWork(engine) as uow:
        row = add_to_outbox(uow.session, platform="telegram", workspace="", delivery_key=key,
                            target='{"chat_id": 1}', reply=Reply(text="hello"), now=clock())
        uow.commit()
    return row


def test_a_row_is_leased_by_one_sender_at_a_time(engine: Engine) -> None:
    clock = SetClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    outbox = Outbox(engine, clock)
    row = _row(engine, clock)
    got: list[object] = []
    barrier = threading.Barrier(6)

    def take() -> None:
        barrier.wait()
        got.append(outbox.lease(row))

    threads = [threading.Thread(target=take) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    leased = [item for item in got if item is not None]
    assert len(leased) == 1
    assert leased[0].reply == Reply(text="hello")  # type: ignore[attr-defined]


def test_a_lease_of_a_dead_sender_expires(engine: Engine) -> None:
    clock = SetClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    outbox = Outbox(engine, clock)
    row = _row(engine, clock)
    assert outbox.lease(row) is not None
    assert outbox.lease(row) is None
    clock.now += timedelta(minutes=3)
    again = outbox.lease(row)
    assert again is not None and again.attempts == 2


def test_outcomes_are_recorded(engine: Engine) -> None:
    clock = SetClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    outbox = Outbox(engine, clock)
    sent, refused, retried = _row(engine, clock, "a"), _row(engine, clock, "b"), _row(
        engine, clock, "c")
    for row, outcome in ((sent, Sent()), (refused, Refused("forbidden: blocked")),
                         (retried, RetryLater("429", after_seconds=30, progress=1))):
        item = outbox.lease(row)
        assert item is not None
        outbox.record(item, outcome)
    assert outbox.state([sent, refused, retried]) == {
        sent: "sent", refused: "failed", retried: "pending"}
    assert outbox.due(10) == []  # the retry is 30 s away
    clock.now += timedelta(seconds=31)
    assert outbox.due(10) == [retried]
    item = outbox.lease(retried)
    assert item is not None and item.progress == 1  # a retry goes on after the part sent
    assert outbox.unsent_for("telegram", "b") == []  # refused for good


def test_retries_stop_after_the_last_attempt(engine: Engine) -> None:
    clock = SetClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    outbox = Outbox(engine, clock)
    row = _row(engine, clock)
    for _ in range(MAX_ATTEMPTS):
        item = outbox.lease(row)
        assert item is not None
        assert outbox.state([row]) == {row: "pending"}
        outbox.record(item, RetryLater("502"))
    assert outbox.state([row]) == {row: "failed"}


def test_backoff_and_hints() -> None:
    assert retry_delay(1, None) == 5.0
    assert retry_delay(3, None) == 20.0
    assert retry_delay(30, None) == 900.0
    assert retry_delay(1, 7.0) == 7.0
    assert retry_delay(1, 0.0) == 0.5  # never a tight loop


def test_stale_rows_are_given_up_and_old_rows_pruned(engine: Engine) -> None:
    clock = SetClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    outbox = Outbox(engine, clock)
    stale = _row(engine, clock, "old")
    done = _row(engine, clock, "done")
    item = outbox.lease(done)
    assert item is not None
    outbox.record(item, Sent())
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO delivery_claims (platform, delivery_key, claimed_at) "
                          "VALUES ('telegram', 'x', :at)"), {"at": clock()})
    clock.now += STALE_AFTER + timedelta(minutes=1)
    assert outbox.drop_stale() == 1
    assert outbox.state([stale]) == {stale: "failed"}
    assert outbox.prune() == (0, 0)  # kept a week
    clock.now += timedelta(days=8)
    assert outbox.prune() == (2, 1)
    assert count(engine, "outbox") == 0 and count(engine, "delivery_claims") == 0
