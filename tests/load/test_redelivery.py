"""Redelivery: every shared Telegram fixture delivered five times (one after another, and all
at once), every Slack fixture retried three times with Slack's retry headers (inline and on
the Lambda path), and deferred turns whose asynchronous invocation arrives twice: exactly the
effect of one delivery each — the same rows and the same platform API calls, no more.

The single-delivery effects are the fixture tables of tests/telegram/test_fixtures.py and
tests/slack/test_fixtures.py; here they must hold after the redeliveries too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from handlers import lambda_async
from handlers.slack import handler as slack_handler
from handlers.telegram import handler as telegram_handler
from tests.conftest import count
from tests.fakes.lambda_api import FakeLambda, FakeLambdaContext
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.telegram_api import DEFAULT_USERNAME, FakeTelegram
from tests.slack.harness import FUNCTION_NAME, SlackHarness
from tests.slack.test_fixtures import CASES as SLACK_CASES
from tests.slack.test_fixtures import Case
from tests.slack.test_fixtures import deliver as deliver_slack
from tests.telegram.conftest import (
    TelegramBot,
    _bot,
    api_event,
    fixture,
    lambda_context,
    private_text,
    reset_process_state,
    run_concurrently,
)
from tests.telegram.test_fixtures import EXPECTED as TELEGRAM_EXPECTED

TIMES = 5
SLACK_RETRIES = [  # what Slack sends with its three retries of an event
    {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"},
    {"x-slack-retry-num": "2", "x-slack-retry-reason": "http_error"},
    {"x-slack-retry-num": "3", "x-slack-retry-reason": "connection_failed"},
]
TELEGRAM_FUNCTION = "todobot-dev-telegram"


# -- Telegram ---------------------------------------------------------------------------------


@pytest.fixture
def bot(monkeypatch: pytest.MonkeyPatch, telegram_api: FakeTelegram, db_url: str,
        engine: Engine) -> Iterator[TelegramBot]:
    yield from _bot(monkeypatch, telegram_api, db_url, engine,
                    TELEGRAM_BOT_USERNAME=DEFAULT_USERNAME)


@pytest.mark.parametrize("at_once", [False, True], ids=["one-by-one", "at-once"])
@pytest.mark.parametrize("name", sorted(TELEGRAM_EXPECTED))
def test_every_telegram_fixture_delivered_five_times_has_one_effect(
        bot: TelegramBot, name: str, at_once: bool) -> None:
    methods, rows = TELEGRAM_EXPECTED[name]
    update = fixture(name)

    if at_once:
        statuses = run_concurrently([lambda: bot.post(update)["statusCode"]] * TIMES)
    else:
        statuses = [bot.post(update)["statusCode"] for _ in range(TIMES)]

    assert statuses == [200] * TIMES
    assert bot.api.methods() == methods
    assert {table: bot.rows(table) for table in rows} == rows
    assert bot.rows("outbox", "sent_at IS NULL AND failed_at IS NULL") == 0


def test_telegram_deferred_turn_redelivered_and_invoked_twice_each_time_has_one_effect(
        tg: TelegramBot, model: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    """In Lambda a free-text update is deferred; Telegram delivers it five times and Lambda
    runs every asynchronous invocation twice (at-least-once): one model call, one "typing…",
    one answer."""
    update = private_text("the plumber comes at 3")
    with FakeLambda(telegram_handler) as fake_lambda:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", TELEGRAM_FUNCTION)
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake_lambda.url)
        reset_process_state()
        for _ in range(TIMES):
            assert telegram_handler(api_event(update), lambda_context())["statusCode"] == 200
        deferred = [i.event["todobot_deferred"] for i in fake_lambda.invocations]
        for payload in deferred:
            lambda_async.invoke_async(TELEGRAM_FUNCTION, payload)
        fake_lambda.wait_idle()

    assert fake_lambda.errors == []
    assert len(fake_lambda.invocations) == 2 * len(deferred) >= 2
    assert len(model.bodies) == 1
    assert tg.api.methods() == ["sendChatAction", "sendMessage"]
    assert tg.api.sent_texts() == ["Noted."]
    assert (tg.rows("messages"), tg.rows("delivery_claims"), tg.rows("outbox")) == (2, 1, 0)


# -- Slack ------------------------------------------------------------------------------------

RETRIED_CASES = [c for c in SLACK_CASES if c.fixture != "retry_headers_example.json"]


def _retry_all(slack: SlackHarness, case: Case) -> list[Any]:
    return [deliver_slack(slack, case.fixture)["statusCode"]] + [
        deliver_slack(slack, case.fixture, headers)["statusCode"] for headers in SLACK_RETRIES]


@pytest.mark.parametrize("case", RETRIED_CASES, ids=[c.fixture for c in RETRIED_CASES])
def test_every_slack_fixture_retried_three_times_has_one_effect(
        slack: SlackHarness, engine: Engine, case: Case) -> None:
    statuses = _retry_all(slack, case)

    assert statuses == [case.status] * (1 + len(SLACK_RETRIES))
    assert tuple(slack.fake.summary()) == case.slack_calls
    assert count(engine, "messages") == case.messages
    assert count(engine, "tasks") == 0


@pytest.mark.parametrize("case", RETRIED_CASES, ids=[c.fixture for c in RETRIED_CASES])
def test_every_slack_fixture_retried_three_times_in_lambda_has_one_effect(
        slack: SlackHarness, fake_lambda: FakeLambda, engine: Engine, case: Case) -> None:
    """On the Lambda path: an LLM turn's retries after our own error are run again (a lazy
    invocation each) and find the first one's claim; a retry after a timeout is acknowledged
    and not run."""
    statuses = _retry_all(slack, case)
    fake_lambda.wait_idle()

    assert statuses == [case.status] * (1 + len(SLACK_RETRIES))
    assert fake_lambda.errors == []
    assert tuple(slack.fake.summary()) == case.slack_calls
    assert count(engine, "messages") == case.messages


def test_slack_lazy_turn_retried_and_invoked_twice_each_time_has_one_effect(
        slack: SlackHarness, fake_lambda: FakeLambda, model: FakeOpenAI, engine: Engine,
        reset_slack: Any) -> None:
    """A DM for the LLM, retried three times by Slack, and every lazy invocation delivered
    twice more by Lambda, two of them at the same time: one model call, one answer."""
    reset_slack()
    slack.dm("the plumber comes at 3", event_id="EvREDELIVER")
    for headers in SLACK_RETRIES:
        slack.dm("the plumber comes at 3", event_id="EvREDELIVER", extra_headers=headers)
    fake_lambda.wait_idle()
    lazy = [i.event for i in fake_lambda.invocations]
    duplicates = [threading.Thread(target=slack_handler, args=(event, FakeLambdaContext(
        function_name=FUNCTION_NAME))) for event in lazy + lazy]
    for thread in duplicates:
        thread.start()
    for thread in duplicates:
        thread.join(30)

    assert fake_lambda.errors == []
    assert len(lazy) == 3  # the first delivery and the two retries after errors, not the timeout
    assert len(model.bodies) == 1
    assert slack.fake.summary() == ["chat.postMessage"]
    assert count(engine, "messages") == 2
    assert count(engine, "delivery_claims") == 1
