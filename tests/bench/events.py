"""The requests the benchmarks send, as API Gateway (HTTP API, payload 2.0) hands them to the
webhook functions, and the credentials and Lambda context they run with.

Self-contained on purpose: building an event imports nothing of the product (the Telegram
test kit imports ``handlers.telegram``, which builds a composition root from the environment of
whoever imports it), so a benchmark process can build its events before it sets up the
environment it measures. Slack's payloads come from the vendored fixtures, signed here with
slack_sdk's own ``SignatureVerifier``.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

TELEGRAM_SECRET = "bench-webhook-secret_0123456789"
SLACK_SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
SLACK_BOT_TOKEN = "xoxb-bench-token"
FORM = "application/x-www-form-urlencoded"

_message_ids = itertools.count(1)


class LambdaContext:
    """The parts of Lambda's context object the adapters read (Bolt's reads
    ``function_name``); the deadline is the function's timeout from construction."""

    def __init__(self, function_name: str = "todobot-bench", timeout_s: float = 30.0) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}")
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# The same class as source, for fresh interpreters that must import nothing before the clock.
LAMBDA_CONTEXT_SOURCE = '''
class LambdaContext:
    def __init__(self, function_name):
        import time, uuid
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            "arn:aws:lambda:us-east-1:123456789012:function:" + function_name)
        self.memory_limit_in_mb = 1024
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = "/aws/lambda/" + function_name
        self.log_stream_name = uuid.uuid4().hex
        self._deadline = time.monotonic() + 30.0
    def get_remaining_time_in_millis(self):
        import time
        return max(0, int((self._deadline - time.monotonic()) * 1000))
'''


def _http_api_event(path: str, headers: dict[str, str], body: str, *,
                    base64_body: bool = False, source_ip: str = "149.154.167.220"
                    ) -> dict[str, Any]:
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": f"POST {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()} | {
            "host": "abc123.execute-api.us-east-1.amazonaws.com",
            "x-forwarded-proto": "https", "content-length": str(len(body.encode()))},
        "requestContext": {
            "accountId": "123456789012", "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "abc123", "requestId": uuid.uuid4().hex,
            "routeKey": f"POST {path}", "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
            "http": {"method": "POST", "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": headers.get("user-agent", "")},
        },
        "body": base64.b64encode(body.encode()).decode() if base64_body else body,
        "isBase64Encoded": base64_body,
    }


# -- Telegram ----------------------------------------------------------------------------------


def telegram_update(text: str, *, user_id: int, update_id: int) -> dict[str, Any]:
    """A private-chat text message from ``user_id`` (a command with its bot_command entity,
    as Telegram sends it)."""
    person = {"id": user_id, "is_bot": False, "first_name": f"Bench{user_id % 1000}",
              "language_code": "en"}
    message: dict[str, Any] = {
        "message_id": next(_message_ids), "from": person,
        "chat": {"id": user_id, "first_name": person["first_name"], "type": "private"},
        "date": int(time.time()), "text": text,
    }
    if text.startswith("/"):
        message["entities"] = [{"offset": 0, "length": len(text.split()[0]),
                                "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


def telegram_event(update: dict[str, Any], secret: str = TELEGRAM_SECRET) -> dict[str, Any]:
    """``POST /telegram/webhook`` with Telegram's secret-token header."""
    return _http_api_event("/telegram/webhook", {
        "content-type": "application/json", "x-telegram-bot-api-secret-token": secret,
    }, json.dumps(update))


# -- Slack -------------------------------------------------------------------------------------


def _signed(body: str, content_type: str) -> dict[str, str]:
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SLACK_SIGNING_SECRET).generate_signature(
        timestamp=timestamp, body=body)
    assert signature is not None
    return {"content-type": content_type, "x-slack-request-timestamp": timestamp,
            "x-slack-signature": signature,
            "user-agent": "Slackbot 1.0 (+https://api.slack.com/robots)"}


def slack_command_event(text: str, *, response_url: str, user: str = "WBENCH",
                        channel: str = "C111") -> dict[str, Any]:
    """A signed ``/todo <text>`` (Bolt's slash command fixture), answered at
    ``response_url``; base64 form body, as API Gateway passes it."""
    fields = dict(parse_qsl((FIXTURES / "slack" / "slash_command_bolt.txt").read_text(),
                            keep_blank_values=True))
    fields.update(command="/todo", text=text, user_id=user, channel_id=channel,
                  response_url=response_url,
                  trigger_id=f"{uuid.uuid4().int % 10**9}.111.{uuid.uuid4().hex[:8]}")
    body = urlencode(fields)
    return _http_api_event("/slack/events", _signed(body, FORM), body, base64_body=True,
                           source_ip="3.3.3.3")


def slack_dm_event(text: str, *, user: str, channel: str) -> dict[str, Any]:
    """A signed DM to the bot (the Events API docs' message.im fixture) from ``user`` in
    the DM channel ``channel``, with its own event id."""
    payload = json.loads((FIXTURES / "slack" / "event_callback_message_im_docs.json")
                         .read_text())
    ts = f"{int(time.time())}.{uuid.uuid4().int % 10**6:06d}"
    payload["event"].update(text=text, user=user, channel=channel, ts=ts, event_ts=ts)
    payload["event_id"] = f"Ev{uuid.uuid4().hex[:12].upper()}"
    body = json.dumps(payload)
    return _http_api_event("/slack/events", _signed(body, "application/json"), body,
                           source_ip="3.3.3.3")
