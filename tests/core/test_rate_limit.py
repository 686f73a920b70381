"""The per-user rate limit (``MESSAGES_PER_MINUTE_PER_USER``) across containers: two services,
each with its own engine (two Lambda containers), or two OS processes, on one database (a SQLite
file and PostgreSQL). Past the limit one "slow down" is answered and the rest of the minute is
ignored: the delivery claimed, nothing else stored, the model never asked. Buttons count too.

What each kind of turn leaves behind is counted here (messages, tasks, outbox rows, delivery
claims, model calls), the figures of the issue's table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from bot_core.bootstrap import build_service
from bot_core.inbound import ButtonAction
from bot_core.limits import SLOW_DOWN_TEXT
from bot_core.service import TodoService, TurnResult
from bot_core.settings import Settings
from models.db import create_db_engine
from tests.conftest import count, inbound
from tests.fakes.clock import SetClock
from tests.fakes.openai_server import FakeOpenAI, says

START = datetime(2027, 3, 4, 10, 0, 5, tzinfo=UTC)
TARGET = '{"chat_id": 1}'
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        fake.default = says("Noted.")
        yield fake


@dataclass
class Containers:
    """Two services on one database, each with an engine (a connection pool) of its own."""

    services: list[TodoService]
    engines: list[Engine]
    clock: SetClock

    def send(self, n: int, text: str | None = None, *, user: str = "alice",
             action: ButtonAction | None = None, delivery: str | None = None) -> TurnResult:
        """Message ``n`` (its delivery key ``d{n}`` unless given) through container n % 2."""
        service = self.services[n % 2]
        return service.handle(inbound(text, user=user, action=action,
                                      delivery=delivery or f"d{n}"), target=TARGET)


@pytest.fixture
def containers(db_url: str) -> Iterator[Callable[..., Containers]]:
    made: list[Engine] = []

    def build(limit: int, llm: FakeOpenAI | None = None) -> Containers:
        clock = SetClock(START)
        llm_settings: dict[str, Any] = {} if llm is None else {
            "openai_base_url": llm.base_url, "openai_api_key": "test-key",
            "openai_model": "fake-model", "llm_timeout_seconds": 2.0, "llm_max_retries": 0}
        engines = [create_db_engine(db_url) for _ in range(2)]
        made.extend(engines)
        services = [build_service(Settings(database_url=db_url,
                                           messages_per_minute_per_user=limit, **llm_settings),
                                  engine=own, clock=clock) for own in engines]
        return Containers(services, engines, clock)

    yield build
    for own in made:
        own.dispose()


def _stored(engine: Engine) -> dict[str, int]:
    return {table: count(engine, table)
            for table in ("messages", "tasks", "outbox", "delivery_claims")}


def _kind(result: TurnResult, answer: str) -> str:
    if result.duplicate:
        return "duplicate"
    if result.reply is None:
        return "ignored"
    return "slow down" if result.reply.text == SLOW_DOWN_TEXT else (
        "answered" if answer in result.reply.text else f"other: {result.reply.text}")


def test_free_text_across_two_containers_one_count(
        containers: Callable[..., Containers], fake_llm: FakeOpenAI, engine: Engine) -> None:
    two = containers(5, fake_llm)

    kinds = [_kind(two.send(n, f"remember thing {n}"), "Noted.") for n in range(12)]

    assert kinds == ["answered"] * 5 + ["slow down"] + ["ignored"] * 6
    assert len(fake_llm.bodies) == 5  # ignored and slowed turns never reach the model
    assert _stored(engine) == {"messages": 10, "tasks": 0, "outbox": 6, "delivery_claims": 12}
    assert count(engine, "outbox", "reply LIKE :t", t=f"%{SLOW_DOWN_TEXT[:30]}%") == 1
    assert count(engine, "rate_counts") == 1
    assert count(engine, "rate_counts", "count = 12") == 1

    # A redelivery of the slowed and of an ignored one, to the other container: nothing new,
    # and not counted again.
    assert two.send(6, "remember thing 5", delivery="d5").duplicate
    assert two.send(7, "remember thing 8", delivery="d8").duplicate
    assert _stored(engine) == {"messages": 10, "tasks": 0, "outbox": 6, "delivery_claims": 12}
    assert count(engine, "rate_counts", "count = 12") == 1

    # The next minute: answered again, one model call more.
    two.clock.advance(minutes=1)
    assert _kind(two.send(12, "remember the next minute"), "Noted.") == "answered"
    assert len(fake_llm.bodies) == 6
    assert _stored(engine) == {"messages": 12, "tasks": 0, "outbox": 7, "delivery_claims": 13}


def test_commands_and_buttons_count_across_containers(
        containers: Callable[..., Containers], engine: Engine) -> None:
    two = containers(3)

    assert _kind(two.send(0, "/add water plants"), "Added #1") == "answered"
    assert _kind(two.send(1, "/add buy milk"), "Added #2") == "answered"
    assert _kind(two.send(2, action=ButtonAction(kind="done", number=1)), "") == "answered"
    assert _kind(two.send(3, action=ButtonAction(kind="done", number=2)), "") == "slow down"
    assert _kind(two.send(4, "/add one more"), "") == "ignored"
    assert _kind(two.send(5, action=ButtonAction(kind="delete", number=1)), "") == "ignored"

    assert _stored(engine) == {"messages": 6, "tasks": 2, "outbox": 4, "delivery_claims": 6}
    assert count(engine, "tasks", "completed") == 1  # #2's press was over the limit
    assert two.send(0, action=ButtonAction(kind="done", number=2), delivery="d3").duplicate
    assert count(engine, "tasks", "completed") == 1

    two.clock.advance(seconds=55)  # 10:01:00, a new window
    assert _kind(two.send(6, action=ButtonAction(kind="done", number=2)), "") == "answered"
    assert count(engine, "tasks", "completed") == 2


def test_people_do_not_share_a_count(containers: Callable[..., Containers],
                                     engine: Engine) -> None:
    two = containers(2)

    alice = [_kind(two.send(n, f"/add alice {n}"), "Added") for n in range(3)]
    bob = [_kind(two.send(n, f"/add bob {n}", user="bob", delivery=f"b{n}"), "Added")
           for n in range(2)]

    assert alice == ["answered", "answered", "slow down"]
    assert bob == ["answered", "answered"]
    assert count(engine, "tasks") == 4
    assert count(engine, "rate_counts") == 2


def test_no_limit_when_zero(containers: Callable[..., Containers], engine: Engine) -> None:
    two = containers(0)

    kinds = [_kind(two.send(n, f"/add task {n}"), "Added") for n in range(40)]

    assert kinds == ["answered"] * 40
    assert count(engine, "rate_counts") == 0  # no statement at all when off


_CHILD = """
import json, sys
from datetime import datetime
from bot_core.bootstrap import build_service
from bot_core.inbound import Inbound
from bot_core.limits import SLOW_DOWN_TEXT
from bot_core.settings import Settings

url, base_url, name, n, instant = sys.argv[1:6]
now = datetime.fromisoformat(instant)
service = build_service(Settings(
    database_url=url, messages_per_minute_per_user=5, openai_base_url=base_url,
    openai_api_key="test-key", openai_model="fake-model", llm_timeout_seconds=5.0,
    llm_max_retries=0), clock=lambda: now)
print("ready", flush=True)
sys.stdin.readline()
kinds = []
for i in range(int(n)):
    result = service.handle(Inbound(
        platform="test", chat_id="chat-1", external_user_id="alice", display_name="Alice",
        text=f"remember {name} {i}", delivery_key=f"{name}-{i}"), target='{"chat_id": 1}')
    reply = result.reply
    kinds.append("ignored" if reply is None else
                 "slow down" if reply.text == SLOW_DOWN_TEXT else "answered")
print(json.dumps(kinds), flush=True)
"""


def test_two_os_processes_share_one_count(db_url: str, fake_llm: FakeOpenAI,
                                          engine: Engine) -> None:
    """Two processes at once, eight messages each from one person, limit 5: five answered in
    all, one "slow down", ten ignored, whichever process each landed on."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    children = [subprocess.Popen(
        [sys.executable, "-c", _CHILD, db_url, fake_llm.base_url, name, "8", START.isoformat()],
        cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for name in ("a", "b")]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=120)[0] for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
    assert all(child.returncode == 0 for child in children)
    kinds = [kind for out in outputs for kind in json.loads(out.strip().splitlines()[-1])]

    assert sorted(kinds) == sorted(["answered"] * 5 + ["slow down"] + ["ignored"] * 10)
    assert len(fake_llm.bodies) == 5
    assert _stored(engine) == {"messages": 10, "tasks": 0, "outbox": 6, "delivery_claims": 16}
    assert count(engine, "rate_counts", "count = 16") == 1
