"""POST /telegram/webhook through serverless-offline (API Gateway HTTP API, payload 2.0) with the
platform's own payloads: commands are answered inside the webhook invocation, free text is
acknowledged and finished by one asynchronous invocation through the offline Lambda API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import FIXTURES, count
from tests.fakes.openai_server import calls, says
from tests.offline.conftest import TELEGRAM_SECRET, Offline
from tests.offline.stack import Reply, wait_for

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def update(name: str, **message: Any) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads((FIXTURES / "telegram" / name).read_text())
    payload["message"].update(message)
    return payload


def post(stack: Offline, payload: dict[str, Any], secret: str = TELEGRAM_SECRET) -> Reply:
    return stack.stack.post("/telegram/webhook", json.dumps(payload).encode(),
                            {"Content-Type": "application/json", SECRET_HEADER: secret})


def sent_to(stack: Offline, chat_id: int) -> list[str]:
    return [str(call["text"]) for call in stack.telegram.calls_to("sendMessage")
            if int(call["chat_id"]) == chat_id]


def test_commands_are_answered_in_the_webhook(stack: Offline,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    invocations = len(stack.stack.durations("telegram"))
    start = update("private_command_start.json")
    chat = start["message"]["chat"]["id"]
    add = update("private_command_start.json", text="/add buy milk", entities=[
        {"offset": 0, "length": 4, "type": "bot_command"}])
    add["update_id"] = start["update_id"] + 1

    first = post(stack, start)
    second = post(stack, add)

    assert (first.status, second.status) == (200, 200), stack.stack.log()
    replies = sent_to(stack, chat)
    assert len(replies) == 2
    assert "#1" in replies[1] and "buy milk" in replies[1]
    assert count(stack.engine, "tasks", "title = :t", t="buy milk") == 1
    assert count(stack.engine, "messages") == 4
    assert len(stack.stack.durations("telegram")) == invocations + 2  # no deferral
    with capsys.disabled():
        print(f"\ntelegram webhook under serverless-offline: first request "
              f"{first.seconds * 1000:.0f} ms, warm {second.seconds * 1000:.0f} ms")


def test_a_wrong_secret_is_refused_and_nothing_written(stack: Offline) -> None:
    reply = post(stack, update("private_command_start.json"), secret="not-the-secret")

    assert reply.status == 401
    assert count(stack.engine, "messages") == 0
    assert stack.telegram.calls_to("sendMessage") == []


def test_free_text_is_finished_once_by_a_deferred_invocation(
        stack: Offline, capsys: pytest.CaptureFixture[str]) -> None:
    stack.openai.script(calls(("add_task", {"title": "renew my passport"})),
                        says("Added #1: renew my passport."))
    invocations = len(stack.stack.durations("telegram"))
    payload = update("private_text_message.json", text="remind me to renew my passport")
    chat = payload["message"]["chat"]["id"]

    reply = post(stack, payload)

    assert reply.status == 200, stack.stack.log()
    assert wait_for(lambda: sent_to(stack, chat)), stack.stack.log()
    # Webhook + one deferred invocation, both finished; the model was asked twice (the tool
    # call and the answer) and the user answered once.
    assert wait_for(lambda: len(stack.stack.durations("telegram")) >= invocations + 2)
    durations = stack.stack.durations("telegram")[invocations:]
    assert len(durations) == 2, stack.stack.log()
    assert sent_to(stack, chat) == ["Added #1: renew my passport."]
    assert len(stack.openai.bodies) == 2
    assert count(stack.engine, "tasks", "title = :t", t="renew my passport") == 1
    assert count(stack.engine, "messages", "role = 'assistant'") == 1
    assert count(stack.engine, "messages", "role = 'user'") == 1
    with capsys.disabled():
        print(f"\ntelegram free text: webhook answered in {reply.seconds * 1000:.0f} ms; "
              f"invocations {', '.join(f'{d:.0f} ms' for d in durations)} "
              f"(webhook, deferred turn)")
