"""A real ``todobot serve`` (uvicorn in a subprocess on 127.0.0.1, the benchmark's
:func:`~tests.bench.serve_throughput.serving`) wired to the loopback fakes, and the clients the
load and fault tests send through it.

Why a subprocess and not uvicorn on a thread of the test: the server then has its own
interpreter, thread pool, engine and event loop, as on a laptop, and the test process holds no
state of its own that could make a race look fine.
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from tests.bench.serve_throughput import serving
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.slack.harness import BOT_TOKEN, FORM, SIGNING_SECRET, fixture_text, signed_headers
from tests.telegram.conftest import SECRET

TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Served:
    """Where the server listens, and how to talk to it as Telegram and Slack would."""

    host: str
    port: int

    def request(self, path: str, body: bytes | None, headers: dict[str, str],
                method: str = "POST") -> int:
        """Send one request; the status (a connection of its own, like a platform's)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=TIMEOUT_SECONDS)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def healthz(self) -> int:
        return self.request("/healthz", None, {}, method="GET")

    def telegram(self, update: dict[str, Any]) -> int:
        return self.request("/telegram/webhook", json.dumps(update).encode(), {
            "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})

    def slack_command(self, text: str, *, user: str, response_url: str) -> int:
        """``/todo <text>`` in the shape of the Bolt fixture, signed."""
        from urllib.parse import parse_qsl

        fields = dict(parse_qsl(fixture_text("slash_command_bolt.txt"), keep_blank_values=True))
        fields.update(command="/todo", text=text, user_id=user, response_url=response_url,
                      trigger_id=f"trigger-{user}-{text}")
        body = urlencode(fields)
        return self.request("/slack/events", body.encode(),
                            signed_headers(body, content_type=FORM))


def server_environment(database_url: str, telegram: FakeTelegram, slack: FakeSlack,
                       llm: FakeOpenAI) -> dict[str, str]:
    """The server's environment: this machine's, less anything real, plus the fakes."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "OPENAI_", "TODOBOT_SSM", "TELEGRAM_", "SLACK_"))}
    env.update({
        "DATABASE_URL": database_url,
        "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_API_BASE_URL": telegram.url,
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_BASE_URL": slack.base_url,
        "OPENAI_BASE_URL": llm.base_url, "OPENAI_API_KEY": "test-key",
        "LLM_MAX_RETRIES": "0", "LLM_TIMEOUT_SECONDS": "90",
    })
    return env


@contextmanager
def todobot_serve(env: dict[str, str]) -> Iterator[Served]:
    """``todobot serve`` until the block ends (stopped even if the block fails)."""
    with serving(env) as (host, port):
        yield Served(host, port)
