"""LLM faults in the middle of a turn, through the platform handlers: Telegram's webhook and
Slack's Bolt app, each inline (outside Lambda) and on the deferred path (the asynchronous
self-invocation / Bolt's lazy listener through the fake Lambda).

The user already has task #1. Then the model starts acting (completes #1, adds a task) and the
provider fails or the model misbehaves. Whatever happened: the webhook answered 200, the
user's message is stored, #1 is still open and nothing was added (the failed attempt's changes
are rolled back), the user got a useful reply on the platform, and the number of model calls is
bounded. How the brain classifies each failure is tests/core/test_llm_brain.py's business;
here the point is that the platform reply and the deferred path carry it to the user.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, text

from handlers.telegram import handler as telegram_handler
from tests.fakes.lambda_api import FakeLambda
from tests.fakes.openai_server import FakeOpenAI, Step, calls, fails, says, stalls
from tests.slack.harness import SlackHarness
from tests.telegram.conftest import (
    TelegramBot,
    api_event,
    lambda_context,
    private_text,
    reset_process_state,
)

USER_TEXT = "finish the report and add call the bank"
ACTING = calls(("complete_task", {"task_number": 1}), ("add_task", {"title": "call the bank"}))
MAX_ROUNDS = 3


@dataclass(frozen=True)
class Fault:
    """What the fake model does after (or instead of) the acting round, what the user must
    read, and exactly how many model calls the turn may make."""

    name: str
    script: tuple[Step, ...]
    default: Step | None
    reply: str
    model_calls: int
    stored_tool_calls: bool = False  # the model's own final answer keeps its tool log


FAULTS = [
    Fault("timeout", (ACTING,), stalls(5.0), "isn't answering", 2),
    Fault("429", (ACTING,), fails(429, {"retry-after-ms": "10"}), "too many requests", 2),
    Fault("500", (ACTING,), fails(500, {"retry-after-ms": "10"}), "isn't answering", 2),
    Fault("malformed-arguments",
          (calls(("complete_task", "{not json"), ("add_task", {"title": ""}),
                 ("update_task", {"task_number": "first", "completed": True})),
           says("Sorry, I could not do that.")), None, "Sorry, I could not do that.", 2, True),
    Fault("unknown-tool",
          (calls(("drop_database", {}), ("complete_task", {"task_number": 1, "user_id": "x"})),
           says("I can't do that here.")), None, "I can't do that here.", 2, True),
    Fault("runaway-loop", (), ACTING, "round in circles", MAX_ROUNDS),
    Fault("broken-unicode",  # lone surrogates: JSON escapes no UTF-8 encoder accepts
          (calls(("complete_task\ud800", {"task_number": 1}),
                 ("add_task", {"title": "\udc00" * 201, "description": "\ud83d"})),
           says("Sorry \ud800 no.")), None, "Sorry \ufffd no.", 2, True),
]


@pytest.fixture
def faulty(model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """The fake model with no default answer, and the bounds of one LLM turn made small."""
    model.default = None
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setenv("LLM_MAX_RETRIES", "1")
    monkeypatch.setenv("LLM_MAX_TOOL_ROUNDS", str(MAX_ROUNDS))
    return model


def _arm(llm: FakeOpenAI, fault: Fault) -> None:
    llm.script(*fault.script)
    llm.default = fault.default


def assert_turn_survived(engine: Engine, fault: Fault, replies: list[str], llm: FakeOpenAI
                         ) -> None:
    """The outcome every fault must have (see the module docstring)."""
    with engine.connect() as conn:
        tasks = conn.execute(text("SELECT number, title, completed FROM tasks ORDER BY number")
                             ).all()
        last_two = conn.execute(text(
            "SELECT role, content, tool_calls FROM messages ORDER BY created_at DESC, id DESC "
            "LIMIT 2")).all()
    assert [tuple(t) for t in tasks] == [(1, "finish the report", False)]
    assistant, user = last_two
    assert (user.role, user.content) == ("user", USER_TEXT)
    assert assistant.role == "assistant" and fault.reply in assistant.content
    assert (assistant.tool_calls is not None) == fault.stored_tool_calls
    assert fault.reply in replies[-1]
    retries = 1 if fault.name in ("timeout", "429", "500") else 0
    assert len(llm.bodies) == fault.model_calls + retries


# -- Telegram ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def telegram_lambda() -> Iterator[FakeLambda]:
    with FakeLambda(telegram_handler) as fake:
        yield fake


@pytest.mark.parametrize("deferred", [False, True], ids=["inline", "deferred"])
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_telegram_turn_survives_the_fault(tg: TelegramBot, faulty: FakeOpenAI, fault: Fault,
                                          deferred: bool, telegram_lambda: FakeLambda,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    fake_lambda = telegram_lambda
    fake_lambda.invocations.clear()
    fake_lambda.errors.clear()
    if deferred:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "todobot-dev-telegram")
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake_lambda.url)
    reset_process_state()
    context = lambda_context() if deferred else None
    assert telegram_handler(api_event(private_text("/add finish the report")),
                            context)["statusCode"] == 200
    _arm(faulty, fault)

    response = telegram_handler(api_event(private_text(USER_TEXT)), context)
    fake_lambda.wait_idle()

    assert response["statusCode"] == 200
    assert fake_lambda.errors == []
    assert len(fake_lambda.invocations) == (1 if deferred else 0)
    assert tg.api.methods()[-2:] == ["sendChatAction", "sendMessage"]
    assert tg.rows("outbox", "sent_at IS NULL AND failed_at IS NULL") == 0
    assert_turn_survived(tg.engine, fault, tg.api.sent_texts(), faulty)


# -- Slack ------------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("deferred", [False, True], ids=["inline", "lazy"])
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_slack_turn_survives_the_fault(slack: SlackHarness, engine: Engine, faulty: FakeOpenAI,
                                       fault: Fault, deferred: bool, reset_slack: Any,
                                       request: pytest.FixtureRequest) -> None:
    fake_lambda: FakeLambda | None = (request.getfixturevalue("fake_lambda") if deferred
                                      else None)
    reset_slack()
    assert "Added #1" in slack.command("add finish the report")["body"]
    _arm(faulty, fault)

    response = slack.dm(USER_TEXT)
    if fake_lambda is not None:
        fake_lambda.wait_idle()
        assert fake_lambda.errors == []
        assert len(fake_lambda.invocations) == 1

    assert response["statusCode"] == 200
    posts = slack.fake.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert_turn_survived(engine, fault, [str(posts[0].params["text"])], faulty)

