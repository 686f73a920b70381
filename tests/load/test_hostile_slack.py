"""Property-based: any Slack request through ``handlers.slack.handler`` (API Gateway 2.0
events, signed as Slack signs them) — Events API JSON, slash-command form bodies,
interactivity payloads (block_actions with our buttons and others, shortcuts) — is answered
200 or 400, never 500 and never with an escaped exception; every stored turn is answered
and no reply is left unsent in the outbox; and a forged request (wrong secret, stale or missing
timestamp, tampered body, no signature) is 401 with nothing written and no Slack call made.

2,000 examples on SQLite and 200 on PostgreSQL, outside Lambda (the in-process queue runs every
turn before handler() returns, free text with the offline brain, so every kind of request
reaches the core).
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from tests.conftest import count
from tests.load.strategies import (
    interactivity_body,
    mutated,
    slack_event_body,
    slash_command_body,
)
from tests.slack.harness import FORM, JSON, SlackHarness, apigw_event, signed_headers

TABLES = ("users", "chat_identities", "conversations", "messages", "tasks", "delivery_claims",
          "outbox")
UNSENT = "sent_at IS NULL AND failed_at IS NULL"
FORGERIES = ["other-secret", "stale", "future", "tampered", "no-signature", "no-timestamp",
             "bad-version"]
CASES = settings(deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def slack_request(draw: st.DrawFn, hook: str) -> tuple[str, str, str]:
    """(kind, content type, body)."""
    kind = draw(st.sampled_from(["event", "event", "command", "interactivity"]))
    if kind == "event":
        return kind, JSON, json.dumps(draw(mutated(slack_event_body())))
    if kind == "command":
        return kind, FORM, draw(slash_command_body(hook))
    return kind, FORM, draw(interactivity_body(hook))


def _headers(body: str, content_type: str, forgery: str | None) -> tuple[str, dict[str, str]]:
    """The body as delivered and its headers: signed, or forged the way ``forgery`` says."""
    now = int(time.time())
    if forgery is None:
        return body, signed_headers(body, content_type=content_type)
    if forgery == "other-secret":
        return body, signed_headers(body, content_type=content_type, secret="other-secret")
    if forgery in ("stale", "future"):
        skew = -360 if forgery == "stale" else 360  # well past the 300 s window
        return body, signed_headers(body, content_type=content_type, timestamp=now + skew)
    headers = signed_headers(body, content_type=content_type)
    if forgery == "tampered":
        return body + " ", headers
    if forgery == "no-signature":
        del headers["x-slack-signature"]
    elif forgery == "no-timestamp":
        del headers["x-slack-request-timestamp"]
    else:
        headers["x-slack-signature"] = headers["x-slack-signature"].replace("v0=", "v1=")
    return body, headers


def _unsent(engine: Engine) -> dict[int, str]:
    """The outbox rows still pending: id -> why the last attempt failed (compared before and
    after each example: the database is shared by all examples)."""
    with engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT id, coalesce(failure, '') FROM outbox WHERE {UNSENT}")).all()
    return {int(r[0]): str(r[1]) for r in rows}


def _snapshot(engine: Engine) -> dict[str, int]:
    return {table: count(engine, table) for table in TABLES}


def deliver_and_check(slack: SlackHarness, engine: Engine, request: tuple[str, str, str],
                      forgery: str | None, base64_body: bool) -> None:
    kind, content_type, body = request
    before = _snapshot(engine)
    unsent_before = _unsent(engine)
    calls_before = len(slack.fake.server.requests)
    sent, headers = _headers(body, content_type, forgery)

    response: dict[str, Any] = slack.call(apigw_event(sent, headers, base64_body=base64_body))

    if forgery is not None:
        assert response["statusCode"] == 401, (forgery, response)
        assert _snapshot(engine) == before
        assert len(slack.fake.server.requests) == calls_before
        return
    assert response["statusCode"] in (200, 400), response
    left = {row: why for row, why in _unsent(engine).items() if row not in unsent_before}
    assert left == {}, "replies left unsent (outbox id: the last failure)"
    turn_stored = count(engine, "messages") > before["messages"]
    if turn_stored:  # the user heard back: in the ack itself, or through Slack
        assert response.get("body") or len(slack.fake.server.requests) > calls_before
    event(f"{kind}: {response['statusCode']}{', a turn stored and answered' * turn_stored}")


EXAMPLES = [("sqlite", 2000), ("postgresql", 200)]
"""Examples per database: the bulk on SQLite (cheap), a sample on PostgreSQL."""
requests_and_forgeries = st.tuples(
    st.one_of(st.none(), st.none(), st.none(), st.sampled_from(FORGERIES)), st.booleans())


@pytest.mark.parametrize(("db_url", "examples"), EXAMPLES, indirect=["db_url"])
def test_any_request(slack: SlackHarness, engine: Engine, examples: int) -> None:
    ran: list[None] = []  # examples run, counted (at least ``examples``)

    @settings(CASES, max_examples=examples)
    @given(data=st.data(), forged=requests_and_forgeries)
    def any_request(data: st.DataObject, forged: tuple[str | None, bool]) -> None:
        request = data.draw(slack_request(slack.fake.hook_url()))
        deliver_and_check(slack, engine, request, *forged)
        ran.append(None)

    any_request()
    assert len(ran) >= examples


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize(("event_id", "published"), [
    ("Ev\ud800", 1), ("Ev\x00x", 1), ("Ev" + "9" * 300, 0)],
    ids=["lone-surrogate", "nul", "past-the-column"])
def test_app_home_opened_with_an_event_id_slack_would_not_send(
        slack: SlackHarness, engine: Engine, event_id: str, published: int) -> None:
    """Found by the hypothesis suite: the App Home's delivery key was built from the raw
    event_id, outside the Inbound that cleans and bounds every other key, and the first query
    with it failed (a lone surrogate no encoder takes; longer than the column): 500, and Slack
    delivers it again. Now it is cleaned like the rest (the view published) or, too long for a
    key, the request is ignored like any other out-of-range payload."""
    body = {"token": "", "team_id": "T111", "api_app_id": "A0MDYCDME",
            "type": "event_callback", "event_id": event_id, "event_time": 1,
            "event": {"type": "app_home_opened", "channel": "D024BE91L",
                      "user": "U2147483697", "tab": "home"}}

    response = slack.send_json(body)

    assert response["statusCode"] == 200
    assert slack.fake.summary() == ["views.publish"] * published
    assert count(engine, "outbox") == published
    assert count(engine, "outbox", UNSENT) == 0
