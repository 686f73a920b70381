"""A warm Lambda container: many invocations in one process share one event loop, one Bot and
one engine; nothing is rebuilt, nothing fails with "Event loop is closed"."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from handlers import event_loop, telegram_client
from handlers.telegram import handler
from tests.fakes.lambda_api import FakeLambda
from tests.telegram.conftest import (
    TelegramBot,
    api_event,
    button_press,
    fixture,
    lambda_context,
    private_text,
    reset_process_state,
)


@pytest.fixture
def container(tg: TelegramBot, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    with FakeLambda(handler) as fake:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "todobot-dev-telegram")
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake.url)
        reset_process_state()
        yield fake


def test_many_invocations_in_one_container(tg: TelegramBot, container: FakeLambda,
                                           caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    assert telegram_client._client is None  # nothing built before the first request

    statuses = []
    first_client = first_loop = None
    for round_ in range(4):
        for update in (private_text(f"/add Task {round_}"), private_text("add buy bread"),
                       fixture("sticker_no_text") | {"update_id": 800_000 + round_}):
            statuses.append(handler(api_event(update), lambda_context())["statusCode"])
            container.wait_idle()
            # Other code in the container creating and closing its own loops must not matter.
            asyncio.run(asyncio.sleep(0))
        handler(api_event(private_text("/list")), lambda_context())
        listed = tg.api.sent[-1]
        press = listed["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        statuses.append(handler(api_event(button_press(press, message_id=listed["message_id"])),
                                lambda_context())["statusCode"])
        first_client = first_client or telegram_client.client()
        first_loop = first_loop or event_loop.container_loop()
        assert telegram_client.client() is first_client
        assert event_loop.container_loop() is first_loop

    assert statuses == [200] * 16
    assert container.errors == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert tg.rows("tasks") == 8
    assert tg.rows("tasks", "completed = true") == 4
    assert tg.api.methods().count("sendMessage") == 4 * 4  # add, bread, sticker, list
    assert tg.api.methods().count("editMessageText") == 4
    assert "getMe" not in tg.api.methods()
    assert len(container.invocations) == 4  # only the free-text turns were deferred


def test_importing_the_handler_is_cheap() -> None:
    """A fresh interpreter importing handlers.telegram loads none of the heavy libraries."""
    probe = ("import sys, handlers.telegram; "
             "print(sorted(m for m in ('telegram', 'sqlmodel', 'sqlalchemy', 'boto3', 'botocore',"
             " 'openai', 'httpx', 'pydantic', 'starlette') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_a_forged_request_is_refused_before_the_database_layer_loads() -> None:
    """A cold container refusing a forged request pays for settings, not for SQLAlchemy."""
    probe = (
        "import json, sys\n"
        "from handlers.telegram import handler\n"
        "event = {'headers': {'x-telegram-bot-api-secret-token': 'forged'},"
        " 'body': json.dumps({'update_id': 1}), 'isBase64Encoded': False}\n"
        "print(handler(event, None)['statusCode'],"
        " sorted(m for m in ('sqlalchemy', 'sqlmodel', 'telegram', 'openai', 'boto3')"
        " if m in sys.modules))\n"
    )
    env = {**os.environ, "TELEGRAM_WEBHOOK_SECRET": "the-real-secret"}
    env.pop("TODOBOT_SSM_PATH", None)
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, env=env).stdout
    assert out.strip() == "401 []"
