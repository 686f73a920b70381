"""Concurrency through the local server: a real ``todobot serve`` (uvicorn subprocess) on
PostgreSQL, hit by many simultaneous webhook requests.

- 50 updates of one chat at once, while an LLM turn of that chat is still thinking: all
  answered 200, 50 user messages stored once each in update_id order, answers in that order;
- 50 updates of one chat at once with nothing ahead of them: all 200, each stored once, task
  numbers 1..50 in the order the turns ran, no deadlock;
- 50 first messages of 50 new Telegram users and 50 of 50 new Slack users at once: 100 users,
  none duplicated, each answered;
- a chat with a backlog behind a slow LLM turn does not starve other chats, Slack or /healthz.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import Engine, text

from tests.fakes.http import FakeResponse
from tests.fakes.openai_server import FakeOpenAI, Step, says
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.load.served import Served
from tests.telegram.conftest import private_text, run_concurrently, wait_until

CHAT = 7_100_001
N = 50


def gated(gate: threading.Event, then: Step) -> Step:
    """A model answer that waits for ``gate``: an LLM turn still thinking."""
    def step(request: dict[str, Any]) -> FakeResponse:
        gate.wait(120)
        return then(request)
    return step


def _rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql)).all())


def _count(engine: Engine, table: str) -> int:
    return int(_rows(engine, f"SELECT count(*) FROM {table}")[0][0])


def _start(jobs: list[Callable[[], int]], statuses: list[int]) -> list[threading.Thread]:
    """Run every job on its own thread, all released at once; statuses appended."""
    barrier = threading.Barrier(len(jobs))

    def run(job: Callable[[], int]) -> None:
        barrier.wait()
        statuses.append(job())

    threads = [threading.Thread(target=run, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    return threads


def test_fifty_updates_behind_an_llm_turn_are_stored_in_update_id_order(
        served: Served, llm: FakeOpenAI, db: Engine, telegram_api: FakeTelegram) -> None:
    gate = threading.Event()
    llm.script(gated(gate, says("Noted.")))
    statuses: list[int] = []
    first = _start([partial(served.telegram, private_text("hello there", user_id=CHAT))],
                   statuses)
    wait_until(lambda: len(llm.bodies) == 1, "the LLM turn to be thinking", timeout=60)
    later = [private_text(f"/add Task {n:02d}", user_id=CHAT) for n in range(1, N + 1)]
    try:
        threads = _start([partial(served.telegram, u) for u in random.sample(later, N)],
                         statuses)
        wait_until(lambda: _count(db, "outbox") == N + 1, "all updates to be queued",
                   timeout=60)
        assert _count(db, "messages") == 0  # nobody overtook the thinking turn
    finally:
        gate.set()
    for thread in first + threads:
        thread.join(120)

    assert statuses == [200] * (N + 1)
    stored = [r[0] for r in _rows(db, "SELECT content FROM messages WHERE role = 'user' "
                                      "ORDER BY created_at, id")]
    assert stored == ["hello there"] + [f"/add Task {n:02d}" for n in range(1, N + 1)]
    assert [tuple(r) for r in _rows(db, "SELECT number, title FROM tasks ORDER BY number")] == [
        (n, f"Task {n:02d}") for n in range(1, N + 1)]
    assert telegram_api.sent_texts() == ["Noted."] + [f"Added #{n}: Task {n:02d}"
                                                      for n in range(1, N + 1)]
    assert _count(db, "outbox", "sent_at IS NULL AND failed_at IS NULL") == 0


def test_fifty_updates_of_one_chat_at_once_each_run_once(
        served: Served, db: Engine, telegram_api: FakeTelegram) -> None:
    updates = [private_text(f"/add Item {n:02d}", user_id=CHAT + 1) for n in range(N)]

    statuses = run_concurrently([partial(served.telegram, u) for u in random.sample(updates, N)],
                                timeout=120)

    assert statuses == [200] * N
    stored = [r[0] for r in _rows(db, "SELECT content FROM messages WHERE role = 'user' "
                                      "ORDER BY created_at, id")]
    assert sorted(stored) == sorted(u["message"]["text"] for u in updates)
    tasks = _rows(db, "SELECT number, title FROM tasks ORDER BY number")
    assert [n for n, _ in tasks] == list(range(1, N + 1))
    assert [f"/add {title}" for _, title in tasks] == stored  # numbered in the order they ran
    assert len(telegram_api.calls_to("sendMessage")) == N
    assert (_count(db, "users"), _count(db, "delivery_claims"), _count(db, "outbox")) == (
        1, N, 0)


def test_fifty_new_telegram_users_and_fifty_new_slack_users_at_once(
        served: Served, db: Engine, telegram_api: FakeTelegram, _session_slack: FakeSlack
        ) -> None:
    telegram_users = [7_200_000 + n for n in range(N)]
    slack_users = [f"W9{n:04d}" for n in range(N)]
    jobs: list[Callable[[], int]] = [
        partial(served.telegram, private_text("/add first task", user_id=u))
        for u in telegram_users]
    jobs += [partial(served.slack_command, "add first task", user=u,
                     response_url=_session_slack.hook_url()) for u in slack_users]

    statuses = run_concurrently(random.sample(jobs, len(jobs)), timeout=120)

    assert statuses == [200] * len(jobs)
    identities = _rows(db, "SELECT platform, external_user_id, user_id FROM chat_identities")
    assert sorted((p, e) for p, e, _ in identities) == sorted(
        [("slack", u) for u in slack_users] + [("telegram", str(u)) for u in telegram_users])
    assert _count(db, "users") == 2 * N
    assert len({user_id for _, _, user_id in identities}) == 2 * N
    assert _rows(db, "SELECT DISTINCT number FROM tasks") == [(1,)]
    assert _count(db, "tasks") == 2 * N
    assert sorted(int(c["chat_id"]) for c in telegram_api.calls_to("sendMessage")) == \
        telegram_users


def test_a_chat_with_a_backlog_does_not_starve_other_chats_slack_or_healthz(
        served: Served, llm: FakeOpenAI, db: Engine, _session_slack: FakeSlack) -> None:
    """Telegram opens up to 40 connections by default (100 at most): all of them may wait on
    one chat behind a slow LLM turn, and the server must still answer everyone else."""
    gate = threading.Event()
    llm.script(gated(gate, says("Noted.")))
    statuses: list[int] = []
    busy = _start([partial(served.telegram, private_text("think hard", user_id=CHAT + 2))],
                  statuses)
    wait_until(lambda: len(llm.bodies) == 1, "the LLM turn to be thinking", timeout=60)
    backlog = [private_text(f"/add Later {n}", user_id=CHAT + 2) for n in range(45)]
    try:
        waiting = _start([partial(served.telegram, u) for u in backlog], statuses)
        wait_until(lambda: _count(db, "outbox") == 46, "the backlog to be queued",
                   timeout=60)
        others = run_concurrently([
            partial(served.telegram, private_text("/add elsewhere", user_id=CHAT + 3)),
            partial(served.slack_command, "add elsewhere", user="W8000",
                    response_url=_session_slack.hook_url()),
            served.healthz,
        ], timeout=60)
        assert others == [200, 200, 200]
        assert _count(db, "messages") == 4  # the other chats' turns; the busy chat waits
    finally:
        gate.set()
    for thread in busy + waiting:
        thread.join(120)
    assert statuses == [200] * 46

