"""Replies through handler() when Slack fails as it does: 429 with Retry-After, 5xx, slow
answers, a response_url that is gone, a refusal. Every reply is an outbox row; what users see
is what the fake *accepted* — each reply exactly once, never lost.

With the in-process queue a short wait (Retry-After up to 2 s) is retried before handler()
returns; a longer one is the scheduler sweep's (``handlers.scheduler.sweep``), here with the
root's clock moved instead of waiting. Orderings use the fake's arrival times with generous
margins, never tight timings.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot_core.outbox import OutboxItem, SendOutcome
from handlers.composition import Root
from tests.conftest import count
from tests.fakes.clock import SetClock
from tests.fakes.openai_server import FakeOpenAI, says
from tests.fakes.slack_api import (
    PASS,
    RESPONSE_URL,
    RESPONSE_URL_MAX_POSTS,
    hook_expired,
    hook_ratelimited,
    hook_server_error,
    ratelimited,
    server_error,
    slow,
)
from tests.slack.harness import SlackHarness, fixture_json

InstallRoot = Callable[..., Root]
RETRY = fixture_json("retry_headers_example.json")  # X-Slack-Retry-Reason: http_timeout


@pytest.fixture
def clock() -> SetClock:
    return SetClock(datetime.now(UTC))


def sweep(root: Root) -> Any:
    """One scheduler sweep on ``root`` (imported here: importing the scheduler's module
    builds the process's root from the environment, as Lambda's INIT does)."""
    from handlers.scheduler import sweep as scheduler_sweep

    return scheduler_sweep(root)


def _rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text(
            "SELECT id, delivery_key, attempts, progress, failure, sent_at, failed_at "
            "FROM outbox ORDER BY id"))]


def _state(row: dict[str, Any]) -> str:
    return "sent" if row["sent_at"] else "failed" if row["failed_at"] else "pending"


def _texts(slack: SlackHarness, method: str = "chat.postMessage") -> list[str]:
    return [c.params["text"] for c in slack.fake.accepted(method)]


# -- chat.postMessage: rate limits, 5xx, slow answers ------------------------------------------


def test_429_then_500_then_ok_answers_the_dm_once_after_retry_after(
    slack: SlackHarness, engine: Engine
) -> None:
    slack.fake.script("chat.postMessage", ratelimited(retry_after=1), server_error(500))
    assert slack.dm("/add Buy milk")["statusCode"] == 200
    # handler() returned after the reply went out: 429, then (after Retry-After) a 500 that
    # slack_sdk retried at once, then accepted.
    assert slack.fake.statuses("chat.postMessage") == [429, 500, 200]
    assert _texts(slack) == ["Added #1: Buy milk"]
    limited, failed, _ = slack.fake.exchanges_with("chat.postMessage")
    assert failed.at - limited.at >= 0.9  # Retry-After: 1 honoured (a lower bound only)
    (row,) = _rows(engine)
    assert _state(row) == "sent" and row["attempts"] == 2
    assert count(engine, "tasks") == 1 and count(engine, "messages") == 2


def test_a_long_retry_after_is_left_to_the_scheduler(
    slack: SlackHarness, engine: Engine, install_root: InstallRoot, clock: SetClock
) -> None:
    root = install_root(clock=clock)
    slack.fake.script("chat.postMessage", ratelimited(retry_after=30))
    assert slack.dm("/add Buy milk")["statusCode"] == 200  # not held for 30 s
    assert slack.fake.statuses("chat.postMessage") == [429]
    (row,) = _rows(engine)
    assert _state(row) == "pending" and row["failure"] == "429 rate limited"
    # Not before Slack said: a sweep now sends nothing.
    clock.advance(20)
    assert sweep(root).retried == 0
    assert slack.fake.statuses("chat.postMessage") == [429]
    clock.advance(11)
    report = sweep(root)
    assert (report.retried, report.still_unsent) == (1, 0)
    assert _texts(slack) == ["Added #1: Buy milk"]
    assert _state(_rows(engine)[0]) == "sent"
    clock.advance(3600)
    sweep(root)
    assert len(slack.fake.calls_to("chat.postMessage")) == 2  # the 429 and the one sent


def test_5xx_beyond_the_inline_retry_is_sent_by_the_scheduler_once(
    slack: SlackHarness, engine: Engine, install_root: InstallRoot, clock: SetClock
) -> None:
    root = install_root(clock=clock)
    slack.fake.script("chat.postMessage", server_error(503), server_error(503))
    assert slack.mention("/add Book the room")["statusCode"] == 200
    assert slack.fake.statuses("chat.postMessage") == [503, 503]  # slack_sdk's one retry
    assert _state(_rows(engine)[0]) == "pending"
    clock.advance(60)
    sweep(root)
    (post,) = slack.fake.accepted("chat.postMessage")
    assert post.params["text"] == "Added #1: Book the room"
    assert post.params["thread_ts"]  # still in the mention's thread
    assert _state(_rows(engine)[0]) == "sent"


def test_a_timed_out_post_is_sent_again_by_the_scheduler(
    slack: SlackHarness, engine: Engine, install_root: InstallRoot, clock: SetClock
) -> None:
    """chat.postMessage answering after the client gave up (1 s here): the reply is not lost;
    the scheduler sends it again. Slack may well have carried out the first request — it has
    no idempotency key — so this is the one place a reply can show twice (at least once, by
    choice: the alternative loses replies)."""
    root = install_root(clock=clock, slack_timeout=1)
    slack.fake.script("chat.postMessage", slow(2.5))
    assert slack.dm("/add Buy milk")["statusCode"] == 200
    (row,) = _rows(engine)
    assert _state(row) == "pending" and "Timeout" in str(row["failure"])
    clock.advance(60)
    sweep(root)
    assert _state(_rows(engine)[0]) == "sent"
    assert _texts(slack) == ["Added #1: Buy milk"] * 2  # the slow one did arrive as well


# -- response_url ---------------------------------------------------------------------------


@pytest.mark.parametrize("gone", ["expired", "used_up", "answered_404"])
def test_a_response_url_that_is_gone_answers_in_a_dm(
    slack: SlackHarness, engine: Engine, gone: str
) -> None:
    """A response_url lasts 30 minutes and takes 5 messages; after that Slack answers 404."""
    url = slack.fake.hook_url()
    if gone == "expired":
        slack.fake.expire(url)
    elif gone == "used_up":
        from slack_sdk.webhook import WebhookClient

        for n in range(RESPONSE_URL_MAX_POSTS):  # five earlier answers used it up
            assert WebhookClient(url).send(text=f"earlier {n}").status_code == 200
    else:
        slack.fake.script(RESPONSE_URL, hook_expired())
    before = len(slack.fake.exchanges_with(RESPONSE_URL))
    assert slack.command("add Buy milk", user="W111", channel="C111",
                         response_url=url)["statusCode"] == 200
    assert slack.fake.statuses(RESPONSE_URL)[before:] == [404]
    (dm,) = slack.fake.accepted("chat.postMessage")
    assert dm.params["channel"] == "W111"  # the user's DM with the bot
    assert dm.params["text"] == "Added #1: Buy milk"
    assert len(slack.answers(url)) == (RESPONSE_URL_MAX_POSTS if gone == "used_up" else 0)
    (row,) = _rows(engine)
    assert _state(row) == "sent"


def test_a_three_part_list_finishes_later_without_repeating_part_one(
    slack: SlackHarness, engine: Engine, install_root: InstallRoot, clock: SetClock
) -> None:
    root = install_root(clock=clock)
    for n in range(1, 56):  # 24 + 25 + 6 tasks: three messages
        slack.command(f"add Task number {n}")
    url = slack.fake.hook_url()
    before = len(slack.fake.exchanges_with(RESPONSE_URL))
    slack.fake.script(RESPONSE_URL, PASS, hook_server_error(503), hook_server_error(503))
    assert slack.command("list", response_url=url)["statusCode"] == 200
    assert [e.status for e in slack.fake.exchanges_with(RESPONSE_URL)[before:]] == [
        200, 503, 503]
    assert len(slack.answers(url)) == 1
    row = _rows(engine)[-1]
    assert _state(row) == "pending" and row["progress"] == 1
    clock.advance(60)
    sweep(root)
    assert [e.status for e in slack.fake.exchanges_with(RESPONSE_URL)[before:]] == [
        200, 503, 503, 200, 200]
    parts = slack.answers(url)
    assert len(parts) == 3
    assert [p["text"] for p in parts][1:] == ["(continued)", "(continued)"]
    numbers = [b["block_id"] for p in parts for b in p["blocks"] if b["type"] == "actions"]
    assert numbers == [f"task-{n}" for n in range(1, 56)]  # each task once, in order
    assert _state(_rows(engine)[-1]) == "sent"


def test_a_rate_limited_response_url_is_retried_after_its_retry_after(
    slack: SlackHarness, engine: Engine
) -> None:
    url = slack.fake.hook_url()
    slack.fake.script(RESPONSE_URL, hook_ratelimited(retry_after=1))
    assert slack.command("add Buy milk", response_url=url)["statusCode"] == 200
    first, second = slack.fake.exchanges_with(RESPONSE_URL)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.9
    assert [m["text"] for m in slack.answers(url)] == ["Added #1: Buy milk"]
    assert _state(_rows(engine)[0]) == "sent"


# -- refusals ----------------------------------------------------------------------------


def test_channel_not_found_is_refused_and_never_retried(
    slack: SlackHarness, engine: Engine, install_root: InstallRoot, clock: SetClock
) -> None:
    root = install_root(clock=clock)
    slack.fake.fail("chat.postMessage", "channel_not_found")
    assert slack.dm("/add Buy milk", event_id="EvGONE0001")["statusCode"] == 200
    (row,) = _rows(engine)
    assert _state(row) == "failed" and row["failure"] == "channel_not_found"
    assert count(engine, "tasks") == 1  # the turn itself stands
    clock.advance(3600)
    assert sweep(root).retried == 0
    slack.dm("/add Buy milk", event_id="EvGONE0001", extra_headers=RETRY)
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert _texts(slack) == []


# -- a reply stored but never sent: Slack's retry sends it ---------------------------------


class ExplodingSender:
    """A sender with a bug: raises for every row."""

    def send(self, item: OutboxItem) -> SendOutcome:
        raise RuntimeError("boom")

    @contextmanager
    def thinking(self, target: Mapping[str, Any]) -> Iterator[None]:
        yield


@pytest.mark.parametrize("senders", ["none", "exploding"])
def test_a_timed_out_retry_sends_the_stored_reply_once_and_makes_no_second_turn(
    slack: SlackHarness, engine: Engine, install_root: InstallRoot, reset_slack: object,
    senders: str,
) -> None:
    """The first attempt stored the turn and its reply but never sent it (the process died
    after the commit, or its sender failed); Slack, without a timely ack, retries the event
    (http_timeout). The retry finds the delivery claimed and sends what is still unsent."""
    install_root(senders={} if senders == "none" else {"slack": ExplodingSender()})
    assert slack.dm("/add Buy milk", event_id="EvLOST0001")["statusCode"] == 200
    assert slack.fake.summary() == []
    (row,) = _rows(engine)
    assert _state(row) == "pending"
    reset_slack()  # type: ignore[operator]  # the next container: a normal root
    assert slack.dm("/add Buy milk", event_id="EvLOST0001",
                    extra_headers=RETRY)["statusCode"] == 200
    assert _texts(slack) == ["Added #1: Buy milk"]
    assert count(engine, "messages") == 2 and count(engine, "tasks") == 1
    assert _state(_rows(engine)[0]) == "sent"
    slack.dm("/add Buy milk", event_id="EvLOST0001",
             extra_headers=RETRY | {"x-slack-retry-num": "2"})
    assert len(slack.fake.calls_to("chat.postMessage")) == 1


def test_a_retry_of_an_unsent_llm_answer_does_not_ask_the_model_again(
    slack: SlackHarness, llm: FakeOpenAI, engine: Engine, install_root: InstallRoot,
    reset_slack: object,
) -> None:
    llm.script(says("Passport first, then the dentist."))
    install_root(senders={})
    assert slack.dm("what should I do first?", event_id="EvLOST0002")["statusCode"] == 200
    assert len(llm.bodies) == 1 and slack.fake.summary() == []
    reset_slack()  # type: ignore[operator]
    assert slack.dm("what should I do first?", event_id="EvLOST0002",
                    extra_headers=RETRY)["statusCode"] == 200
    assert _texts(slack) == ["Passport first, then the dentist."]
    assert len(llm.bodies) == 1
    assert count(engine, "messages") == 2


# -- App Home ------------------------------------------------------------------------------


def _home_opened(user: str = "W111") -> dict[str, Any]:
    payload = fixture_json("event_callback_app_mention_bolt.json")
    payload["event"] = {"type": "app_home_opened", "user": user, "channel": "D0HOME",
                        "tab": "home", "event_ts": "1595926230.009600"}
    payload["event_id"] = f"EvHOME{user}"
    return payload


def test_a_rate_limited_home_tab_is_published_once(slack: SlackHarness, engine: Engine) -> None:
    """views.publish answering 429: the Home tab is published once, after Retry-After, and no
    copy of the view is left in the outbox to be published again (stale) later."""
    slack.command("add Buy milk")
    slack.fake.script("views.publish", ratelimited(retry_after=1))
    assert slack.send_json(_home_opened())["statusCode"] == 200
    assert slack.fake.statuses("views.publish") == [429, 200]
    (publish,) = slack.fake.accepted("views.publish")
    assert "Buy milk" in json.dumps(publish.params["view"])
    _command, *homes = _rows(engine)
    assert [(r["delivery_key"], _state(r)) for r in homes] == [("home:EvHOMEW111", "sent")]
