"""POST /slack/events through serverless-offline with Slack's own payloads, signed as Slack signs
them, on the queue path: Bolt verifies and acks (a slash command's ack is empty), the delivery
goes onto moto's SQS FIFO queue, and ``handlers.worker.handler``, invoked by
serverless-offline-sqs, answers through the response_url or chat.postMessage — once, Slack's
retries included. Forged requests are refused with nothing queued."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.conftest import FIXTURES, count
from tests.fakes.openai_server import calls, says
from tests.offline.conftest import SLACK_SIGNING_SECRET, Gate, Offline, unique_id
from tests.offline.stack import OfflineStack, Reply, wait_for

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
SLACK_FIXTURES = FIXTURES / "slack"
RETRY_HEADERS: dict[str, str] = json.loads(
    (SLACK_FIXTURES / "retry_headers_example.json").read_text())


@dataclass(frozen=True)
class Case:
    fixture: str
    slack_calls: tuple[str, ...]  # what Slack received, in order (FakeSlack.summary())
    messages: int  # rows in `messages` afterwards (a turn stores two)


# As tests/slack/test_fixtures.py has them for the in-process queue; here the worker answers.
CASES = [
    Case("url_verification.json", (), 0),
    Case("event_callback_app_mention_docs.json", ("chat.postMessage",), 2),
    Case("event_callback_app_mention_bolt.json", ("chat.postMessage",), 2),
    Case("event_callback_message_im_docs.json", ("chat.postMessage",), 2),
    Case("event_callback_message_channel_user.json", (), 0),
    Case("event_callback_message_bot_id.json", (), 0),
    Case("event_callback_message_subtype_bot_message.json", (), 0),
    Case("event_callback_message_changed.json", (), 0),
    Case("block_actions.json", (), 0),
    Case("block_actions_form_body.txt", (), 0),
    Case("slash_command_bolt.txt", ("response_url",), 2),
    Case("slash_command_signature_example.txt", ("response_url",), 2),
    # Slack's redelivery after a timeout of a DM we had not stored: run, not dropped.
    Case("retry_headers_example.json", ("chat.postMessage",), 2),
]


def signed(body: str, content_type: str, secret: str = SLACK_SIGNING_SECRET) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature}


def send(stack: OfflineStack, body: str, content_type: str, *,
         secret: str = SLACK_SIGNING_SECRET, headers: dict[str, str] | None = None) -> Reply:
    return stack.post("/slack/events", body.encode(),
                      signed(body, content_type, secret) | (headers or {}))


def event(name: str = "event_callback_message_im_docs.json", **changes: Any) -> dict[str, Any]:
    """An Events API fixture with an event_id of its own (SQS deduplicates on it)."""
    payload: dict[str, Any] = json.loads((SLACK_FIXTURES / name).read_text())
    if payload.get("type") == "event_callback":
        payload["event_id"] = f"EvOFF{unique_id()}"
        payload["event"].update(changes)
    return payload


def form(body: str, hook: str, **fields: str) -> str:
    """A form-encoded fixture (a slash command) answering to ``hook``, with a trigger_id of
    its own."""
    values = dict(parse_qsl(body, keep_blank_values=True))
    values.update(response_url=hook, trigger_id=f"{unique_id()}.1.offline", **fields)
    return urlencode(values)


def slash_command(hook: str, text: str) -> str:
    """Bolt's slash-command fixture as ``/todo <text>``."""
    return form((SLACK_FIXTURES / "slash_command_bolt.txt").read_text(), hook,
                command="/todo", text=text)


def interactivity(payload: dict[str, Any]) -> str:
    return "payload=" + quote(json.dumps(payload))


def deliver(stack: Offline, name: str) -> Reply:
    """Fixture ``name`` as Slack would send it."""
    hook = stack.slack.hook_url()
    path = SLACK_FIXTURES / name
    if name == "retry_headers_example.json":
        return send(stack.stack, json.dumps(event()), JSON, headers=RETRY_HEADERS)
    if name == "block_actions.json":
        payload = json.loads(path.read_text()) | {"response_url": hook}
        return send(stack.stack, interactivity(payload), FORM)
    if name == "block_actions_form_body.txt":
        payload = json.loads(dict(parse_qsl(path.read_text()))["payload"])
        return send(stack.stack, interactivity(payload | {"response_url": hook}), FORM)
    if name.endswith(".txt"):
        return send(stack.stack, form(path.read_text(), hook), FORM)
    return send(stack.stack, json.dumps(event(name)), JSON)


def said(stack: Offline) -> list[str]:
    """The texts sent to Slack: response_url posts and chat.postMessage calls."""
    seen = [str(post.message.get("text", "")) for post in stack.slack.hook_posts]
    seen += [str(call.params.get("text", "")) for call in stack.slack.calls_to("chat.postMessage")]
    return seen


def test_every_fixture_has_a_case() -> None:
    names = {path.name for path in SLACK_FIXTURES.iterdir() if path.suffix in (".json", ".txt")}
    assert names - {"signature_example.json"} == {case.fixture for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=[c.fixture for c in CASES])
def test_fixture_payload(stack: Offline, case: Case) -> None:
    stack.openai.default = says("Noted.")

    reply = deliver(stack, case.fixture)

    assert reply.status == 200, stack.stack.log_tail()
    if case.slack_calls == ("response_url",):
        assert reply.body == b""  # the answer is not in the ack
    stack.settle()
    assert tuple(stack.slack.summary()) == case.slack_calls
    assert count(stack.engine, "messages") == case.messages
    assert count(stack.engine, "outbox") == len(case.slack_calls)
    assert count(stack.engine, "outbox", "sent_at IS NOT NULL") == len(case.slack_calls)


def test_the_url_verification_challenge_is_answered(stack: Offline) -> None:
    body = (SLACK_FIXTURES / "url_verification.json").read_text()

    reply = send(stack.stack, body, JSON)

    assert reply.status == 200
    assert json.loads(body)["challenge"] in reply.body.decode()


def test_a_slash_command_is_acked_empty_and_answered_by_the_worker(
        stack: Offline, capsys: pytest.CaptureFixture[str]) -> None:
    webhook_runs = len(stack.stack.durations("slack"))
    hook = stack.slack.hook_url()

    reply = send(stack.stack, slash_command(hook, "add buy milk"), FORM)

    assert reply.status == 200, stack.stack.log_tail()
    assert reply.body == b""
    assert reply.seconds < 3.0  # Slack's ack deadline (the function is warm: tens of ms)
    assert wait_for(lambda: stack.slack.hook_posts), stack.stack.log_tail()
    stack.settle()
    (post,) = stack.slack.hook_posts
    assert post.path.endswith(hook.rsplit("/hooks", 1)[1])
    assert post.message["text"] == "Added #1: buy milk"
    assert post.message["response_type"] == "ephemeral"
    assert count(stack.engine, "tasks", "title = 'buy milk'") == 1
    assert len(stack.stack.durations("slack")) == webhook_runs + 1
    with capsys.disabled():
        print(f"\nslack ack (queue path) under serverless-offline: {reply.seconds * 1000:.0f} ms")


def test_a_dm_is_acked_before_the_model_answers_and_answered_once(stack: Offline) -> None:
    gate = Gate(calls(("add_task", {"title": "renew my passport"})))
    stack.openai.script(gate, says("Added #1: renew my passport."))

    try:
        reply = send(stack.stack, json.dumps(event(text="remind me to renew my passport")),
                     JSON)
        assert reply.status == 200, stack.stack.log_tail()
        assert said(stack) == []
        assert gate.asked.wait(60), stack.stack.log_tail()  # the worker is in the turn
    finally:
        gate.open()

    assert wait_for(lambda: said(stack)), stack.stack.log_tail()
    stack.settle()
    assert said(stack) == ["Added #1: renew my passport."]
    (post,) = stack.slack.calls_to("chat.postMessage")
    assert post.params["channel"] == "D024BE91L"
    assert post.token == "xoxb-offline-token"  # the worker's, from SSM
    assert count(stack.engine, "tasks", "title = 'renew my passport'") == 1


def test_a_dm_and_its_timed_out_retries_run_once(stack: Offline) -> None:
    """Slack retries an event it thinks we were slow to ack: each retry is queued too, the
    queue's deduplication (slack + event id) keeps one, and the turn runs once."""
    stack.openai.script(calls(("add_task", {"title": "call mom"})), says("Added #1: call mom"))
    payload = json.dumps(event(text="remind me to call mom"))

    replies = [send(stack.stack, payload, JSON)]
    for retry in ("1", "2"):
        replies.append(send(stack.stack, payload, JSON, headers={
            "X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"}))

    assert [r.status for r in replies] == [200, 200, 200]
    assert wait_for(lambda: said(stack)), stack.stack.log_tail()
    stack.settle()
    assert said(stack) == ["Added #1: call mom"]
    assert count(stack.engine, "tasks") == 1
    assert count(stack.engine, "delivery_claims") == 1


def test_a_forged_request_is_refused_and_nothing_queued(stack: Offline) -> None:
    body = slash_command(stack.slack.hook_url(), "add forged")

    reply = send(stack.stack, body, FORM, secret="not-the-secret")

    assert reply.status == 401
    assert stack.aws.waiting() == 0
    assert count(stack.engine, "messages") == 0
    assert said(stack) == []
