"""The scheduler's sweep: sends the outbox rows whose retry is due (once, even with two sweeps
at once), leaves the others, gives up on stale ones and prunes; ``todobot scheduler run``."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from bot_core.outbox import LEASE, OutboxItem, RetryLater, SendOutcome, Sent, add_to_outbox
from bot_core.reply import Reply
from bot_core.settings import Settings
from handlers.composition import Root
from handlers.sweep import sweep
from models.db import UnitOfWork
from tests.fakes.clock import SetClock


class RecordingSender:
    """Says everything it is given; the first ``fail`` sends answer 429 (retry in 60 s)."""

    def __init__(self, fail: int = 0) -> None:
        self.said: list[str] = []
        self.fail = fail
        self._lock = threading.Lock()

    def send(self, item: OutboxItem) -> SendOutcome:
        with self._lock:
            if self.fail:
                self.fail -= 1
                return RetryLater("429", after_seconds=60)
            self.said.append(item.reply.text)
        return Sent()

    @contextmanager
    def thinking(self, target: Mapping[str, Any]) -> Iterator[None]:
        yield


def _root(db_url: str, engine: Engine, clock: SetClock, sender: RecordingSender) -> Root:
    root = Root(Settings(database_url=db_url), engine=engine, clock=clock)
    root.part("senders", lambda: {"test": sender})
    return root


def _queue(engine: Engine, clock: SetClock, text: str) -> int:
    with UnitOfWork(engine) as uow:
        row = add_to_outbox(uow.session, platform="test", workspace="", delivery_key=text,
                            target="{}", reply=Reply(text=text), now=clock())
        uow.commit()
    return row


def test_due_rows_are_sent_once_even_by_two_sweeps_at_once(db_url: str, engine: Engine) -> None:
    clock, sender = SetClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)), RecordingSender()
    root = _root(db_url, engine, clock, sender)
    for n in range(20):
        _queue(engine, clock, f"reply {n}")
    assert sweep(root).retried == 0  # fresh rows are their worker's for a lease's time
    clock.now += LEASE + timedelta(seconds=1)
    threads = [threading.Thread(target=sweep, args=(root,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(sender.said) == sorted(f"reply {n}" for n in range(20))
    assert sweep(root).retried == 0


def test_a_row_waits_for_its_retry_time(db_url: str, engine: Engine) -> None:
    clock, sender = SetClock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC)), RecordingSender(fail=1)
    root = _root(db_url, engine, clock, sender)
    _queue(engine, clock, "later")
    clock.now += LEASE + timedelta(seconds=1)
    first = sweep(root)
    assert (first.retried, first.still_unsent, sender.said) == (1, 1, [])
    clock.now += timedelta(seconds=30)
    assert sweep(root).retried == 0  # 429 asked for 60 s
    clock.now += timedelta(seconds=31)
    assert sweep(root).retried == 1
    assert sender.said == ["later"]


def test_the_cli_runs_one_sweep(db_url: str, monkeypatch: Any, capsys: Any) -> None:
    from handlers import composition
    from handlers.cli import main

    monkeypatch.setenv("DATABASE_URL", db_url)
    composition.reset()
    try:
        assert main(["scheduler", "run"]) == 0
    finally:
        composition.reset()
    assert capsys.readouterr().out.startswith("Sweep done: 0 replies retried")
