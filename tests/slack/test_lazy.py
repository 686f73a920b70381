"""The lazy path end to end, as in Lambda: the ack returns while the LLM is still thinking;
Bolt's runner re-invokes the function through boto3 (-> FakeLambda -> handler), and that
invocation posts the answer exactly once, also when it is delivered twice or retried."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from handlers.slack import DeferredTurnFailed, handler
from tests.conftest import count
from tests.fakes.http import FakeResponse
from tests.fakes.lambda_api import FakeLambda, FakeLambdaContext
from tests.fakes.openai_server import FakeOpenAI, calls, says
from tests.slack.harness import (
    FUNCTION_NAME,
    SlackHarness,
    apigw_event,
    fixture_json,
    signed_headers,
)

DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


class Gate:
    """A fake-LLM step that waits until the test opens it: proves the ack did not wait for
    the LLM without measuring time."""

    def __init__(self, answer: str) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.answer = answer

    def __call__(self, request: dict[str, Any]) -> FakeResponse:
        self.entered.set()
        self.opened.wait(20)
        return says(self.answer)(request)


@pytest.fixture(scope="module")
def _module_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def fake_llm(_module_llm: FakeOpenAI, slack: SlackHarness, monkeypatch: pytest.MonkeyPatch,
             reset_slack: Any) -> FakeOpenAI:
    _module_llm.script()
    _module_llm.server.requests.clear()
    monkeypatch.setenv("OPENAI_BASE_URL", _module_llm.base_url)
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    reset_slack()
    return _module_llm


def _context() -> FakeLambdaContext:
    return FakeLambdaContext(function_name=FUNCTION_NAME)


def test_dm_is_acked_before_the_llm_answers_then_answered_once(
    slack: SlackHarness, fake_lambda: FakeLambda, fake_llm: FakeOpenAI, engine: Engine
) -> None:
    gate = Gate("Added #1: renew passport.")
    fake_llm.script(calls(("add_task", {"title": "renew passport"})), gate)
    ack = slack.dm("remind me to renew my passport", event_id="EvLAZY1")
    # The ack is back; the lazy invocation went out through boto3 and is still thinking.
    assert ack["statusCode"] == 200
    assert [i.invocation_type for i in fake_lambda.invocations] == ["Event"]
    assert gate.entered.wait(20)
    assert slack.fake.calls_to("chat.postMessage") == []
    gate.opened.set()
    fake_lambda.wait_idle()
    assert fake_lambda.errors == []
    (post,) = slack.fake.calls_to("chat.postMessage")
    assert post.params["channel"] == "D024BE91L"
    assert post.params["text"] == "Added #1: renew passport."
    assert count(engine, "tasks", "title = 'renew passport'") == 1
    assert count(engine, "messages") == 2
    # The invocation carried Bolt's lazy markers and the original signed request.
    event = fake_lambda.invocations[0].event
    assert event["headers"]["x-slack-bolt-lazy-only"] == "1"
    assert event["headers"]["x-slack-bolt-lazy-function-name"] == "answer_event_later"

    # Lambda delivers the asynchronous invocation again (at-least-once): nothing new.
    assert handler(event, _context())["statusCode"] == 200
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert count(engine, "messages") == 2
    assert len(fake_llm.bodies) == 2


def test_lazy_invocation_delivered_twice_concurrently_answers_once(
    slack: SlackHarness, fake_lambda: FakeLambda, fake_llm: FakeOpenAI, engine: Engine
) -> None:
    gate = Gate("Nothing is open.")
    fake_llm.script(gate)
    slack.dm("anything open?", event_id="EvLAZY2")
    assert gate.entered.wait(20)
    duplicate = threading.Thread(
        target=handler, args=(fake_lambda.invocations[0].event, _context()))
    duplicate.start()
    gate.opened.set()
    duplicate.join(30)
    fake_lambda.wait_idle()
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert len(fake_llm.bodies) == 1  # the second delivery found the claim and stopped
    assert count(engine, "messages") == 2


def test_mention_answered_in_thread_through_the_lazy_path(
    slack: SlackHarness, fake_lambda: FakeLambda, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(says("Rivers are great."))
    payload = fixture_json("event_callback_app_mention_bolt.json")
    assert slack.send_json(payload)["statusCode"] == 200
    fake_lambda.wait_idle()
    (post,) = slack.fake.calls_to("chat.postMessage")
    assert post.params["thread_ts"] == payload["event"]["ts"]
    assert fake_llm.bodies[0]["messages"][-1]["content"] == "Hi there!"


def test_free_text_slash_command_through_the_lazy_path(
    slack: SlackHarness, fake_lambda: FakeLambda, fake_llm: FakeOpenAI
) -> None:
    gate = Gate("You have nothing due today.")
    fake_llm.script(gate)
    ack = slack.command("what is due today?")
    assert ack["statusCode"] == 200 and ack["body"] == ""
    assert gate.entered.wait(20)
    assert slack.fake.hook_posts == []
    gate.opened.set()
    fake_lambda.wait_idle()
    (post,) = slack.fake.hook_posts
    assert post.message["text"] == "You have nothing due today."
    assert post.message["response_type"] == "ephemeral"


def test_commands_never_take_the_lazy_path(
    slack: SlackHarness, fake_lambda: FakeLambda, engine: Engine
) -> None:
    assert "Added #1" in slack.command("add Buy milk")["body"]
    slack.press("todo:done:1:open")
    assert fake_lambda.invocations == []
    assert count(engine, "tasks", "completed = :c", c=True) == 1


def test_timed_out_retry_does_not_start_another_invocation(
    slack: SlackHarness, fake_lambda: FakeLambda, fake_llm: FakeOpenAI
) -> None:
    fake_llm.script(says("Hello!"))
    slack.dm("hello there", event_id="EvLAZY3")
    fake_lambda.wait_idle()
    slack.dm("hello there", event_id="EvLAZY3",
             extra_headers=fixture_json("retry_headers_example.json"))
    fake_lambda.wait_idle()
    assert len(fake_lambda.invocations) == 1
    assert len(slack.fake.calls_to("chat.postMessage")) == 1


def test_lazy_turn_failing_on_the_database_is_retried_by_lambda(
    slack: SlackHarness, fake_lambda: FakeLambda, fake_llm: FakeOpenAI, engine: Engine,
    monkeypatch: pytest.MonkeyPatch, db_url: str, reset_slack: Any,
) -> None:
    """The ack was sent, so Slack will not redeliver; the lazy invocation raises instead and
    Lambda's asynchronous retry (the same event, still inside the 300 s window) finishes it."""
    fake_llm.default = says("Added it.")
    monkeypatch.setenv("DATABASE_URL", DEAD_DATABASE)
    reset_slack()
    assert slack.dm("remind me to water the plants", event_id="EvLAZY4")["statusCode"] == 200
    fake_lambda.wait_idle()
    assert [type(e) for e in fake_lambda.errors] == [DeferredTurnFailed]
    assert slack.fake.calls_to("chat.postMessage") == []
    monkeypatch.setenv("DATABASE_URL", db_url)
    reset_slack()
    retried = fake_lambda.invocations[0].event
    assert handler(retried, _context())["statusCode"] == 200
    (post,) = slack.fake.calls_to("chat.postMessage")
    assert post.params["text"] == "Added it."
    assert count(engine, "messages") == 2


def test_lazy_turn_failing_late_tells_the_user(
    slack: SlackHarness, fake_lambda: FakeLambda, fake_llm: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch, reset_slack: Any,
) -> None:
    """A lazy invocation older than the retry window is Lambda's retry: the user is told."""
    monkeypatch.setenv("DATABASE_URL", DEAD_DATABASE)
    reset_slack()
    payload = fixture_json("event_callback_message_im_docs.json")
    import json

    body = json.dumps(payload)
    old = int(time.time()) - 120
    event = apigw_event(body, signed_headers(body, timestamp=old) | {
        "x-slack-bolt-lazy-only": "1", "x-slack-bolt-lazy-function-name": "answer_event_later"})
    assert handler(event, _context())["statusCode"] == 200
    (post,) = slack.fake.calls_to("chat.postMessage")
    assert "nothing was saved" in post.params["text"]
    assert fake_lambda.invocations == []
