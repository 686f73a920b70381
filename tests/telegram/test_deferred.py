"""Inside Lambda, a free-text (LLM) turn is acknowledged at once and finished by an
asynchronous invocation of the same function (boto3 ``InvocationType="Event"``, here against the
loopback Lambda fake); commands and buttons finish inside the webhook invocation."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from handlers import lambda_async
from handlers.telegram import handler
from tests.fakes.lambda_api import FakeLambda
from tests.fakes.openai_server import FakeOpenAI, says
from tests.telegram.conftest import (
    USER_ID,
    TelegramBot,
    api_event,
    button_press,
    gated,
    lambda_context,
    private_text,
    reset_process_state,
)

FUNCTION = "todobot-dev-telegram"


@pytest.fixture
def in_lambda(tg: TelegramBot, llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
              ) -> Iterator[FakeLambda]:
    """Run as a Lambda container whose self-invocations reach the Lambda fake."""
    with FakeLambda(handler) as fake:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake.url)
        reset_process_state()
        yield fake


def test_free_text_is_acknowledged_before_the_turn_and_finished_asynchronously(
        tg: TelegramBot, llm: FakeOpenAI, in_lambda: FakeLambda) -> None:
    gate = threading.Event()
    llm.script(gated(gate, says("Added: buy milk.")))

    response = handler(api_event(private_text("remind me to buy milk")), lambda_context())

    assert response["statusCode"] == 200  # answered while the model is still thinking
    assert tg.rows("messages") == 0
    (invocation,) = in_lambda.invocations
    assert invocation.function_name == FUNCTION
    assert invocation.invocation_type == "Event"
    assert invocation.event == {"todobot_deferred": {
        "platform": "telegram", "chat_key": str(USER_ID), "upto": invocation.event[
            "todobot_deferred"]["upto"]}}
    gate.set()
    in_lambda.wait_idle()

    assert in_lambda.errors == []
    assert tg.rows("messages") == 2
    assert tg.api.methods() == ["sendChatAction", "sendMessage"]
    assert tg.api.calls_to("sendChatAction")[0]["action"] == "typing"
    assert tg.api.sent_texts() == ["Added: buy milk."]
    assert tg.rows("turn_queue") == 0


def test_the_deferred_turn_runs_exactly_once_even_if_invoked_twice(
        tg: TelegramBot, llm: FakeOpenAI, in_lambda: FakeLambda) -> None:
    llm.default = says("Noted.")
    update = private_text("note that the plumber comes at 3")

    assert handler(api_event(update), lambda_context())["statusCode"] == 200
    in_lambda.wait_idle()
    deferred = in_lambda.invocations[0].event
    # Lambda's at-least-once delivery: the same event again, twice at the same time...
    lambda_async.invoke_async(FUNCTION, deferred["todobot_deferred"])
    lambda_async.invoke_async(FUNCTION, deferred["todobot_deferred"])
    # ...and Telegram redelivering the update, which defers it once more.
    assert handler(api_event(update), lambda_context())["statusCode"] == 200
    in_lambda.wait_idle()

    assert len(in_lambda.invocations) == 4
    assert in_lambda.errors == []
    assert len(llm.bodies) == 1
    assert tg.rows("messages") == 2
    assert tg.rows("delivery_claims") == 1
    assert tg.api.sent_texts() == ["Noted."]


def test_commands_and_buttons_finish_inside_the_webhook_invocation(
        tg: TelegramBot, in_lambda: FakeLambda) -> None:
    response = handler(api_event(private_text("/add Buy milk")), lambda_context())

    assert response["statusCode"] == 200
    assert tg.api.sent_texts() == ["Added #1: Buy milk"]  # before the handler returned
    handler(api_event(private_text("/list")), lambda_context())
    (listed,) = tg.api.calls_to("sendMessage")[1:]
    press = listed["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    handler(api_event(button_press(press, message_id=1001)), lambda_context())

    assert in_lambda.invocations == []
    assert tg.rows("tasks", "completed = true") == 1
    assert tg.api.methods()[-2:] == ["answerCallbackQuery", "editMessageText"]


def test_when_lambda_refuses_the_invocation_the_webhook_answers_500(
        tg: TelegramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    """Acknowledging work nobody will do would lose the message: answer 500 instead, and keep
    the update queued for Telegram's redelivery."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://127.0.0.1:9")
    reset_process_state()

    response = handler(api_event(private_text("remind me to call mom")), lambda_context())

    assert response["statusCode"] == 500
    assert tg.rows("turn_queue") == 1
    assert tg.rows("messages") == 0
