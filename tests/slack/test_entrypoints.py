"""The entry points themselves: a cheap import, no network when the composition root and the
Bolt app are built (in process, and at INIT in a fresh interpreter), Bolt's Lambda adapter on
API Gateway 2.0 details, and the same app behind the local server (``todobot serve``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from tests.conftest import count
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import (
    BOT_TOKEN,
    FORM,
    SIGNING_SECRET,
    SlackHarness,
    apigw_event,
    fixture_json,
    fixture_text,
    rewrite_form_response_url,
    signed_headers,
)

ROOT = Path(__file__).resolve().parents[2]
DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


def test_importing_the_handler_is_cheap() -> None:
    probe = ("import sys, handlers.slack; print(sorted(m for m in "
             "('slack_bolt', 'slack_sdk', 'boto3', 'botocore', 'sqlmodel', 'sqlalchemy', "
             "'openai', 'bot_core.service') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_building_the_app_touches_no_network(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch, reset_slack: object
) -> None:
    """The root builds every part the Slack function and the worker use without a network
    call: no auth.test, no database connection (the database here does not even exist)."""
    from handlers import composition

    monkeypatch.setenv("DATABASE_URL", DEAD_DATABASE)
    reset_slack()  # type: ignore[operator]
    from handlers.slack.function import lambda_adapter

    root = composition.root()
    lambda_adapter(root)
    root.warm("bolt_app", "queue", "worker", "deliverer", "senders", "outbox", "service")
    assert slack.fake.calls == []
    # url_verification does not need the token (nor the database) either.
    assert slack.send_json(fixture_json("url_verification.json"))["statusCode"] == 200
    assert slack.fake.calls == []


def test_the_function_builds_its_stack_at_init_without_network(fake_slack: FakeSlack) -> None:
    """Importing ``handlers.slack.function`` in a fresh interpreter (Lambda's INIT) builds the
    root, the Bolt app, its Lambda adapter and the queue, and calls nothing: Slack's fake
    records no request and the database (unreachable) is never connected to."""
    probe = ("import handlers.slack.function as f; from handlers import composition; "
             "root = composition.root(); "
             "assert {'bolt_app', 'slack_lambda_adapter', 'queue'} <= set(root._parts), "
             "sorted(root._parts); print('built')")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "TODOBOT_", "OPENAI_", "DATABASE_URL"))}
    env |= {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_BASE_URL": fake_slack.base_url, "DATABASE_URL": DEAD_DATABASE}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "built"
    assert fake_slack.calls == []


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


def _local_server() -> TestClient:
    """``todobot serve``'s app (uvicorn's): the same root and Bolt app as the Lambda."""
    from handlers import composition
    from handlers.http_app import build_app

    return TestClient(build_app(composition.root(), local=True))


def test_asgi_endpoint_serves_the_same_app(slack: SlackHarness, engine: Engine) -> None:
    with _local_server() as client:
        challenge = json.dumps(fixture_json("url_verification.json"))
        answered = client.post("/slack/events", content=challenge,
                               headers=signed_headers(challenge))
        assert answered.status_code == 200
        assert fixture_json("url_verification.json")["challenge"] in answered.text
        forged = client.post("/slack/events", content=challenge,
                             headers=signed_headers(challenge, secret="nope"))
        assert forged.status_code == 401
        url = slack.fake.hook_url()
        command = rewrite_form_response_url(
            fixture_text("slash_command_bolt.txt"), url
        ).replace("text=Hi", "text=add+Buy+milk")
        added = client.post("/slack/events", content=command,
                            headers=signed_headers(command, content_type=FORM))
        assert added.status_code == 200
        assert added.text == ""  # acknowledged; answered through response_url
        # With the in-process queue the answer went out before the request was answered.
        (answer,) = slack.answers(url)
        assert answer["text"] == "Added #1: Buy milk"
        assert answer["response_type"] == "ephemeral"
        assert client.get("/healthz").json() == {"ok": True}
    assert count(engine, "tasks") == 1


def test_asgi_llm_turn_is_answered_before_the_request_returns(
    slack: SlackHarness, engine: Engine
) -> None:
    """Locally (the in-process queue) the turn and its reply run inside the request: when the
    server answers, chat.postMessage has been called and the outbox row is sent."""
    body = json.dumps(fixture_json("event_callback_message_im_docs.json"))
    with _local_server() as client:
        assert client.post("/slack/events", content=body,
                           headers=signed_headers(body)).status_code == 200
        (post,) = slack.fake.accepted("chat.postMessage")
        assert post.params["channel"] == "D024BE91L"
        assert count(engine, "messages") == 2
        assert count(engine, "outbox", "sent_at IS NOT NULL") == 1


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
