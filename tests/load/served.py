"""A real ``todobot serve`` (uvicorn in a subprocess on 127.0.0.1) wired to the loopback fakes,
and the clients the load and fault tests send through it.

Why a subprocess and not uvicorn on a thread of the test: the server then has its own
interpreter, thread pool, engine and event loop, as on a laptop, and the test process holds no
state of its own that could make a race look fine.

Outside Lambda the queue is the in-process one: a delivery waiting for its conversation's
earlier turn writes nothing and sends nothing, so neither the database nor the fakes can tell
that it has arrived. The only witness is the server's own threads, and :meth:`Served.waiting`
asks it: the subprocess is started with a ``sitecustomize`` (test instrumentation, put first on
its ``PYTHONPATH``; the product is untouched) that dumps the Python stack of every thread when
sent SIGUSR1, and a thread whose stack is inside ``GroupOrder.turn``, in ``Condition.wait``, is a
delivery waiting for its turn.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from tests.bench.serve_throughput import wait_healthy as _wait_healthy
from tests.fakes.http import free_port
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.load.waits import count_waiting
from tests.slack.harness import BOT_TOKEN, FORM, SIGNING_SECRET, fixture_text, signed_headers
from tests.telegram.conftest import SECRET

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 120
STACKS_ENV = "TODOBOT_TEST_STACKS"

SITECUSTOMIZE = '''
"""Test instrumentation of ``todobot serve`` (tests/load/served.py): on SIGUSR1, write every
thread's stack (qualified function names, innermost first) as JSON to $TODOBOT_TEST_STACKS."""
import json, os, signal, sys

def _dump(signum, frame):
    stacks = []
    for top in sys._current_frames().values():
        names, f = [], top
        while f is not None:
            names.append(f.f_code.co_qualname)
            f = f.f_back
        stacks.append(names)
    path = os.environ["TODOBOT_TEST_STACKS"]
    with open(path + ".tmp", "w") as out:
        json.dump(stacks, out)
    os.replace(path + ".tmp", path)

if os.environ.get("TODOBOT_TEST_STACKS"):
    signal.signal(signal.SIGUSR1, _dump)
'''


@dataclass(frozen=True)
class Served:
    """Where the server listens, and how to talk to it as Telegram and Slack would."""

    host: str
    port: int
    pid: int
    stacks: Path

    def request(self, path: str, body: bytes | None, headers: dict[str, str],
                method: str = "POST", timeout: float = TIMEOUT_SECONDS) -> int:
        """Send one request; the status (a connection of its own, like a platform's). No
        answer within ``timeout`` seconds raises (``TimeoutError``)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def healthz(self) -> int:
        return self.request("/healthz", None, {}, method="GET")

    def telegram(self, update: dict[str, Any], timeout: float = TIMEOUT_SECONDS) -> int:
        return self.request("/telegram/webhook", json.dumps(update).encode(), {
            "Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET},
            timeout=timeout)

    def slack_command(self, text: str, *, user: str, response_url: str) -> int:
        """``/todo <text>`` in the shape of the Bolt fixture, signed."""
        fields = dict(parse_qsl(fixture_text("slash_command_bolt.txt"), keep_blank_values=True))
        fields.update(command="/todo", text=text, user_id=user, response_url=response_url,
                      trigger_id=f"trigger-{user}-{text}")
        body = urlencode(fields)
        return self.request("/slack/events", body.encode(),
                            signed_headers(body, content_type=FORM))

    def thread_stacks(self, timeout: float = 10.0) -> list[list[str]]:
        """Every server thread's stack, innermost frame first (qualified function names)."""
        self.stacks.unlink(missing_ok=True)
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not self.stacks.exists():
            if time.monotonic() > deadline:
                raise AssertionError("todobot serve did not dump its thread stacks")
            time.sleep(0.01)
        stacks: list[list[str]] = json.loads(self.stacks.read_text())
        return stacks

    def waiting(self) -> int:
        """Deliveries waiting in the server's queue for their conversation's earlier turn."""
        return count_waiting(self.thread_stacks())


def server_environment(database_url: str, telegram: FakeTelegram, slack: FakeSlack,
                       llm: FakeOpenAI) -> dict[str, str]:
    """The server's environment: this machine's, less anything real, plus the fakes."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "OPENAI_", "TODOBOT_", "TELEGRAM_", "SLACK_"))}
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
def todobot_serve(env: dict[str, str], port: int | None = None) -> Iterator[Served]:
    """``todobot serve`` on ``port`` (a free one by default) until the block ends (stopped even
    if the block fails; its log shown then)."""
    port = port or free_port()
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as log:
        (Path(tmp) / "sitecustomize.py").write_text(SITECUSTOMIZE)
        stacks = Path(tmp) / "stacks.json"
        server_env = env | {
            STACKS_ENV: str(stacks),
            "PYTHONPATH": os.pathsep.join([tmp, *filter(None, [env.get("PYTHONPATH")])]),
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port)], cwd=ROOT, env=server_env, stdout=log,
            stderr=subprocess.STDOUT)
        try:
            _wait_healthy(port, server)
            yield Served("127.0.0.1", port, server.pid, stacks)
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-6000:])
            raise
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(15)
