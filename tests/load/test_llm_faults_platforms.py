"""LLM faults in the middle of a turn, through the platform handlers: Telegram's webhook and
Slack's Bolt app, each delivered once, and delivered again while the first delivery is still
waiting on the model (Telegram's redelivery of an update not answered in time; Slack's retry
with ``X-Slack-Retry-Reason: http_timeout``).

The user already has task #1. Then the model starts acting (completes #1, adds a task) and the
provider fails or the model misbehaves. Whatever happened: the webhook answered 200 (every
delivery of it), the user's message is stored once, #1 is still open and nothing was added (the
tool calls ran in rolled-back transactions and are not replayed into the final one), the user
got the apology on the platform exactly once (its outbox row sent, none left unsent), and the
number of model calls is bounded, a redelivery adding none. How the brain classifies each
failure is tests/core/test_llm_brain.py's business; here the point is that the platform path
carries it to the user.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.conftest import count
from tests.fakes.openai_server import FakeOpenAI, Step, calls, fails, says, stalls
from tests.load.waits import gated, on_threads, waiting_here
from tests.slack.harness import SlackHarness
from tests.telegram.conftest import TelegramBot, private_text, reset_process_state, wait_until

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


TIMEOUT_SECONDS = 0.5
TIMEOUT_SECONDS_WHILE_HELD = 1.5
"""The model's timeout when its first answer is held until the redelivery waits: a held
answer must still come within it (the hold lasts milliseconds; the rest is margin)."""
REDELIVERY = {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}
UNSENT = "sent_at IS NULL AND failed_at IS NULL"


@pytest.fixture(params=[False, True], ids=["once", "redelivered-while-thinking"])
def redelivered(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


@pytest.fixture
def faulty(model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, redelivered: bool
           ) -> FakeOpenAI:
    """The fake model with no default answer, and the bounds of one LLM turn made small."""
    model.default = None
    monkeypatch.setenv("LLM_TIMEOUT_SECONDS",
                       str(TIMEOUT_SECONDS_WHILE_HELD if redelivered else TIMEOUT_SECONDS))
    monkeypatch.setenv("LLM_MAX_RETRIES", "1")
    monkeypatch.setenv("LLM_MAX_TOOL_ROUNDS", str(MAX_ROUNDS))
    return model


def _arm(llm: FakeOpenAI, fault: Fault, hold: threading.Event | None) -> None:
    """Script the fault; with ``hold``, the model's first answer waits for it."""
    steps = list(fault.script)
    if hold is not None:
        first = steps[0] if steps else fault.default
        assert first is not None
        steps[:1] = [gated(hold, first)]
    llm.script(*steps)
    llm.default = fault.default


def deliver(send: Callable[[dict[str, str] | None], int], llm: FakeOpenAI,
            hold: threading.Event | None) -> list[int]:
    """The turn once (``hold`` None), or once and again while the first waits on the model:
    the second waits behind the first (the same conversation), then finds it done. The
    statuses of every delivery."""
    if hold is None:
        return [send(None)]
    first, statuses = on_threads([lambda: send(None)])
    again: list[threading.Thread] = []
    try:
        wait_until(lambda: len(llm.bodies) == 1, "the first delivery to be thinking")
        again, more = on_threads([lambda: send(REDELIVERY)])
        wait_until(lambda: waiting_here() == 1, "the redelivery to wait behind it")
    finally:
        hold.set()
    for thread in first + again:
        thread.join(60)
    return statuses + more


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
    # the /add's turn and this one, each stored once with one reply, sent
    assert (count(engine, "messages"), count(engine, "delivery_claims")) == (4, 2)
    assert (count(engine, "outbox"), count(engine, "outbox", UNSENT)) == (2, 0)


# -- Telegram ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_telegram_turn_survives_the_fault(tg: TelegramBot, faulty: FakeOpenAI, fault: Fault,
                                          redelivered: bool) -> None:
    reset_process_state()
    assert tg.post(private_text("/add finish the report"))["statusCode"] == 200
    hold = threading.Event() if redelivered else None
    _arm(faulty, fault, hold)
    update = private_text(USER_TEXT)

    statuses = deliver(lambda _headers: tg.post(update)["statusCode"], faulty, hold)

    assert statuses == [200] * (2 if redelivered else 1)
    # The /add's answer; "typing…" (renewed every 4.5 s while the model thinks); the apology
    # last: a redelivery showed no "typing…" of its own, and sent nothing.
    methods = tg.api.methods()
    assert (methods[0], set(methods[1:-1]), methods[-1]) == (
        "sendMessage", {"sendChatAction"}, "sendMessage")
    assert len(tg.api.calls_to("sendMessage")) == 2
    assert_turn_survived(tg.engine, fault, tg.api.sent_texts(), faulty)


# -- Slack ------------------------------------------------------------------------------------


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_slack_turn_survives_the_fault(slack: SlackHarness, engine: Engine, faulty: FakeOpenAI,
                                       fault: Fault, redelivered: bool, reset_slack: Any
                                       ) -> None:
    reset_slack()
    assert slack.command("add finish the report")["statusCode"] == 200
    (added,) = slack.fake.hook_posts
    assert "Added #1" in str(added.message)
    hold = threading.Event() if redelivered else None
    _arm(faulty, fault, hold)

    statuses = deliver(lambda headers: slack.dm(USER_TEXT, event_id="EvFAULT",
                                                extra_headers=headers)["statusCode"],
                       faulty, hold)

    assert statuses == [200] * (2 if redelivered else 1)
    posts = slack.fake.calls_to("chat.postMessage")
    assert len(posts) == 1
    assert_turn_survived(engine, fault, [str(posts[0].params["text"])], faulty)
