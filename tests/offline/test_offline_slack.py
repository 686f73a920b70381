"""POST /slack/events through serverless-offline with Slack's own payloads, signed as Slack signs
them: slash commands answered within the ack's invocation, a DM to the LLM acknowledged at once
and answered by Bolt's lazy listener in one asynchronous invocation through the offline Lambda
API, forged requests refused."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from tests.conftest import FIXTURES, count
from tests.fakes.openai_server import calls, says
from tests.offline.conftest import SLACK_SIGNING_SECRET, Offline
from tests.offline.stack import Reply, wait_for

FORM = "application/x-www-form-urlencoded"


def signed(body: str, content_type: str, secret: str = SLACK_SIGNING_SECRET) -> dict[str, str]:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature}


def post(stack: Offline, body: str, content_type: str, **kwargs: str) -> Reply:
    return stack.stack.post("/slack/events", body.encode(), signed(body, content_type, **kwargs))


def slash_command(stack: Offline, text: str) -> str:
    """Bolt's slash-command fixture as ``/todo <text>``, its response_url on the fake."""
    fields = dict(parse_qsl((FIXTURES / "slack" / "slash_command_bolt.txt").read_text(),
                            keep_blank_values=True))
    fields.update(command="/todo", text=text, response_url=stack.slack.hook_url())
    return urlencode(fields)


def dm(text: str) -> str:
    payload: dict[str, Any] = json.loads(
        (FIXTURES / "slack" / "event_callback_message_im_docs.json").read_text())
    payload["event"]["text"] = text
    payload["event_id"] = f"Ev{uuid.uuid4().hex[:10].upper()}"
    return json.dumps(payload)


def answers(stack: Offline) -> list[str]:
    """What the user saw: response_url posts and chat.postMessage texts."""
    seen = [str(post.message.get("text", "")) for post in stack.slack.hook_posts]
    seen += [str(call.params.get("text", "")) for call in stack.slack.calls_to("chat.postMessage")]
    return seen


def test_slash_commands_are_answered_in_the_ack(stack: Offline,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    invocations = len(stack.stack.durations("slack"))

    first = post(stack, slash_command(stack, "add buy milk"), FORM)
    second = post(stack, slash_command(stack, "list"), FORM)

    assert (first.status, second.status) == (200, 200), stack.stack.log()
    seen = " | ".join([first.body.decode(), second.body.decode(), *answers(stack)])
    assert "buy milk" in seen
    assert count(stack.engine, "tasks", "title = :t", t="buy milk") == 1
    assert len(stack.stack.durations("slack")) == invocations + 2  # nothing deferred
    with capsys.disabled():
        print(f"\nslack ack under serverless-offline: first request "
              f"{first.seconds * 1000:.0f} ms, warm {second.seconds * 1000:.0f} ms")


def test_a_forged_request_is_refused_and_nothing_written(stack: Offline) -> None:
    reply = post(stack, slash_command(stack, "add forged"), FORM, secret="not-the-secret")

    assert reply.status == 401
    assert count(stack.engine, "messages") == 0
    assert answers(stack) == []


def test_a_dm_is_answered_once_by_the_lazy_listener(stack: Offline,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    stack.openai.script(calls(("add_task", {"title": "renew my passport"})),
                        says("Added #1: renew my passport."))
    invocations = len(stack.stack.durations("slack"))

    reply = post(stack, dm("remind me to renew my passport"), "application/json")

    assert reply.status == 200, stack.stack.log()
    assert wait_for(lambda: stack.slack.calls_to("chat.postMessage")), stack.stack.log()
    assert wait_for(lambda: len(stack.stack.durations("slack")) >= invocations + 2)
    durations = stack.stack.durations("slack")[invocations:]
    assert len(durations) == 2, stack.stack.log()  # the ack, then one lazy invocation
    assert [c.params.get("text") for c in stack.slack.calls_to("chat.postMessage")] == \
        ["Added #1: renew my passport."]
    assert len(stack.openai.bodies) == 2
    assert count(stack.engine, "tasks", "title = :t", t="renew my passport") == 1
    assert count(stack.engine, "messages", "role = 'assistant'") == 1
    with capsys.disabled():
        print(f"\nslack DM: acknowledged in {reply.seconds * 1000:.0f} ms; invocations "
              f"{', '.join(f'{d:.0f} ms' for d in durations)} (ack, lazy listener)")
