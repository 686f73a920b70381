"""Fixtures of the Slack tests: the fake Slack API, and handler() wired to it and to a real
database (SQLite and PostgreSQL, through the shared ``db_url`` fixture)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.lambda_api import FakeLambda
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import BOT_TOKEN, FUNCTION_NAME, SIGNING_SECRET, SlackHarness


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
    sets OPENAI_BASE_URL (then it calls ``reset_slack()``)."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SIGNING_SECRET)
    monkeypatch.setenv("SLACK_API_BASE_URL", fake_slack.base_url)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    _reset_process_state()
    yield SlackHarness(fake_slack)
    _reset_process_state()


@pytest.fixture
def reset_slack() -> object:
    """Call after changing the environment inside a test."""
    return _reset_process_state


@pytest.fixture(scope="session")
def _session_lambda() -> Iterator[FakeLambda]:
    from handlers.slack import handler

    with FakeLambda(handler) as fake:
        yield fake


@pytest.fixture
def fake_lambda(slack: SlackHarness, _session_lambda: FakeLambda,
                monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLambda]:
    """Run as in Lambda: lazy listeners re-invoke the function through boto3, which reaches
    this fake, which runs ``handlers.slack.handler`` on a thread like another container."""
    fake = _session_lambda
    fake.invocations.clear()
    fake.errors.clear()
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake.url)
    yield fake
    fake.wait_idle()
