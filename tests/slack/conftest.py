"""Fixtures of the Slack tests: the fake Slack API, and handler() wired to it and to a real
database (SQLite and PostgreSQL, through the shared ``db_url`` fixture).

Outside Lambda (no ``TODOBOT_QUEUE_URL``) the queue is the in-process one: by the time
handler() returns, the turn has run and its reply has been sent (or left in the outbox for the
scheduler). The queue path on AWS is tests/pipeline's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import BOT_TOKEN, SIGNING_SECRET, SlackHarness


def _reset_process_state() -> None:
    from handlers import composition

    composition.reset()


@pytest.fixture(scope="session")
def _session_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_slack(_session_slack: FakeSlack) -> FakeSlack:
    """One server for the session (stopping one costs half a second), emptied per test."""
    _session_slack.reset()
    return _session_slack


@pytest.fixture
def slack(db_url: str, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[SlackHarness]:
    """handler() with this test's database and the fake Slack; offline brain unless a test
    sets OPENAI_BASE_URL (then it calls ``reset_slack()``, or uses ``llm``)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_BASE_URL", fake_slack.base_url)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TODOBOT_QUEUE_URL", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_NAME", raising=False)
    _reset_process_state()
    yield SlackHarness(fake_slack)
    _reset_process_state()


@pytest.fixture
def reset_slack() -> object:
    """Call after changing the environment inside a test."""
    return _reset_process_state


@pytest.fixture
def install_root(slack: SlackHarness) -> Callable[..., Any]:
    """``install_root(**options)``: a composition root built from this test's environment with
    ``options`` (``clock=``, ``slack_clock=``, ``senders=``), used by handler() from now on."""
    from handlers import composition
    from tests.slack.harness import TestRoot

    def install(**options: Any) -> composition.Root:
        from bot_core.settings import get_settings

        composition.reset()
        root = TestRoot(get_settings(), **options)
        composition.install(root)
        return root

    return install


@pytest.fixture
def llm(slack: SlackHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """The fake OpenAI server as the brain (no retries: a test scripts every answer)."""
    with FakeOpenAI() as fake:
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        monkeypatch.setenv("LLM_MAX_RETRIES", "0")
        _reset_process_state()
        yield fake
        _reset_process_state()


ENCRYPTION_KEY = "Nsn5ZvTQ6c0bq0nY3wTDl8eYJ6I0Z6dQy0bqbKQ3Y2s="
"""A fixed Fernet key for the OAuth tests (URL-safe base64 of 32 bytes; a test key only)."""


@pytest.fixture
def oauth(slack: SlackHarness, monkeypatch: pytest.MonkeyPatch) -> SlackHarness:
    """handler() in the any-workspace mode: no SLACK_BOT_TOKEN, the OAuth client and the
    encryption key set, the fake's app settings holding the redirect URL; no workspace
    installed yet (tests/slack/oauth_harness.py installs them)."""
    from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET
    from tests.slack.oauth_harness import REDIRECT_URL

    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    monkeypatch.setenv("SLACK_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("SLACK_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("SLACK_REDIRECT_URI", REDIRECT_URL)
    monkeypatch.setenv("TODOBOT_ENCRYPTION_KEY", ENCRYPTION_KEY)
    slack.fake.installs.redirect_url = REDIRECT_URL
    _reset_process_state()
    return slack
