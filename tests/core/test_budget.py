"""Model budgets through the service, with the LLM brain on the fake OpenAI server: the daily
allowance per person (their local day) and the optional global monthly cap. Past either, the
offline rules brain answers and says so once; commands and buttons never count; and every token
the fake reported is stored, per message and per day."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot_core.inbound import ButtonAction
from bot_core.service import TodoService
from bot_core.usage import DAILY_SPENT_TEXT, MONTHLY_SPENT_TEXT
from tests.conftest import ServiceFactory, count, inbound
from tests.fakes.clock import SetClock
from tests.fakes.openai_server import FakeOpenAI, calls, says

LLM: dict[str, Any] = {"openai_model": "fake-model", "llm_timeout_seconds": 1.0,
                       "llm_max_retries": 1, "llm_max_tool_rounds": 4}


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def _service(make_service: ServiceFactory, fake: FakeOpenAI, clock: SetClock,
             **limits: int) -> TodoService:
    return make_service(clock=clock, openai_base_url=fake.base_url, **LLM, **limits)


def _text(service: TodoService, message: str, user: str = "alice") -> str:
    reply = service.handle(inbound(message, user=user)).reply
    assert reply is not None
    return reply.as_plain_text()


def _stored_usage(engine: Engine) -> list[dict[str, Any]]:
    """Every model call kept on the assistant messages, in order."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT usage FROM messages WHERE role = 'assistant' "
                                 "ORDER BY created_at, id")).scalars().all()
    return [call for row in rows if row for call in json.loads(row)]


def _reported(fake: FakeOpenAI) -> list[dict[str, Any]]:
    return [{"model": u.model, "prompt_tokens": u.prompt_tokens,
             "completion_tokens": u.completion_tokens} for u in fake.usages]


def _days(engine: Engine) -> dict[tuple[str, date], tuple[int, int, int]]:
    """llm_usage per (user's external id, day): calls, prompt, completion."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.external_user_id, u.day, sum(u.calls), sum(u.prompt_tokens), "
            "sum(u.completion_tokens) FROM llm_usage u JOIN chat_identities c "
            "ON c.user_id = u.user_id GROUP BY c.external_user_id, u.day")).all()
    return {(who, day if isinstance(day, date) else date.fromisoformat(day)):
            (int(n), int(p), int(c)) for who, day, n, p, c in rows}


def _sum(usages: list[dict[str, Any]]) -> tuple[int, int, int]:
    return (len(usages), sum(u["prompt_tokens"] for u in usages),
            sum(u["completion_tokens"] for u in usages))


def test_fake_reports_usage_like_the_api(make_service: ServiceFactory, fake_llm: FakeOpenAI,
                                         engine: Engine) -> None:
    clock = SetClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    service = _service(make_service, fake_llm, clock)
    fake_llm.script(calls(("add_task", {"title": "Call mom"})), says("Added #1: Call mom."))
    assert _text(service, "add call mom") == "Added #1: Call mom."
    first, second = fake_llm.usages
    # Deterministic, from the request: the second request carries the tool result too.
    assert first.model == second.model == "fake-model"
    assert 100 < first.prompt_tokens < second.prompt_tokens
    assert first.completion_tokens > 0 and second.completion_tokens > 0
    assert _stored_usage(engine) == _reported(fake_llm)
    assert _days(engine) == {("alice", date(2026, 3, 10)): _sum(_reported(fake_llm))}


def test_daily_budget_crossed_mid_conversation(make_service: ServiceFactory,
                                               fake_llm: FakeOpenAI, engine: Engine) -> None:
    clock = SetClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))  # 10:00 in Berlin
    unlimited = _service(make_service, fake_llm, clock, llm_daily_tokens_per_user=0)
    assert "Europe/Berlin" in _text(unlimited, "/timezone Berlin")
    fake_llm.script(calls(("add_task", {"title": "Call mom"})), says("Added #1: Call mom."))
    _text(unlimited, "add call mom")
    spent = sum(u.tokens for u in fake_llm.usages)
    # A limit the next model turn crosses: it is still under it when the turn starts.
    service = _service(make_service, fake_llm, clock, llm_daily_tokens_per_user=spent + 1)

    fake_llm.script(says("That's all for now."))
    clock.advance(minutes=1)
    assert _text(service, "anything else?") == "That's all for now."
    assert fake_llm.requests == 3
    today = _reported(fake_llm)

    # Over the allowance: the offline rules answer, and say so once.
    clock.advance(minutes=1)
    first = _text(service, "add buy milk")
    assert first.startswith("Added #2: buy milk")
    assert first.count(DAILY_SPENT_TEXT) == 1
    clock.advance(minutes=1)
    second = _text(service, "what's pending?")
    assert "Call mom" in second and "buy milk" in second
    assert DAILY_SPENT_TEXT not in second
    # Commands and buttons work as always, and never count.
    clock.advance(minutes=1)
    assert _text(service, "/add Water plants").startswith("Added #3: Water plants")
    assert "Call mom" in _text(service, "/list")
    pressed = service.handle(inbound(action=ButtonAction(kind="done", number=1))).reply
    assert pressed is not None and "Done" in pressed.text
    usage = _text(service, "/usage")
    tokens_today = sum(u["prompt_tokens"] + u["completion_tokens"] for u in today)
    assert usage.startswith(f"Today: {tokens_today:,} tokens in 3 model calls")
    assert fake_llm.requests == 3, "the model was asked past the allowance"
    assert _stored_usage(engine) == today
    assert _days(engine) == {("alice", date(2026, 3, 10)): _sum(today)}
    assert count(engine, "llm_notices") == 1

    # 23:30 UTC is 00:30 tomorrow in Berlin: a new local day, the model is back.
    clock.set(datetime(2026, 3, 10, 23, 30, tzinfo=UTC))
    fake_llm.script(says("Good morning!"))
    assert _text(service, "good morning") == "Good morning!"
    assert fake_llm.requests == 4
    assert _stored_usage(engine) == _reported(fake_llm)
    assert _days(engine) == {("alice", date(2026, 3, 10)): _sum(today),
                             ("alice", date(2026, 3, 11)): _sum(_reported(fake_llm)[3:])}
    # Every turn was stored, the over-budget ones too: ten turns, twenty messages.
    assert count(engine, "messages", "role = 'user'") == 10
    assert count(engine, "messages", "role = 'assistant'") == 10


def test_daily_budget_is_per_person(make_service: ServiceFactory, fake_llm: FakeOpenAI,
                                    engine: Engine) -> None:
    clock = SetClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    service = _service(make_service, fake_llm, clock, llm_daily_tokens_per_user=1)
    fake_llm.script(says("Hi Alice."), says("Hi Bob."))
    assert _text(service, "hello") == "Hi Alice."
    assert _text(service, "hello", user="bob") == "Hi Bob."
    assert DAILY_SPENT_TEXT in _text(service, "hello again")
    assert DAILY_SPENT_TEXT in _text(service, "hello again", user="bob")
    assert fake_llm.requests == 2
    assert count(engine, "llm_notices", "kind = 'daily'") == 2


def test_global_monthly_cap_stops_everyone_until_next_month(
        make_service: ServiceFactory, fake_llm: FakeOpenAI, engine: Engine) -> None:
    clock = SetClock(datetime(2026, 3, 31, 12, 0, tzinfo=UTC))
    unlimited = _service(make_service, fake_llm, clock)
    fake_llm.script(says("Hi Alice."))
    _text(unlimited, "hello")
    spent = sum(u.tokens for u in fake_llm.usages)
    service = _service(make_service, fake_llm, clock, llm_monthly_tokens=spent + 1)
    fake_llm.script(says("Hi Bob."))
    assert _text(service, "hello", user="bob") == "Hi Bob."  # everyone's month crosses here

    for user in ("alice", "bob"):
        clock.advance(minutes=1)
        first = _text(service, "add buy milk", user=user)
        assert first.startswith("Added #1: buy milk") and first.count(MONTHLY_SPENT_TEXT) == 1
        assert MONTHLY_SPENT_TEXT not in _text(service, "what's pending?", user=user)
    assert fake_llm.requests == 2
    with engine.connect() as conn:
        month = conn.execute(text("SELECT month, tokens FROM llm_months")).all()
    assert [tuple(row) for row in month] == [("2026-03", sum(u.tokens for u in fake_llm.usages))]

    clock.set(datetime(2026, 4, 1, 0, 5, tzinfo=UTC))
    fake_llm.script(says("New month, Alice."))
    assert _text(service, "hello") == "New month, Alice."
    assert fake_llm.requests == 3
    # Alice's turn (a longer history now) spent April's cap again: Bob is told, on his new day.
    assert MONTHLY_SPENT_TEXT in _text(service, "hello", user="bob")
    assert fake_llm.requests == 3
    assert _stored_usage(engine) == _reported(fake_llm)
    reported = _reported(fake_llm)
    assert _days(engine) == {
        ("alice", date(2026, 3, 31)): _sum(reported[0:1]),
        ("bob", date(2026, 3, 31)): _sum(reported[1:2]),
        ("alice", date(2026, 4, 1)): _sum(reported[2:3]),
    }
