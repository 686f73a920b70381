"""Telegram test kit: the fake Bot API, API Gateway 2.0 events, update builders, and an
environment in which ``handlers.telegram.handler`` runs for real against a test database."""

from __future__ import annotations

import base64
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from handlers import composition
from handlers.telegram import handler
from models.tables import OutboxMessage
from tests.conftest import FIXTURES, pg_engine
from tests.fakes.http import FakeResponse
from tests.fakes.lambda_context import FakeLambdaContext
from tests.fakes.openai_server import FakeOpenAI, Step
from tests.fakes.telegram_api import DEFAULT_TOKEN, DEFAULT_USERNAME, FakeTelegram

TELEGRAM_FIXTURES = FIXTURES / "telegram"
SECRET = "s3cret-token_for-tests"
BOT_ID = int(DEFAULT_TOKEN.split(":")[0])
USER_ID = 714862471
GROUP_ID = -1001914618483


# -- API Gateway HTTP API (payload format 2.0) ------------------------------------------------


def api_event(body: bytes | str | dict[str, Any], *, secret: str | None = SECRET,
              base64_body: bool = False, headers: dict[str, str] | None = None
              ) -> dict[str, Any]:
    """The event API Gateway sends the Lambda for ``POST /telegram/webhook``."""
    raw = json.dumps(body).encode() if isinstance(body, dict) else (
        body.encode() if isinstance(body, str) else body)
    try:
        raw.decode()
    except UnicodeDecodeError:
        base64_body = True  # API Gateway base64-encodes bodies that are not text
    all_headers = {"content-type": "application/json", "host": "abc123.execute-api.aws",
                   "content-length": str(len(raw)), "x-forwarded-proto": "https"}
    if secret is not None:
        all_headers["x-telegram-bot-api-secret-token"] = secret
    all_headers.update(headers or {})
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "POST /telegram/webhook",
        "rawPath": "/telegram/webhook",
        "rawQueryString": "",
        "headers": all_headers,
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123", "domainName": "abc123.execute-api.aws",
            "domainPrefix": "abc123", "requestId": uuid.uuid4().hex, "routeKey":
            "POST /telegram/webhook", "stage": "$default", "time": time.strftime(
                "%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)), "timeEpoch": int(now * 1000),
            "http": {"method": "POST", "path": "/telegram/webhook", "protocol": "HTTP/1.1",
                     "sourceIp": "149.154.167.220", "userAgent": ""},
        },
        "body": base64.b64encode(raw).decode() if base64_body else raw.decode(),
        "isBase64Encoded": base64_body,
    }


def fixture(name: str) -> dict[str, Any]:
    """A shared fixture payload by file name (without .json)."""
    loaded: dict[str, Any] = json.loads((TELEGRAM_FIXTURES / f"{name}.json").read_text())
    return loaded


def fixture_names() -> list[str]:
    return sorted(p.stem for p in Path(TELEGRAM_FIXTURES).glob("*.json"))


# -- update builders -------------------------------------------------------------------------

_update_ids = itertools.count(500_000)
_message_ids = itertools.count(10)


def next_update_id() -> int:
    return next(_update_ids)


def _person(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"User{user_id % 1000}",
            "language_code": "en"}


def private_text(text_: str, *, user_id: int = USER_ID, update_id: int | None = None
                 ) -> dict[str, Any]:
    """A private-chat text message (commands get their bot_command entity, as Telegram does)."""
    message: dict[str, Any] = {
        "message_id": next(_message_ids), "from": _person(user_id),
        "chat": {"id": user_id, "first_name": f"User{user_id % 1000}", "type": "private"},
        "date": int(time.time()), "text": text_,
    }
    if text_.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text_.split()[0]),
                                "type": "bot_command"}]
    return {"update_id": update_id or next_update_id(), "message": message}


def group_text(text_: str, *, user_id: int = 5519214459, chat_id: int = GROUP_ID,
               entities: list[dict[str, Any]] | None = None,
               reply_to_bot: bool = False) -> dict[str, Any]:
    """A supergroup text message."""
    message: dict[str, Any] = {
        "message_id": next(_message_ids), "from": _person(user_id),
        "chat": {"id": chat_id, "title": "Team", "type": "supergroup"},
        "date": int(time.time()), "text": text_,
    }
    if entities is not None:
        message["entities"] = entities
    elif text_.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text_.split()[0]),
                                "type": "bot_command"}]
    if reply_to_bot:
        message["reply_to_message"] = {
            "message_id": 1, "date": int(time.time()) - 60, "text": "Added #1: x",
            "chat": message["chat"],
            "from": {"id": BOT_ID, "is_bot": True, "first_name": "Todobot",
                     "username": DEFAULT_USERNAME},
        }
    return {"update_id": next_update_id(), "message": message}


def button_press(data: str, *, message_id: int, user_id: int = USER_ID,
                 chat_id: int | None = None) -> dict[str, Any]:
    """A press of an inline button under the bot's message ``message_id``."""
    chat_id = user_id if chat_id is None else chat_id
    chat = ({"id": chat_id, "type": "private", "first_name": "U"} if chat_id > 0
            else {"id": chat_id, "type": "supergroup", "title": "Team"})
    return {
        "update_id": next_update_id(),
        "callback_query": {
            "id": str(uuid.uuid4().int)[:19], "from": _person(user_id),
            "chat_instance": "-4291612063202133648", "data": data,
            "message": {"message_id": message_id, "date": int(time.time()), "chat": chat,
                        "text": "Your open tasks:",
                        "from": {"id": BOT_ID, "is_bot": True, "first_name": "Todobot",
                                 "username": DEFAULT_USERNAME}},
        },
    }


# -- the environment -------------------------------------------------------------------------


@dataclass
class TelegramBot:
    """A running test setup: the fake Bot API, the database, and ways to send updates."""

    api: FakeTelegram
    engine: Engine
    database_url: str

    def post(self, update: dict[str, Any] | bytes | str, *, secret: str | None = SECRET,
             context: Any = None) -> dict[str, Any]:
        """Deliver an update through ``handler()`` as API Gateway would; the Lambda response."""
        return handler(api_event(update, secret=secret), context)

    def rows(self, table: str, where: str = "1=1", **params: Any) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"),
                                    params).scalar_one())

    def user_messages(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(text(
                "SELECT content FROM messages WHERE role = 'user' ORDER BY created_at, id"))]

    def nothing_written(self) -> bool:
        return all(self.rows(t) == 0 for t in (
            "users", "chat_identities", "conversations", "messages", "tasks",
            "delivery_claims", "outbox"))

    def unsent(self) -> int:
        """Outbox rows still pending (neither sent nor refused)."""
        return self.rows("outbox", "sent_at IS NULL AND failed_at IS NULL")

    def outbox(self) -> list[OutboxMessage]:
        """Every outbox row, oldest first (times aware and in UTC on both databases)."""
        with Session(self.engine) as session:
            rows = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all()
            session.expunge_all()
        return list(rows)


class MovableClock:
    """The composition root's clock: real time plus an offset a test moves forward (the
    scheduler's next sweep "later" without waiting for it)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def install_root(**parts: Any) -> composition.Root:
    """Use a root built from this test's environment with ``parts`` (clock, brain...) as the
    process's root, as the Lambda functions would build it at INIT."""
    from bot_core.settings import get_settings

    get_settings.cache_clear()
    root = composition.Root(get_settings(), **parts)
    composition.install(root)
    return root


def reset_process_state() -> None:
    """Forget the process's composition root (engine disposed, clients closed)."""
    composition.reset()


@pytest.fixture(scope="session")
def telegram_api() -> Iterator[FakeTelegram]:
    """One fake Bot API for the session (reset before each test that uses it)."""
    with FakeTelegram() as api:
        yield api


def _bot(monkeypatch: pytest.MonkeyPatch, api: FakeTelegram, url: str, engine: Engine,
         **env: str) -> Iterator[TelegramBot]:
    api.reset()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", DEFAULT_TOKEN)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", api.url)
    monkeypatch.delenv("TELEGRAM_BOT_USERNAME", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_process_state()
    try:
        yield TelegramBot(api, engine, url)
    finally:
        reset_process_state()


@pytest.fixture
def tg(monkeypatch: pytest.MonkeyPatch, telegram_api: FakeTelegram, pg_url: str
       ) -> Iterator[TelegramBot]:
    """The webhook on PostgreSQL, outside Lambda."""
    yield from _bot(monkeypatch, telegram_api, pg_url, pg_engine(pg_url))


@pytest.fixture
def tg_any_db(monkeypatch: pytest.MonkeyPatch, telegram_api: FakeTelegram, db_url: str,
              engine: Engine) -> Iterator[TelegramBot]:
    """The webhook on each database (SQLite and PostgreSQL), outside Lambda."""
    yield from _bot(monkeypatch, telegram_api, db_url, engine)


def lambda_context(name: str = "todobot-dev-telegram") -> FakeLambdaContext:
    return FakeLambdaContext(function_name=name)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for ``condition`` (a state, not a duration: the test fails only if it never
    holds)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.01)


def run_concurrently(jobs: list[Callable[[], Any]], timeout: float = 60.0) -> list[Any]:
    """Start every job on its own thread at the same moment; their results, in job order."""
    import threading

    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(jobs))

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = jobs[index]()
        except Exception as error:  # noqa: BLE001 - re-raised in the test's thread below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if errors:
        raise errors[0]
    return results


def gated(gate: threading.Event, then: Step) -> Step:
    """A model answer that waits for ``gate`` first: an LLM turn in progress."""
    def step(request: dict[str, Any]) -> FakeResponse:
        gate.wait(60)
        return then(request)
    return step


@pytest.fixture
def llm(tg: TelegramBot, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The fake OpenAI server, configured for this test's process state."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        reset_process_state()
        yield fake
