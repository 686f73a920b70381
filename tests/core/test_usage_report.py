"""``todobot usage`` and ``/usage``: a scripted day of three users on the fake OpenAI server,
the operator's table exact and equal to what the fake reported."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from bot_core.commands import CommandRouter, parse_command
from bot_core.profile import SettingsStore
from bot_core.service import TodoService
from bot_core.settings import Settings
from bot_core.tasks import TaskTools
from bot_core.timing.local import Profile
from bot_core.usage_report import estimate_usd, price_of, usage_summary, user_totals
from handlers import cli, composition
from handlers.composition import Root
from tests.conftest import ServiceFactory, inbound
from tests.fakes.clock import SetClock
from tests.fakes.openai_server import FakeOpenAI, calls, says

PRICES = {"fake-model": (1.0, 2.0), "gpt-4o-mini": (0.15, 0.60)}
LLM: dict[str, Any] = {"openai_model": "fake-model", "llm_timeout_seconds": 1.0,
                       "llm_max_retries": 1, "llm_max_tool_rounds": 4, "llm_prices": PRICES}


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def clock() -> SetClock:
    return SetClock(datetime(2026, 3, 9, 18, 0, tzinfo=UTC))


@pytest.fixture
def service(make_service: ServiceFactory, fake_llm: FakeOpenAI, clock: SetClock) -> TodoService:
    return make_service(clock=clock, openai_base_url=fake_llm.base_url, **LLM)


@pytest.fixture
def root(db_url: str, engine: Engine) -> Iterator[Root]:
    installed = Root(Settings(database_url=db_url, llm_prices=PRICES), engine=engine)
    composition.install(installed)
    try:
        yield installed
    finally:
        composition.reset()


def _say(service: TodoService, user: str, message: str) -> str:
    reply = service.handle(inbound(message, user=user)).reply
    assert reply is not None
    return reply.as_plain_text()


def _scripted_day(service: TodoService, fake: FakeOpenAI, clock: SetClock) -> None:
    """Alice the evening before (one call); then on 2026-03-10 Alice three calls, Bob one on
    a dated gpt-4o-mini, Carol two on a model with no price."""
    fake.usage = (400, 20)
    fake.script(says("Hi Alice."))
    _say(service, "alice", "hello")
    clock.set(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    fake.usage = (1200, 30)
    fake.script(calls(("add_task", {"title": "Call mom"})), says("Added #1: Call mom."))
    assert _say(service, "alice", "add call mom") == "Added #1: Call mom."
    fake.usage = (1500, 45)
    fake.script(says("#1 Call mom is open."))
    _say(service, "alice", "what's open?")
    fake.model, fake.usage = "gpt-4o-mini-2024-07-18", (900, 12)
    fake.script(says("Hi Bob."))
    _say(service, "bob", "hello")
    fake.model, fake.usage = "other-model", (800, 25)
    fake.script(calls(("add_task", {"title": "Buy milk"})), says("Added #1: Buy milk."))
    _say(service, "carol", "add buy milk")
    _say(service, "carol", "/list")  # commands never count
    fake.model = fake.usage = None


def _report(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["usage", *args]) == 0
    return capsys.readouterr().out


GOLDEN_ALL_DAYS = """\
Model usage, all days (local days; USD estimated from LLM_PRICES):
user      chats       name   calls  prompt  completion  total  est. USD
--------  ----------  -----  -----  ------  ----------  -----  --------
b3817d6f  test:alice  Alice      4   4,300         125  4,425    0.0046
2c3e3246  test:carol  Carol      2   1,600          50  1,650         ?
9635eb44  test:bob    Bob        1     900          12    912    0.0001
--------  ----------  -----  -----  ------  ----------  -----  --------
total     3 users                7   6,800         187  6,987  0.0047+?
No price for: other-model (add it to LLM_PRICES, USD per million prompt and completion tokens).
"""

GOLDEN_SINCE = """\
Model usage, since 2026-03-10 (local days; USD estimated from LLM_PRICES):
user      chats       name   calls  prompt  completion  total  est. USD
--------  ----------  -----  -----  ------  ----------  -----  --------
b3817d6f  test:alice  Alice      3   3,900         105  4,005    0.0041
2c3e3246  test:carol  Carol      2   1,600          50  1,650         ?
9635eb44  test:bob    Bob        1     900          12    912    0.0001
--------  ----------  -----  -----  ------  ----------  -----  --------
total     3 users                6   6,400         167  6,567  0.0043+?
No price for: other-model (add it to LLM_PRICES, USD per million prompt and completion tokens).
"""


def test_todobot_usage_for_a_scripted_day_of_three_users(
        service: TodoService, fake_llm: FakeOpenAI, clock: SetClock, root: Root,
        engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    _scripted_day(service, fake_llm, clock)
    assert _report(capsys) == GOLDEN_ALL_DAYS
    assert _report(capsys, "--since", "2026-03-10") == GOLDEN_SINCE
    assert _report(capsys, "--since", "2026-03-11") == "No model usage (since 2026-03-11).\n"

    # The table is the fake's own counts, per user and in total.
    with Session(engine) as session:
        totals = {t.display_name: t for t in user_totals(session)}
    assert sum(t.calls for t in totals.values()) == fake_llm.reported()[0] == 7
    assert sum(t.prompt_tokens for t in totals.values()) == fake_llm.reported()[1]
    assert sum(t.completion_tokens for t in totals.values()) == fake_llm.reported()[2]
    assert (totals["Bob"].calls, totals["Bob"].prompt_tokens, totals["Bob"].completion_tokens
            ) == fake_llm.reported("gpt-4o-mini-2024-07-18")
    assert (totals["Carol"].calls, totals["Carol"].prompt_tokens,
            totals["Carol"].completion_tokens) == fake_llm.reported("other-model")
    assert (totals["Alice"].calls, totals["Alice"].prompt_tokens,
            totals["Alice"].completion_tokens) == fake_llm.reported("fake-model")
    # The estimate: Alice 4,300 prompt at $1/M + 125 completion at $2/M; Bob's dated
    # gpt-4o-mini at its base model's price; Carol's model has none.
    with Session(engine) as session:
        cost = {t.display_name: estimate_usd(t.models, PRICES) for t in user_totals(session)}
    assert cost["Alice"].usd == pytest.approx(0.00455)
    assert cost["Bob"].usd == pytest.approx(900 * 0.15 / 1e6 + 12 * 0.60 / 1e6)
    assert (cost["Carol"].priced, cost["Carol"].unpriced) == (False, True)


def test_usage_command_shows_my_day_and_month(
        service: TodoService, fake_llm: FakeOpenAI, clock: SetClock) -> None:
    _scripted_day(service, fake_llm, clock)
    text = _say(service, "alice", "/usage")
    assert text.startswith("Today: 4,005 tokens in 3 model calls")
    assert "This month: 4,425 tokens." in text
    assert _say(service, "dave", "/usage").startswith("Today: 0 tokens in 0 model calls")
    assert fake_llm.requests == 7  # /usage is a command: the model is not asked


def test_usage_text_with_the_daily_limit(
        service: TodoService, fake_llm: FakeOpenAI, clock: SetClock, engine: Engine) -> None:
    _scripted_day(service, fake_llm, clock)
    with Session(engine) as session:
        user_id = user_totals(session)[0].user_id
        now = clock()
        tools = TaskTools(session, user_id, now=now, profile=Profile(zone_name=None))
        settings = SettingsStore(session, user_id, now, None)
        command = parse_command("/usage")
        assert command is not None
        under = CommandRouter(daily_tokens=200_000).run(command, tools, settings=settings).text
        assert under.splitlines() == [
            "Today: 4,005 tokens in 3 model calls (of 200,000).",
            "This month: 4,425 tokens.",
            "Only messages the AI reads count; commands and buttons never do.",
        ]
        spent = CommandRouter(daily_tokens=3_000).run(command, tools, settings=settings).text
        assert "Today's AI allowance is used up" in spent
        unlimited = CommandRouter(daily_tokens=0).run(command, tools, settings=settings).text
        assert unlimited.startswith("Today: 4,005 tokens in 3 model calls (no daily limit).")
        summary = usage_summary(session, user_id, date(2026, 3, 9))
        assert (summary.day_tokens, summary.day_calls) == (420, 1)


def test_price_of_a_dated_model_version() -> None:
    assert price_of("gpt-4o-mini-2024-07-18", PRICES) == (0.15, 0.60)
    assert price_of("gpt-4o-mini", PRICES) == (0.15, 0.60)
    assert price_of("gpt-4o-minimal", PRICES) is None
    longest = {"gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.60)}
    assert price_of("gpt-4o-mini-2024-07-18", longest) == (0.15, 0.60)
    assert price_of("gpt-4o-2024-08-06", longest) == (2.5, 10.0)


def test_todobot_usage_console_script(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OPENAI_", "DATABASE_URL"))}

    def todobot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "handlers.cli", *args], text=True,
                              capture_output=True, cwd=tmp_path, timeout=60, check=False,
                              env={**env, "PYTHONPATH": str(Path.cwd())})

    assert todobot("migrate").returncode == 0
    shown = todobot("usage", "--since", "2026-03-01")
    assert (shown.returncode, shown.stdout) == (0, "No model usage (since 2026-03-01).\n")
    wrong = todobot("usage", "--since", "March")
    assert wrong.returncode == 2 and "not a date (YYYY-MM-DD): 'March'" in wrong.stderr
