"""Load and fault tests reuse the platform test kits as they are: the Telegram bot fixtures
(fake Bot API, handler() on a test database) and the Slack harness (fake Web API, signed
requests). Imported here so that pytest offers them in this folder too. Outside Lambda the
queue is the in-process one, so handler() returns once the turn is stored and its reply sent.
Plus a real ``todobot serve`` per module for the tests that go through the local server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.conftest import pg_engine
from tests.fakes.openai_server import FakeOpenAI, says
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import FakeTelegram
from tests.load.served import Served, server_environment, todobot_serve
from tests.slack import conftest as slack_kit
from tests.telegram import conftest as telegram_kit

# The kits' fixtures, offered in this folder too (pytest finds fixtures by module attribute).
telegram_api = telegram_kit.telegram_api
tg = telegram_kit.tg
tg_any_db = telegram_kit.tg_any_db
_session_slack = slack_kit._session_slack
fake_slack = slack_kit.fake_slack
slack = slack_kit.slack
reset_slack = slack_kit.reset_slack


# -- a real `todobot serve`, one per test module ----------------------------------------------


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAI]:
    """The fake model the module's server talks to."""
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def model(llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    """The module's fake model for ``handler()`` in this process: emptied, saying "Noted."
    by default, and the environment pointed at it with no retries (tests that change the
    environment reset their platform's singletons afterwards)."""
    llm.script()
    llm.default = says("Noted.")
    llm.server.requests.clear()
    monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("LLM_MAX_RETRIES", "0")
    return llm


@pytest.fixture(scope="module")
def server(pg_database_url: str, telegram_api: FakeTelegram, _session_slack: FakeSlack,
           llm: FakeOpenAI) -> Iterator[Served]:
    """``todobot serve`` (a subprocess) on the session's PostgreSQL database and the fakes."""
    env = server_environment(pg_database_url, telegram_api, _session_slack, llm)
    with todobot_serve(env) as served:
        yield served


@pytest.fixture
def served(server: Served, pg_url: str, telegram_api: FakeTelegram, _session_slack: FakeSlack,
           llm: FakeOpenAI) -> Served:
    """The server, its database emptied and the fakes forgotten; the model says "Noted."."""
    telegram_api.reset()
    _session_slack.reset()
    llm.script()
    llm.default = says("Noted.")
    llm.server.requests.clear()
    return server


@pytest.fixture
def db(pg_url: str) -> Engine:
    """The engine on the server's (emptied) database, for counting rows."""
    return pg_engine(pg_url)
