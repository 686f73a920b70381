"""The entry points themselves: a cheap import, no network when the app is built, Bolt's
Lambda adapter on API Gateway 2.0 details, and the same app behind the local ASGI server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from tests.conftest import count
from tests.slack.harness import (
    FORM,
    SlackHarness,
    apigw_event,
    fixture_json,
    fixture_text,
    rewrite_form_response_url,
    signed_headers,
)

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_handler_is_cheap() -> None:
    probe = ("import sys, handlers.slack; print(sorted(m for m in "
             "('slack_bolt', 'slack_sdk', 'boto3', 'botocore', 'sqlmodel', 'sqlalchemy', "
             "'openai', 'bot_core.service') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_building_the_app_touches_no_network(slack: SlackHarness) -> None:
    from handlers.slack import _container

    _container()
    assert slack.fake.calls == []
    # url_verification does not need the token either.
    slack.send_json(fixture_json("url_verification.json"))
    assert slack.fake.calls == []


def test_auth_test_happens_once_per_container(slack: SlackHarness) -> None:
    slack.dm("what's open?")
    slack.dm("what's done?")
    assert [c.method for c in slack.fake.calls].count("auth.test") == 1


def test_plain_and_base64_bodies_and_mixed_case_headers(
    slack: SlackHarness, engine: Engine
) -> None:
    body = rewrite_form_response_url(fixture_text("slash_command_bolt.txt"),
                                     slack.fake.hook_url()).replace("text=Hi", "text=add+a")
    headers = {k.title(): v for k, v in signed_headers(body, content_type=FORM).items()}
    for base64_body in (False, True):
        event = apigw_event(body, headers, base64_body=base64_body)
        event["headers"] = headers  # as a hand-made test event might have them
        response = slack.call(event)
        assert response["statusCode"] == 200
    assert count(engine, "tasks") == 1  # same trigger_id: the second is a redelivery


def test_non_post_is_404(slack: SlackHarness) -> None:
    event = apigw_event("", {}, method="GET")
    assert slack.call(event)["statusCode"] == 404


def test_asgi_endpoint_serves_the_same_app(slack: SlackHarness, engine: Engine) -> None:
    from handlers.slack import slack_asgi_endpoint

    app = Starlette(routes=[Route("/slack/events", slack_asgi_endpoint, methods=["POST"])])
    with TestClient(app) as client:
        challenge = json.dumps(fixture_json("url_verification.json"))
        answered = client.post("/slack/events", content=challenge,
                               headers=signed_headers(challenge))
        assert answered.status_code == 200
        assert fixture_json("url_verification.json")["challenge"] in answered.text
        forged = client.post("/slack/events", content=challenge,
                             headers=signed_headers(challenge, secret="nope"))
        assert forged.status_code == 401
        command = rewrite_form_response_url(
            fixture_text("slash_command_bolt.txt"), slack.fake.hook_url()
        ).replace("text=Hi", "text=add+Buy+milk")
        added = client.post("/slack/events", content=command,
                            headers=signed_headers(command, content_type=FORM))
        assert added.status_code == 200
        assert added.json()["text"] == "Added #1: Buy milk"
    assert count(engine, "tasks") == 1


def test_asgi_llm_turn_is_answered_after_the_ack(slack: SlackHarness, engine: Engine) -> None:
    import time

    from handlers.slack import slack_asgi_endpoint

    app = Starlette(routes=[Route("/slack/events", slack_asgi_endpoint, methods=["POST"])])
    body = json.dumps(fixture_json("event_callback_message_im_docs.json"))
    with TestClient(app) as client:
        assert client.post("/slack/events", content=body,
                           headers=signed_headers(body)).status_code == 200
    deadline = time.monotonic() + 20
    while not slack.fake.calls_to("chat.postMessage") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert count(engine, "messages") == 2


def test_missing_or_empty_signing_secret_refuses_to_serve(
    slack: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch, reset_slack: object
) -> None:
    body = json.dumps(fixture_json("event_callback_message_im_docs.json"))
    for value in ("", None):
        if value is None:
            monkeypatch.delenv("SLACK_SIGNING_SECRET")
        else:
            monkeypatch.setenv("SLACK_SIGNING_SECRET", value)
        reset_slack()  # type: ignore[operator]
        forged = signed_headers(body, secret="anything")
        assert slack.call(apigw_event(body, forged))["statusCode"] == 500
    assert count(engine, "messages") == 0
