"""Redelivery: every shared Telegram fixture delivered five times (one after another, and all
at once), every Slack fixture retried three times with Slack's retry headers (one after
another, and all at once); an LLM turn delivered again while its first delivery is still
thinking; a first delivery that died (before its turn was stored, or after, before its reply
went out) and the platform's redelivery, for Slack with every X-Slack-Retry-Reason
(``http_timeout`` included: every retry is enqueued and deduplicated, none acknowledged unrun).
Each: exactly the effect of one delivery — the same rows and the same platform API calls, no
more — and no reply lost: one outbox row per reply, sent, none left unsent.

The single-delivery effects are the fixture tables of tests/telegram/test_fixtures.py and
tests/slack/test_fixtures.py; here they must hold after the redeliveries too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine

from handlers.delivery import Deliverer
from handlers.processing import Worker
from tests.conftest import count
from tests.fakes.openai_server import FakeOpenAI, says
from tests.fakes.telegram_api import DEFAULT_USERNAME, FakeTelegram
from tests.load.waits import gated, on_threads, waiting_here
from tests.slack.harness import SlackHarness
from tests.slack.test_fixtures import CASES as SLACK_CASES
from tests.slack.test_fixtures import Case
from tests.slack.test_fixtures import deliver as deliver_slack
from tests.telegram.conftest import (
    TelegramBot,
    _bot,
    fixture,
    private_text,
    reset_process_state,
    run_concurrently,
    wait_until,
)
from tests.telegram.test_fixtures import EXPECTED as TELEGRAM_EXPECTED

TIMES = 5
SLACK_RETRIES = [  # what Slack sends with its three retries of an event
    {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"},
    {"x-slack-retry-num": "2", "x-slack-retry-reason": "http_error"},
    {"x-slack-retry-num": "3", "x-slack-retry-reason": "connection_failed"},
]
RETRY_REASONS = ["http_timeout", "http_error", "connection_failed", "unknown_error"]
SENT = "sent_at IS NOT NULL"
UNSENT = "sent_at IS NULL AND failed_at IS NULL"


def _outbox(engine: Engine) -> tuple[int, int, int]:
    """(outbox rows, sent, unsent)."""
    return count(engine, "outbox"), count(engine, "outbox", SENT), count(engine, "outbox", UNSENT)


class DiesOnce:
    """The process dies once, at ``where``: before the turn is stored (the worker never gets
    to run it) or after it is stored and before its reply is sent (the delivery of the
    outbox row). Simulated by an exception there, as a crash would leave the database."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
        self.died = 0
        owner, name = (Worker, "process") if where == "before-stored" else (Deliverer, "deliver")
        real = getattr(owner, name)

        def dying(instance: Any, *args: Any, **kwargs: Any) -> Any:
            if not self.died:
                self.died += 1
                raise RuntimeError("the process died here")
            return real(instance, *args, **kwargs)

        monkeypatch.setattr(owner, name, dying)


CRASH_POINTS = ["before-stored", "after-stored-before-sent"]


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
    replies = 1 if methods else 0  # every fixture answered is answered with one reply
    assert _outbox(bot.engine) == (replies, replies, 0)


def test_telegram_llm_turn_delivered_again_while_it_still_thinks_has_one_effect(
        tg: TelegramBot, model: FakeOpenAI) -> None:
    """Telegram delivers an update again when its webhook has not answered in time: here
    four more times while the first delivery waits on the model. The redeliveries wait behind
    it (the same conversation), then find it done: one model call, one "typing…", one
    answer."""
    reset_process_state()
    gate = threading.Event()
    model.script(gated(gate, says("Noted.")))
    update = private_text("the plumber comes at 3")
    def delivered() -> Any:
        return tg.post(update)["statusCode"]

    first, statuses = on_threads([delivered])
    again: list[threading.Thread] = []
    try:
        wait_until(lambda: len(model.bodies) == 1, "the first delivery to be thinking")
        again, more = on_threads([delivered] * (TIMES - 1))
        wait_until(lambda: waiting_here() == TIMES - 1, "the redeliveries to wait behind it")
        assert statuses + more == []
    finally:
        gate.set()
    for thread in first + again:
        thread.join(60)

    assert statuses + more == [200] * TIMES
    assert len(model.bodies) == 1
    assert tg.api.methods() == ["sendChatAction", "sendMessage"]
    assert tg.api.sent_texts() == ["Noted."]
    assert (tg.rows("messages"), tg.rows("delivery_claims")) == (2, 1)
    assert _outbox(tg.engine) == (1, 1, 0)


@pytest.mark.parametrize("where", CRASH_POINTS)
def test_telegram_update_whose_first_delivery_died_has_one_effect_on_redelivery(
        bot: TelegramBot, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    dies = DiesOnce(monkeypatch, where)
    update = private_text("/add renew the passport")

    first = bot.post(update)["statusCode"]
    stored = bot.rows("delivery_claims")
    again = [bot.post(update)["statusCode"] for _ in range(TIMES - 1)]

    assert dies.died == 1
    assert (first, stored) == (500, 0 if where == "before-stored" else 1)
    assert again == [200] * (TIMES - 1)
    assert bot.api.sent_texts() == ["Added #1: renew the passport"]
    assert (bot.rows("tasks"), bot.rows("messages"), bot.rows("delivery_claims")) == (1, 2, 1)
    assert _outbox(bot.engine) == (1, 1, 0)


# -- Slack ------------------------------------------------------------------------------------

RETRIED_CASES = [c for c in SLACK_CASES if c.fixture != "retry_headers_example.json"]


def _slack_effect_is_one(slack: SlackHarness, engine: Engine, case: Case) -> None:
    assert tuple(slack.fake.summary()) == case.slack_calls
    assert count(engine, "messages") == case.messages
    assert count(engine, "tasks") == 0
    replies = len(case.slack_calls)
    assert _outbox(engine) == (replies, replies, 0)


@pytest.mark.parametrize("case", RETRIED_CASES, ids=[c.fixture for c in RETRIED_CASES])
def test_every_slack_fixture_retried_three_times_has_one_effect(
        slack: SlackHarness, engine: Engine, case: Case) -> None:
    statuses = [deliver_slack(slack, case.fixture)["statusCode"]] + [
        deliver_slack(slack, case.fixture, headers)["statusCode"] for headers in SLACK_RETRIES]

    assert statuses == [case.status] * (1 + len(SLACK_RETRIES))
    _slack_effect_is_one(slack, engine, case)


@pytest.mark.parametrize("case", RETRIED_CASES, ids=[c.fixture for c in RETRIED_CASES])
def test_every_slack_fixture_and_its_three_retries_at_once_have_one_effect(
        slack: SlackHarness, engine: Engine, case: Case) -> None:
    """The retries arriving while the first delivery is still being handled (Slack retries
    after 3 s without an answer, whatever the first attempt is doing meanwhile)."""
    def delivered(headers: dict[str, str] | None) -> Any:
        return deliver_slack(slack, case.fixture, headers)["statusCode"]

    statuses = run_concurrently([partial(delivered, h) for h in [None, *SLACK_RETRIES]])

    assert statuses == [case.status] * (1 + len(SLACK_RETRIES))
    _slack_effect_is_one(slack, engine, case)


def test_slack_llm_turn_retried_while_it_still_thinks_has_one_effect(
        slack: SlackHarness, model: FakeOpenAI, engine: Engine, reset_slack: Any) -> None:
    """A DM for the LLM; while the first delivery waits on the model, Slack retries it with
    each reason (http_timeout first: the first attempt is still running). The retries are
    enqueued, wait behind the first (the same conversation) and find it done: one model call,
    one answer."""
    reset_slack()
    gate = threading.Event()
    model.script(gated(gate, says("Noted.")))

    def delivered(headers: dict[str, str] | None) -> Any:
        return slack.dm("the plumber comes at 3", event_id="EvREDELIVER",
                        extra_headers=headers)["statusCode"]

    first, statuses = on_threads([partial(delivered, None)])
    retries: list[threading.Thread] = []
    try:
        wait_until(lambda: len(model.bodies) == 1, "the first delivery to be thinking")
        retries, more = on_threads([partial(delivered, h) for h in SLACK_RETRIES])
        wait_until(lambda: waiting_here() == len(SLACK_RETRIES), "the retries to wait")
        assert statuses + more == []
    finally:
        gate.set()
    for thread in first + retries:
        thread.join(60)

    assert statuses + more == [200] * (1 + len(SLACK_RETRIES))
    assert len(model.bodies) == 1
    assert slack.fake.summary() == ["chat.postMessage"]
    assert slack.fake.calls_to("chat.postMessage")[0].params["text"] == "Noted."
    assert (count(engine, "messages"), count(engine, "delivery_claims")) == (2, 1)
    assert _outbox(engine) == (1, 1, 0)


@pytest.mark.parametrize("reason", RETRY_REASONS)
@pytest.mark.parametrize("where", CRASH_POINTS)
def test_slack_event_whose_first_attempt_died_is_run_by_its_retry(
        slack: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch, where: str,
        reason: str) -> None:
    """The first attempt died (after Slack's 3 s, for ``http_timeout``: Slack retries whether
    or not we answered); its retry, whatever the reason, runs the turn or sends its stored
    reply: one task, one answer. (Before issue 9, http_timeout retries were acknowledged and
    dropped, and such a DM was lost.)"""
    dies = DiesOnce(monkeypatch, where)
    said = "add renew the passport"

    first = slack.dm(said, event_id="EvDIED")["statusCode"]
    stored = count(engine, "delivery_claims")
    retry = slack.dm(said, event_id="EvDIED", extra_headers={
        "x-slack-retry-num": "1", "x-slack-retry-reason": reason})["statusCode"]
    later = slack.dm(said, event_id="EvDIED", extra_headers={
        "x-slack-retry-num": "2", "x-slack-retry-reason": reason})["statusCode"]

    assert dies.died == 1
    assert (first, stored) == (500, 0 if where == "before-stored" else 1)
    assert (retry, later) == (200, 200)
    assert slack.fake.summary() == ["chat.postMessage"]
    assert (count(engine, "tasks"), count(engine, "messages"),
            count(engine, "delivery_claims")) == (1, 2, 1)
    assert _outbox(engine) == (1, 1, 0)
