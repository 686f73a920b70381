"""Building blocks of the Slack tests: signing, API Gateway 2.0 events, fixture loading,
response_url rewriting, and a harness that wires handler() to the loopback fakes."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from slack_sdk import WebClient
from slack_sdk.signature import Clock, SignatureVerifier

from bot_core.outbox import OutboxItem, SendOutcome, Sent
from bot_core.settings import Settings
from handlers.composition import Root
from handlers.delivery import ReplySender
from tests.conftest import FIXTURES
from tests.fakes.lambda_context import FakeLambdaContext
from tests.fakes.slack_api import BOT_USER_ID, FakeSlack

SIGNING_SECRET = "test-signing-secret-0123456789abcdef"
BOT_TOKEN = "xoxb-test-token"
FUNCTION_NAME = "todobot-slack"
SLACK_FIXTURES: Path = FIXTURES / "slack"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


class FixedClock(Clock):
    """The signature check's "now", pinned (Slack's documented example is from 2018)."""

    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def fixture_text(name: str) -> str:
    return (SLACK_FIXTURES / name).read_text(encoding="utf-8")


def fixture_json(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(fixture_text(name))
    return loaded


def signed_headers(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
    content_type: str = JSON, extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The headers Slack sends: v0 HMAC-SHA256 of ``v0:<ts>:<body>`` keyed with the secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
        "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
    headers.update(extra or {})
    return headers


def apigw_event(
    body: str, headers: dict[str, str], *, base64_body: bool = False,
    path: str = "/slack/events", method: str = "POST",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as Lambda receives it."""
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "cookies": ["seen=1"],
        "headers": {k.lower(): v for k, v in headers.items()} | {
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https",
            "content-length": str(len(body.encode())),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "3.3.3.3", "userAgent": headers.get("user-agent", "")},
            "requestId": uuid.uuid4().hex,
            "routeKey": f"{method} {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


def rewrite_form_response_url(body: str, url: str) -> str:
    """A slash command's form body with its response_url pointed at the fake."""
    fields = [(k, url if k == "response_url" else v)
              for k, v in parse_qsl(body, keep_blank_values=True)]
    return urlencode(fields)


def interactivity_body(payload: dict[str, Any]) -> str:
    """How Slack posts interactivity: one form field ``payload`` holding JSON."""
    return "payload=" + quote(json.dumps(payload))


def payload_of(form_body: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(dict(parse_qsl(form_body))["payload"])
    return loaded


@dataclass
class SlackHarness:
    """Sends signed requests through ``handlers.slack.handler`` and sees what Slack got."""

    fake: FakeSlack
    contexts: list[FakeLambdaContext] = field(default_factory=list)
    response_urls: list[str] = field(default_factory=list)
    """The response_url of every command and press sent, in order (each its own, as Slack
    gives them)."""

    @property
    def last_response_url(self) -> str:
        return self.response_urls[-1]

    def answers(self, url: str | None = None) -> list[dict[str, Any]]:
        """The messages Slack accepted at a response_url (the last one sent by default)."""
        target = self.last_response_url if url is None else url
        return [post.message for post in self.fake.accepted_hook_posts(target)]

    def call(self, event: dict[str, Any]) -> dict[str, Any]:
        from handlers.slack import handler

        context = FakeLambdaContext(function_name=FUNCTION_NAME)
        response: dict[str, Any] = handler(event, context)
        return response

    def send_json(self, payload: dict[str, Any], *, extra_headers: dict[str, str] | None = None,
                  timestamp: int | None = None) -> dict[str, Any]:
        body = json.dumps(payload)
        headers = signed_headers(body, timestamp=timestamp, extra=extra_headers)
        return self.call(apigw_event(body, headers))

    def send_form(self, body: str, *, extra_headers: dict[str, str] | None = None,
                  base64_body: bool = True) -> dict[str, Any]:
        headers = signed_headers(body, content_type=FORM, extra=extra_headers)
        return self.call(apigw_event(body, headers, base64_body=base64_body))

    def command(self, text: str, *, user: str = "W111", channel: str = "C111",
                trigger: str | None = None, team: str | None = None,
                response_url: str | None = None) -> dict[str, Any]:
        """``/todo <text>`` in the shape of the Bolt fixture, with a new response_url on the
        fake (or ``response_url``)."""
        body = fixture_text("slash_command_bolt.txt")
        fields = dict(parse_qsl(body, keep_blank_values=True))
        if team is not None:  # a plain workspace, not the fixture's Enterprise Grid
            fields["team_id"] = team
            fields.pop("enterprise_id", None)
            fields.pop("enterprise_name", None)
        url = response_url or self.fake.hook_url()
        self.response_urls.append(url)
        fields.update(command="/todo", text=text, user_id=user, channel_id=channel,
                      response_url=url,
                      trigger_id=trigger or f"{uuid.uuid4().int % 10**9}.111.xxx")
        return self.send_form(urlencode(fields))

    def press(self, action_id: str, *, user: str = "W111", container: dict[str, Any] | None = None,
              trigger: str | None = None, owner: str | None = None,
              team: str | None = None) -> dict[str, Any]:
        """A button press in the shape of the block_actions fixture, under ``owner``'s list
        (the presser's own unless given); ``team``: a plain workspace instead of the fixture's
        Enterprise Grid org."""
        payload = fixture_json("block_actions.json")
        if team is not None:
            payload["team"] = {"id": team, "domain": "workspace-domain"}
            payload["user"]["team_id"] = team
        payload["response_url"] = url = self.fake.hook_url(kind="actions")
        self.response_urls.append(url)
        payload["user"]["id"] = user
        payload["trigger_id"] = trigger or f"{uuid.uuid4().int % 10**9}.222.valid"
        payload["actions"][0].update(action_id=action_id, value=f"{action_id}:{owner or user}")
        if container is not None:
            payload["container"] = container
        return self.send_form(interactivity_body(payload))

    def dm(self, text: str, *, user: str = "U2147483697", event_id: str | None = None,
           extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
        """A DM to the bot in the shape of the message.im docs fixture."""
        payload = fixture_json("event_callback_message_im_docs.json")
        payload["event"].update(text=text, user=user)
        payload["event_id"] = event_id or f"Ev{uuid.uuid4().hex[:10].upper()}"
        return self.send_json(payload, extra_headers=extra_headers)

    def mention(self, text: str, *, user: str = "W111", channel: str = "C111",
                thread_ts: str | None = None, event_id: str | None = None,
                extra_headers: dict[str, str] | None = None) -> dict[str, Any]:
        """``@todobot <text>`` in a channel (in ``thread_ts``'s thread if given), in the shape
        of the Bolt app_mention fixture (workspace: its Enterprise Grid org, as ``command``)."""
        payload = fixture_json("event_callback_app_mention_bolt.json")
        ts = f"1700000000.{uuid.uuid4().int % 10**6:06d}"
        payload["event"].update(text=f"<@{BOT_USER_ID}> {text}", user=user, channel=channel,
                                ts=ts, event_ts=ts)
        if thread_ts is not None:
            payload["event"]["thread_ts"] = thread_ts
        payload["event_id"] = event_id or f"Ev{uuid.uuid4().hex[:10].upper()}"
        return self.send_json(payload, extra_headers=extra_headers)


class TestRoot(Root):
    """A composition root whose reply senders a test may replace (``senders={}``: nothing can
    be sent, every reply stays in the outbox; or a recording sender), and whose Web API
    client may time out sooner than the product's 10 s (``slack_timeout``)."""

    __test__ = False

    def __init__(self, settings: Settings, *, senders: dict[str, ReplySender] | None = None,
                 slack_timeout: int | None = None, **options: Any) -> None:
        super().__init__(settings, **options)
        self._test_senders = senders
        self._slack_timeout = slack_timeout

    @property
    def senders(self) -> dict[str, ReplySender]:
        if self._test_senders is not None:
            return self._test_senders
        return super().senders

    @property
    def slack_client(self) -> WebClient:
        client = super().slack_client
        if self._slack_timeout is not None:
            client.timeout = self._slack_timeout
        return client


@dataclass
class RecordingSender:
    """A Slack sender that says nothing and remembers what it was asked to send."""

    items: list[OutboxItem] = field(default_factory=list)

    def send(self, item: OutboxItem) -> SendOutcome:
        self.items.append(item)
        return Sent()

    @contextmanager
    def thinking(self, target: Mapping[str, Any]) -> Iterator[None]:
        yield
