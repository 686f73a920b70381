"""Signatures (Bolt's v0 HMAC check, 300 s window), Slack's documented test vector, and
redeliveries: forged and stale requests are 401 with nothing written; a retry, whatever its
reason (http_timeout included), is run through the delivery claim: once, never twice, never
dropped unrun."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from tests.conftest import count
from tests.slack.harness import (
    FORM,
    FixedClock,
    RecordingSender,
    SlackHarness,
    apigw_event,
    fixture_json,
    fixture_text,
    signed_headers,
)

DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


def _dm_body() -> str:
    return json.dumps(fixture_json("event_callback_message_im_docs.json"))


def test_forged_signature_is_401_and_nothing_is_written(
    slack: SlackHarness, engine: Engine
) -> None:
    body = _dm_body()
    headers = signed_headers(body, secret="someone-elses-secret")
    response = slack.call(apigw_event(body, headers))
    assert response["statusCode"] == 401
    assert slack.fake.calls == []  # not even auth.test
    assert count(engine, "users") == 0 and count(engine, "messages") == 0


def test_tampered_body_is_401(slack: SlackHarness, engine: Engine) -> None:
    body = _dm_body()
    headers = signed_headers(body)
    response = slack.call(apigw_event(body.replace("hear me", "pay me"), headers))
    assert response["statusCode"] == 401
    assert count(engine, "messages") == 0


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_stale_or_future_timestamp_is_401(slack: SlackHarness, engine: Engine, age: int) -> None:
    body = _dm_body()
    headers = signed_headers(body, timestamp=int(time.time()) - age)
    assert slack.call(apigw_event(body, headers))["statusCode"] == 401
    assert count(engine, "messages") == 0


def test_missing_signature_headers_are_401(slack: SlackHarness) -> None:
    body = _dm_body()
    assert slack.call(apigw_event(body, {"content-type": "application/json"}))["statusCode"] == 401


def test_slacks_documented_signature_example_verifies(
    slack: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch, reset_slack: object,
    install_root: Callable[..., object],
) -> None:
    example = fixture_json("signature_example.json")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", example["signing_secret"])
    reset_slack()  # type: ignore[operator]
    body = fixture_text(example["body_file"])
    headers = {
        "content-type": FORM,
        "x-slack-request-timestamp": example["x_slack_request_timestamp"],
        "x-slack-signature": example["x_slack_signature"],
    }
    # With the real clock the 2018 example is stale...
    assert slack.call(apigw_event(body, headers, base64_body=True))["statusCode"] == 401
    assert count(engine, "messages") == 0
    # ...with the clock at its timestamp it verifies, exactly as sent, and is answered: an
    # empty /webhook-collect is "/todo" alone, the open list, through its response_url. That
    # URL is Slack's own (signed, so not rewritable): a recording sender stands in for it.
    sender = RecordingSender()
    install_root(slack_clock=FixedClock(float(example["x_slack_request_timestamp"])),
                 senders={"slack": sender})
    response = slack.call(apigw_event(body, headers, base64_body=True))
    assert response["statusCode"] == 200
    assert response.get("body", "") == ""
    (answer,) = sender.items
    assert "Nothing open" in answer.reply.text
    assert json.loads(answer.target)["response_url"] == (
        "https://hooks.slack.com/commands/T1DC2JH3J/397700885554/96rGlfmibIGlgcZRskXaIFfN")
    assert count(engine, "chat_identities", "workspace = 'T1DC2JH3J' AND "
                 "external_user_id = 'U2CERLKJA'") == 1
    # One byte different: rejected even at the right time.
    tampered = body.replace("text=&", "text=x&")
    assert slack.call(apigw_event(tampered, headers, base64_body=True))["statusCode"] == 401


def test_documented_example_with_sdk_verifier() -> None:
    from slack_sdk.signature import SignatureVerifier

    example = fixture_json("signature_example.json")
    verifier = SignatureVerifier(example["signing_secret"],
                                 clock=FixedClock(float(example["x_slack_request_timestamp"])))
    body = fixture_text(example["body_file"])
    assert verifier.generate_signature(
        timestamp=example["x_slack_request_timestamp"], body=body
    ) == example["x_slack_signature"]
    assert verifier.is_valid(body, example["x_slack_request_timestamp"],
                             example["x_slack_signature"])


def test_a_timed_out_retry_runs_through_the_claim_once_and_is_never_dropped(
    slack: SlackHarness, engine: Engine
) -> None:
    """Slack retries an event it thinks we were slow to ack (X-Slack-Retry-Reason:
    http_timeout). The old gate acked such retries without running them, so a first attempt
    that died after Slack's 3 s was lost; now every retry is queued and the delivery claim
    makes it a no-op when the first attempt did run."""
    retry = fixture_json("retry_headers_example.json")
    first = slack.dm("what's open?", event_id="EvRETRY1")
    assert first["statusCode"] == 200
    assert slack.fake.methods == ["chat.postMessage"]
    again = slack.dm("what's open?", event_id="EvRETRY1", extra_headers=retry)
    assert again["statusCode"] == 200
    assert slack.fake.methods == ["chat.postMessage"]  # not answered twice
    assert count(engine, "messages") == 2  # no second turn
    # A timed-out retry of something we never stored (the first attempt died) is run.
    assert slack.dm("add milk", event_id="EvRETRY2", extra_headers=retry)["statusCode"] == 200
    assert count(engine, "messages") == 4
    assert count(engine, "tasks", "title = 'milk'") == 1
    assert slack.fake.methods == ["chat.postMessage", "chat.postMessage"]
    assert slack.fake.calls_to("chat.postMessage")[1].params["text"] == "Added #1: milk"
    # Its own retries (num 2, 3) change nothing more.
    for num in ("2", "3"):
        slack.dm("add milk", event_id="EvRETRY2",
                 extra_headers=retry | {"x-slack-retry-num": num})
    assert count(engine, "messages") == 4 and count(engine, "tasks") == 1
    assert len(slack.fake.methods) == 2


def test_database_outage_answers_500_and_slacks_retry_is_then_answered_once(
    slack: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch, db_url: str,
    reset_slack: object,
) -> None:
    """Outside Lambda the turn runs inline; a database error must not be acked as done:
    Slack retries an event answered with a 5xx (reason http_error) and that retry is run."""
    monkeypatch.setenv("DATABASE_URL", DEAD_DATABASE)
    reset_slack()  # type: ignore[operator]
    failed = slack.dm("add renew passport", event_id="EvOUTAGE")
    assert failed["statusCode"] == 500
    assert slack.fake.methods == []
    monkeypatch.setenv("DATABASE_URL", db_url)
    reset_slack()  # type: ignore[operator]
    retry = {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_error"}
    assert slack.dm("add renew passport", event_id="EvOUTAGE",
                    extra_headers=retry)["statusCode"] == 200
    assert count(engine, "tasks", "title = 'renew passport'") == 1
    assert slack.fake.methods == ["chat.postMessage"]
    retry["x-slack-retry-num"] = "2"
    assert slack.dm("add renew passport", event_id="EvOUTAGE",
                    extra_headers=retry)["statusCode"] == 200
    assert count(engine, "tasks") == 1
    assert slack.fake.methods == ["chat.postMessage"]


class _BuggyBrain:
    """A brain with a bug: raises what a malformed payload would raise."""

    def answer(self, request: object, tools: object) -> object:
        raise ValueError("a bug in the brain, not in Slack's payload")


def test_a_turn_that_fails_in_the_worker_answers_500_so_slack_delivers_it_again(
    slack: SlackHarness, engine: Engine, install_root: Callable[..., object],
    reset_slack: object,
) -> None:
    """With the in-process queue the turn runs inside the listener: an error there (here a
    ValueError, which a malformed payload also raises) is not the payload's fault and must not
    be acknowledged as done — Slack delivers the event again, and the retry is answered."""
    install_root(brain=_BuggyBrain())
    failed = slack.dm("what is on my list?", event_id="EvBUG0001")
    assert failed["statusCode"] == 500
    assert slack.fake.methods == [] and count(engine, "messages") == 0
    reset_slack()  # type: ignore[operator]  # fixed (the offline brain answers)
    retry = {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_error"}
    assert slack.dm("what is on my list?", event_id="EvBUG0001",
                    extra_headers=retry)["statusCode"] == 200
    assert slack.fake.methods == ["chat.postMessage"]
    assert count(engine, "messages") == 2
