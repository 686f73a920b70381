"""Signatures (Bolt's v0 HMAC check, 300 s window), Slack's documented test vector, and
redeliveries: forged and stale requests are 401 with nothing written, a retry after a timeout
is acknowledged without running again, a retry after our 5xx is run (once)."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import Engine

import handlers.slack
from tests.conftest import count
from tests.slack.harness import (
    FORM,
    FixedClock,
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
    slack: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch, reset_slack: object
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
    # ...with the clock at its timestamp it verifies, exactly as sent, and is answered:
    # an empty /webhook-collect is "/todo" alone, the open list, in the ack itself.
    handlers.slack.reset(clock=FixedClock(float(example["x_slack_request_timestamp"])))
    response = slack.call(apigw_event(body, headers, base64_body=True))
    assert response["statusCode"] == 200
    assert "Nothing open" in response["body"]
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


def test_retry_after_timeout_is_acknowledged_without_running_again(
    slack: SlackHarness, engine: Engine
) -> None:
    retry = fixture_json("retry_headers_example.json")
    first = slack.dm("what's open?", event_id="EvRETRY1")
    assert first["statusCode"] == 200
    assert slack.fake.methods == ["chat.postMessage"]
    again = slack.dm("what's open?", event_id="EvRETRY1", extra_headers=retry)
    assert again["statusCode"] == 200
    assert slack.fake.methods == ["chat.postMessage"]
    assert count(engine, "messages") == 2
    # A timed-out retry of something we never saw is not run either (the first delivery is
    # being answered elsewhere): acknowledged, nothing written.
    slack.dm("add milk", event_id="EvRETRY2", extra_headers=retry)
    assert count(engine, "messages") == 2


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
