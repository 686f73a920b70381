"""A Lambda container: its stack is built once, at INIT (the module's import), without touching
the network; then many invocations share one composition root, one event loop, one Bot and one
engine, and nothing fails with "Event loop is closed" whatever other code does with loops."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy.pool import QueuePool

from handlers import composition, event_loop
from handlers.telegram import handler
from tests.telegram.conftest import (
    TelegramBot,
    api_event,
    button_press,
    fixture,
    lambda_context,
    private_text,
    reset_process_state,
)


def _other_code_runs_its_own_loop(round_: int) -> None:
    """What other code in the container may do between invocations: ``asyncio.run`` (which
    leaves the thread without a current loop), or make a loop current and close it."""
    if round_ % 2:
        asyncio.run(asyncio.sleep(0))
    else:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()


def test_many_invocations_in_one_container_share_one_stack(
        tg: TelegramBot, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "todobot-dev-telegram")  # Lambda's pool
    reset_process_state()
    caplog.set_level(logging.WARNING)
    root = composition.root()
    bot, engine = root.telegram_client.bot, root.engine

    statuses = []
    loops = set()
    for round_ in range(4):
        for update in (private_text(f"/add Task {round_}"), private_text("add buy bread"),
                       fixture("sticker_no_text") | {"update_id": 800_000 + round_}):
            statuses.append(handler(api_event(update), lambda_context())["statusCode"])
            _other_code_runs_its_own_loop(round_)
        statuses.append(handler(api_event(private_text("/list")), lambda_context())["statusCode"])
        listed = tg.api.sent[-1]
        press = listed["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
        statuses.append(handler(api_event(button_press(press, message_id=listed["message_id"])),
                                lambda_context())["statusCode"])
        _other_code_runs_its_own_loop(round_ + 1)
        assert composition.root() is root
        assert root.telegram_client.bot is bot
        assert root.engine is engine
        assert isinstance(engine.pool, QueuePool) and engine.pool.size() == 2  # Lambda
        assert engine.pool.checkedout() == 0  # nothing held between invocations
        loops.add(event_loop.container_loop())

    assert statuses == [200] * 20
    assert len(loops) == 1 and not loops.pop().is_closed()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert tg.rows("tasks") == 8
    assert tg.rows("tasks", "completed = true") == 4
    assert tg.api.methods().count("sendMessage") == 4 * 4  # add, bread, sticker, list
    assert tg.api.methods().count("sendChatAction") == 4  # the free text only
    assert tg.api.methods().count("editMessageText") == 4
    assert "getMe" not in tg.api.methods()
    assert tg.unsent() == 0


# -- a fresh interpreter: INIT -----------------------------------------------------------------

_PROBE = textwrap.dedent("""
    import json, socket, sys

    connects = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def connect(self, address):
        connects.append(repr(address))
        return real_connect(self, address)

    def connect_ex(self, address):
        connects.append(repr(address))
        return real_connect_ex(self, address)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex

    # libpq opens the database's socket in C, out of the socket module's sight.
    import psycopg

    real_pg_connect = psycopg.connect

    def pg_connect(*args, **kwargs):
        connects.append("postgresql")
        return real_pg_connect(*args, **kwargs)

    psycopg.connect = pg_connect

    import handlers.telegram.function as function
    from handlers import composition

    root = composition.root()
    at_import = list(connects)

    def missing(name):
        def build():
            raise SystemExit(f"{name} was not built at import")
        return build

    # Root.part returns a part already built, else builds it: here, failing.
    built = [name for name in ("engine", "service", "telegram_client", "senders", "worker",
                               "queue", "telegram_webhook", "mangum")
             if root.part(name, missing(name)) is not None]
    forged = {"version": "2.0", "rawPath": "/telegram/webhook", "rawQueryString": "",
              "headers": {"x-telegram-bot-api-secret-token": "forged",
                          "content-type": "application/json"},
              "requestContext": {"http": {"method": "POST", "path": "/telegram/webhook",
                                          "sourceIp": "203.0.113.9", "protocol": "HTTP/1.1"}},
              "body": json.dumps({"update_id": 1, "message": {"message_id": 1, "date": 0,
                                   "chat": {"id": 1, "type": "private"}, "text": "/start"}}),
              "isBase64Encoded": False}
    status = function.handler(forged, None)["statusCode"]
    pool = root.engine.pool
    print(json.dumps({"at_import": at_import, "after_request": connects[len(at_import):],
                      "built": built, "status": status,
                      "db_connections": pool.checkedin() + pool.checkedout()}))
""")


def _run_probe(env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          env=env, timeout=60, cwd=os.getcwd())
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("in_lambda", [True, False], ids=["lambda", "local"])
def test_import_builds_the_stack_without_network_and_a_forged_request_touches_nothing(
        pg_url: str, in_lambda: bool) -> None:
    """Importing the function module (Lambda's INIT) builds settings, engine, service, Bot,
    queue and webhook, and opens no connection: no database, no getMe, no SSM. A forged request
    is then refused 401 without a single connection either (the database stays untouched)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("TODOBOT_", "TELEGRAM_", "SLACK_", "OPENAI_"))}
    env.update({
        "DATABASE_URL": pg_url,  # real and reachable: a connection would succeed, and show
        "TELEGRAM_BOT_TOKEN": "6067617432:TEST-token-for-the-fake",
        "TELEGRAM_WEBHOOK_SECRET": "the-real-secret",
        "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9",
        "PYTHONPATH": os.getcwd(),
    })
    if in_lambda:
        env["AWS_LAMBDA_FUNCTION_NAME"] = "todobot-dev-telegram"
    else:
        env.pop("AWS_LAMBDA_FUNCTION_NAME", None)

    result = _run_probe(env)

    assert result["built"] == ["engine", "service", "telegram_client", "senders", "worker",
                               "queue", "telegram_webhook", "mangum"]
    assert result["at_import"] == []
    assert result["status"] == 401
    assert result["after_request"] == []
    assert result["db_connections"] == 0
