"""Concurrency through the local server: a real ``todobot serve`` (uvicorn subprocess) on
PostgreSQL, hit by many simultaneous webhook requests.

Outside Lambda the queue is the in-process one: a delivery runs on its request's thread once
no earlier delivery of its conversation (one chat member's) is running, the lowest update_id
first among those waiting; other conversations never wait.

- 50 updates of one chat sent at once in random order while an LLM turn of that chat is still
  thinking: they all wait (nothing stored, nothing sent), then are stored and answered in
  update_id order, each once;
- 50 updates of one chat at once with nothing ahead of them: all 200, each stored once, task
  numbers 1..50 in the order the turns ran, no deadlock;
- 50 first messages of 50 new Telegram users and 50 of 50 new Slack users at once: 100 users,
  none duplicated, each answered;
- a chat with a backlog behind a slow LLM turn does not starve other chats, Slack or /healthz;
- in a group, one member's LLM turn delays neither another member's commands nor the same
  member's DM (no lock is held while the model thinks).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from functools import partial
from typing import Any

from sqlalchemy import Engine, text

from tests.fakes.openai_server import FakeOpenAI, says
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import DEFAULT_USERNAME, FakeTelegram
from tests.load.served import Served
from tests.load.waits import gated
from tests.telegram.conftest import GROUP_ID, group_text, private_text, run_concurrently, wait_until

CHAT = 7_100_001
N = 50
UNSENT = "sent_at IS NULL AND failed_at IS NULL"


def _rows(engine: Engine, sql: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(text(sql)).all())


def _count(engine: Engine, table: str, where: str = "1=1") -> int:
    return int(_rows(engine, f"SELECT count(*) FROM {table} WHERE {where}")[0][0])


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


def test_fifty_updates_behind_an_llm_turn_are_stored_and_answered_in_update_id_order(
        served: Served, llm: FakeOpenAI, db: Engine, telegram_api: FakeTelegram) -> None:
    gate = threading.Event()
    llm.script(gated(gate, says("Noted.")))
    statuses: list[int] = []
    first = _start([partial(served.telegram, private_text("hello there", user_id=CHAT))],
                   statuses)
    threads: list[threading.Thread] = []
    try:
        wait_until(lambda: len(llm.bodies) == 1, "the LLM turn to be thinking", timeout=60)
        later = [private_text(f"/add Task {n:02d}", user_id=CHAT) for n in range(1, N + 1)]
        threads = _start([partial(served.telegram, u) for u in random.sample(later, N)],
                         statuses)
        wait_until(lambda: served.waiting() == N, "all 50 to wait behind the LLM turn",
                   timeout=60)
        # Nobody overtook the thinking turn (its context, user and conversation, is stored).
        assert _count(db, "messages") == 0
        assert telegram_api.sent_texts() == []
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
    assert (_count(db, "outbox"), _count(db, "outbox", UNSENT)) == (N + 1, 0)
    assert _count(db, "delivery_claims") == N + 1


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
    assert telegram_api.sent_texts() == [f"Added #{n}: {title}" for n, title in tasks]
    assert (_count(db, "users"), _count(db, "delivery_claims")) == (1, N)
    assert (_count(db, "outbox"), _count(db, "outbox", UNSENT)) == (N, 0)


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
    answers = _session_slack.accepted_hook_posts()
    assert len(answers) == N and all("Added #1" in str(a.message) for a in answers)
    assert (_count(db, "outbox"), _count(db, "outbox", UNSENT)) == (2 * N, 0)


def test_a_chat_with_a_backlog_does_not_starve_other_chats_slack_or_healthz(
        served: Served, llm: FakeOpenAI, db: Engine, _session_slack: FakeSlack) -> None:
    """Telegram opens up to 40 connections by default (100 at most): all of them may wait on
    one chat behind a slow LLM turn, and the server must still answer everyone else."""
    gate = threading.Event()
    llm.script(gated(gate, says("Noted.")))
    statuses: list[int] = []
    busy = _start([partial(served.telegram, private_text("think hard", user_id=CHAT + 2))],
                  statuses)
    waiting: list[threading.Thread] = []
    try:
        wait_until(lambda: len(llm.bodies) == 1, "the LLM turn to be thinking", timeout=60)
        backlog = [private_text(f"/add Later {n}", user_id=CHAT + 2) for n in range(45)]
        waiting = _start([partial(served.telegram, u) for u in backlog], statuses)
        wait_until(lambda: served.waiting() == 45, "the backlog to wait", timeout=60)
        others = run_concurrently([
            partial(served.telegram, private_text("/add elsewhere", user_id=CHAT + 3)),
            partial(served.slack_command, "add elsewhere", user="W8000",
                    response_url=_session_slack.hook_url()),
            served.healthz,
        ], timeout=60)
        assert others == [200, 200, 200]
        assert _count(db, "messages") == 4  # the other chats' turns; the busy chat waits
        assert statuses == []
    finally:
        gate.set()
    for thread in busy + waiting:
        thread.join(120)
    assert statuses == [200] * 46
    assert _count(db, "outbox", UNSENT) == 0


MEMBER_A, MEMBER_B = 7_400_001, 7_400_002


def _mention(said: str, user_id: int) -> dict[str, Any]:
    """``@bot <said>`` in the group: free text addressed to the bot (for the model)."""
    handle = f"@{DEFAULT_USERNAME}"
    return group_text(f"{handle} {said}", user_id=user_id,
                      entities=[{"offset": 0, "length": len(handle), "type": "mention"}])


def test_one_members_llm_turn_delays_neither_another_member_nor_their_own_dm(
        served: Served, llm: FakeOpenAI, db: Engine, telegram_api: FakeTelegram) -> None:
    """Member A's free-text turn in a group waits on the model; meanwhile member B's ten
    ``/add`` in the same group, and A's own ``/add`` in their DM with the bot, are each answered
    (a request that had to wait for A's turn would time out here: the model answers only once
    the gate opens, after them)."""
    gate = threading.Event()
    llm.script(gated(gate, says("Noted, A.")))
    statuses: list[int] = []
    a_turn = _start([partial(served.telegram, _mention("plan the offsite", MEMBER_A))],
                    statuses)
    try:
        wait_until(lambda: len(llm.bodies) == 1, "A's LLM turn to be thinking", timeout=60)
        for n in range(1, 11):
            assert served.telegram(group_text(f"/add B's task {n}", user_id=MEMBER_B),
                                   timeout=20) == 200
        assert served.telegram(private_text("/add A's errand", user_id=MEMBER_A),
                               timeout=20) == 200
        answered_meanwhile = [(c["chat_id"], c["text"])
                              for c in telegram_api.calls_to("sendMessage")]
        assert not gate.is_set() and statuses == []  # A's group turn is still thinking
    finally:
        gate.set()
    for thread in a_turn:
        thread.join(120)

    assert answered_meanwhile == [(str(GROUP_ID), f"Added #{n}: B's task {n}")
                                  for n in range(1, 11)] + [(str(MEMBER_A), "Added #1: A's errand")]
    assert statuses == [200]
    last = telegram_api.calls_to("sendMessage")[-1]
    assert (last["chat_id"], last["text"]) == (str(GROUP_ID), "Noted, A.")
    assert len(llm.bodies) == 1
    assert _count(db, "messages") == 2 * 12
    assert (_count(db, "outbox"), _count(db, "outbox", UNSENT)) == (12, 0)
