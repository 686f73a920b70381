"""Every payload in ../shared/fixtures/slack/ through handler() in an API Gateway 2.0 event,
signed as Slack signs it: the status, the Slack calls it caused and the rows it wrote.

The table is also the closing note's fixture table. Outside Lambda the in-process queue runs
each turn and sends its reply before handler() returns; the same deliveries on the SQS path
(acked first, answered by the worker) are tests/pipeline's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy import Engine

from tests.conftest import count
from tests.slack.harness import (
    FORM,
    SlackHarness,
    apigw_event,
    fixture_json,
    fixture_text,
    interactivity_body,
    payload_of,
    rewrite_form_response_url,
    signed_headers,
)


@dataclass(frozen=True)
class Case:
    fixture: str
    status: int
    slack_calls: tuple[str, ...]
    messages: int  # rows in `messages` afterwards (a turn stores two)


CASES = [
    Case("url_verification.json", 200, (), 0),
    Case("event_callback_app_mention_docs.json", 200, ("chat.postMessage",), 2),
    Case("event_callback_app_mention_bolt.json", 200, ("chat.postMessage",), 2),
    Case("event_callback_message_im_docs.json", 200, ("chat.postMessage",), 2),
    Case("event_callback_message_channel_user.json", 200, (), 0),
    Case("event_callback_message_bot_id.json", 200, (), 0),
    Case("event_callback_message_subtype_bot_message.json", 200, (), 0),
    Case("event_callback_message_changed.json", 200, (), 0),
    Case("block_actions.json", 200, (), 0),
    Case("block_actions_form_body.txt", 200, (), 0),
    Case("slash_command_bolt.txt", 200, ("response_url",), 2),
    Case("slash_command_signature_example.txt", 200, ("response_url",), 2),
    # Slack's redelivery after a timeout, of a DM we had not stored: run, not dropped.
    Case("retry_headers_example.json", 200, ("chat.postMessage",), 2),
]


def deliver(slack: SlackHarness, name: str, headers: dict[str, str] | None = None
            ) -> dict[str, object]:
    """Send fixture ``name`` as Slack would, with ``headers`` added (retry headers)."""
    hook = slack.fake.hook_url()
    if name == "retry_headers_example.json":
        # Slack's redelivery after a timeout: its headers on top of the DM fixture.
        payload = fixture_json("event_callback_message_im_docs.json")
        return slack.send_json(payload, extra_headers=fixture_json(name) | (headers or {}))
    if name == "block_actions.json":
        payload = fixture_json(name)
        payload["response_url"] = hook
        return slack.send_form(interactivity_body(payload), extra_headers=headers)
    if name == "block_actions_form_body.txt":
        payload = payload_of(fixture_text(name))
        payload["response_url"] = hook
        return slack.send_form(interactivity_body(payload), extra_headers=headers)
    if name.endswith(".txt"):
        return slack.send_form(rewrite_form_response_url(fixture_text(name), hook),
                               extra_headers=headers)
    return slack.send_json(fixture_json(name), extra_headers=headers)


@pytest.mark.parametrize("case", CASES, ids=[c.fixture for c in CASES])
def test_fixture_payload(slack: SlackHarness, engine: Engine, case: Case) -> None:
    response = deliver(slack, case.fixture)
    assert response["statusCode"] == case.status
    if case.slack_calls == ("response_url",):
        assert response.get("body", "") == ""  # the answer is not in the ack
    assert tuple(slack.fake.summary()) == case.slack_calls
    assert count(engine, "messages") == case.messages
    assert count(engine, "outbox") == len(case.slack_calls)
    assert count(engine, "outbox", "sent_at IS NOT NULL") == len(case.slack_calls)
    assert count(engine, "tasks") == 0
    if case.messages == 0:
        assert count(engine, "users") == 0
        assert count(engine, "delivery_claims") == 0


def test_url_verification_answers_the_challenge(slack: SlackHarness) -> None:
    response = slack.send_json(fixture_json("url_verification.json"))
    assert response["statusCode"] == 200
    body = response["body"]
    challenge = fixture_json("url_verification.json")["challenge"]
    assert challenge in (body if isinstance(body, str) else json.dumps(body))


def test_mention_is_answered_in_its_thread_without_the_mention(
    slack: SlackHarness, engine: Engine
) -> None:
    payload = fixture_json("event_callback_app_mention_docs.json")
    slack.send_json(payload)
    (post,) = slack.fake.calls_to("chat.postMessage")
    assert post.params["channel"] == "C123ABC456"
    assert post.params["thread_ts"] == payload["event"]["ts"]
    assert post.token == "xoxb-test-token"
    assert count(engine, "messages", "role = 'user' AND content = :c",
                 c="is it everything a river should be?") == 1
    assert count(engine, "conversations", "chat_key = :k",
                 k="T123ABC456:C123ABC456:1515449522.000016") == 1


def test_dm_conversation_is_the_dm_channel(slack: SlackHarness, engine: Engine) -> None:
    slack.send_json(fixture_json("event_callback_message_im_docs.json"))
    (post,) = slack.fake.calls_to("chat.postMessage")
    assert post.params["channel"] == "D024BE91L"
    assert "thread_ts" not in post.params
    assert count(engine, "conversations", "chat_key = :k", k="T123ABC456:D024BE91L") == 1
    assert count(engine, "chat_identities", "platform = 'slack' AND workspace = :w "
                 "AND external_user_id = :u", w="T123ABC456", u="U2147483697") == 1


def test_enterprise_grid_identity_uses_the_org(slack: SlackHarness, engine: Engine) -> None:
    slack.send_form(rewrite_form_response_url(fixture_text("slash_command_bolt.txt"),
                                              slack.fake.hook_url()))
    assert count(engine, "chat_identities", "workspace = 'E111' AND external_user_id = 'W111'"
                 ) == 1


def test_unparseable_signed_body_is_400_and_forged_one_401(
    slack: SlackHarness, engine: Engine
) -> None:
    garbage = '{"type": "event_callback", '
    assert slack.call(apigw_event(garbage, signed_headers(garbage)))["statusCode"] == 400
    forged = signed_headers(garbage, secret="not-the-secret")
    assert slack.call(apigw_event(garbage, forged))["statusCode"] == 401
    form = "payload=%7Bnot-json"
    signed = signed_headers(form, content_type=FORM)
    assert slack.call(apigw_event(form, signed, base64_body=True))["statusCode"] == 400
    assert count(engine, "users") == 0
