"""``osls offline`` as a test fixture: the real serverless.yml, run from the sources with this
virtualenv's Python, on loopback ports, in its own process group.

serverless-offline serves the HTTP API (``httpPort``) and the Lambda Invoke API
(``lambdaPort``, what ``aws lambda invoke --endpoint-url`` would call; the tests invoke
``migrate`` and ``scheduler`` there). With ``TODOBOT_OFFLINE_SQS_ENDPOINT`` in the environment
serverless-offline-sqs is loaded too and polls the turn queue there, invoking the worker with
each batch as the event source mapping does. Its Python runner spawns ``python3 invoke.py
<handler>`` per function instance (one process per concurrent invocation, kept warm between
requests) with the caller's environment (``localEnvironment: true``) under the function's;
``VIRTUAL_ENV`` and ``PATH`` make that ``python3`` this venv's.

The environment a stack passes on is this process's minus everything that configures Todobot
or points AWS clients somewhere (secrets, endpoints, queue URLs, ``TODOBOT_*``), plus what the
test gives: nothing from a developer's shell reaches the functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.fakes.http import free_port

ROOT = Path(__file__).resolve().parents[2]
OSLS = ROOT / "node_modules" / ".bin" / "osls"
STAGE = "local"
REGION = "eu-central-1"  # serverless.yml's provider region: the functions' AWS_REGION
START_TIMEOUT_S = 90.0
_DURATION = re.compile(r"\(λ: (?P<function>\w+)\) RequestId: \S+\s+Duration: (?P<ms>[\d.]+) ms")
_INHERITED_PREFIXES = ("TODOBOT_", "TELEGRAM_", "SLACK_", "OPENAI_", "LLM_", "AWS_", "IS_OFFLINE")
_INHERITED_NAMES = {"DATABASE_URL", "MESSAGES_PER_MINUTE_PER_USER", "STAGE"}


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange with API Gateway's stand-in (``answered_at``: ``time.monotonic()``
    once the whole answer was read)."""

    status: int
    body: bytes
    seconds: float
    answered_at: float

    def json(self) -> Any:
        return json.loads(self.body)


class _Template(yaml.SafeLoader):
    """serverless.yml with CloudFormation's short forms (``!Ref``...) read as nothing."""


_Template.add_multi_constructor("!", lambda loader, suffix, node: None)


def serverless_config() -> dict[str, Any]:
    """serverless.yml as written (variables unresolved, ``!Ref``s as None)."""
    config: dict[str, Any] = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_Template)
    return config


def function_name(key: str) -> str:
    """The deployed name serverless gives function ``key`` (``todobot-local-worker``)."""
    return f"todobot-{STAGE}-{key}"


class OfflineStack:
    """Starts ``osls offline start --stage local`` with ``environment``; :meth:`stop` kills its
    process group (node and every Python function process it spawned)."""

    def __init__(self, environment: dict[str, str], log_path: Path) -> None:
        self.http_port = free_port()
        self.lambda_port = free_port()
        self.log_path = log_path
        self.environment = environment
        self._process: subprocess.Popen[bytes] | None = None
        self._launched = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def lambda_url(self) -> str:
        return f"http://127.0.0.1:{self.lambda_port}"

    def start(self) -> None:
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the process (see :meth:`wait_ready`)."""
        if not OSLS.exists():
            raise RuntimeError(f"{OSLS} is missing: run `npm ci` (make test does)")
        venv_bin = Path(sys.executable).parent
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(_INHERITED_PREFIXES) and key not in _INHERITED_NAMES}
        env.update({
            "VIRTUAL_ENV": str(venv_bin.parent),
            "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
            "TODOBOT_LAMBDA_ARTIFACT": "",  # run the sources, not the Lambda-platform zip
            "TODOBOT_OFFLINE_HTTP_PORT": str(self.http_port),
            "TODOBOT_OFFLINE_LAMBDA_PORT": str(self.lambda_port),
            "AWS_ACCESS_KEY_ID": "offline",
            "AWS_SECRET_ACCESS_KEY": "offline",
            "SLS_TELEMETRY_DISABLED": "1",
            "PYTHONUNBUFFERED": "1",
        })
        env.update(self.environment)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                [str(OSLS), "offline", "start", "--stage", STAGE],
                cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        self._launched = time.monotonic()

    def wait_ready(self) -> None:
        """Wait until serverless-offline serves both ports (stops the process and raises if it
        does not in :data:`START_TIMEOUT_S`)."""
        assert self._process is not None, "launch() first"
        deadline = self._launched + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"osls offline exited early:\n{self.log()}")
            if ("Server ready" in self.log() and self._accepts(self.http_port)
                    and self._accepts(self.lambda_port)):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"osls offline did not start in {START_TIMEOUT_S:.0f} s:\n{self.log()}")

    def stop(self) -> None:
        """SIGTERM the process group (node and its Python function processes), then SIGKILL
        whatever is left of the group."""
        process = self._process
        if process is None:
            return
        self._process = None
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # Python function processes still alive
        process.wait(10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def durations(self, function: str) -> list[float]:
        """Milliseconds of each finished invocation of ``function``, in order (from the line
        serverless-offline prints after every invocation, the worker's included)."""
        return [float(m["ms"]) for m in _DURATION.finditer(self.log())
                if m["function"] == function]

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        return self._request(self.url + path, body, headers)

    def invoke(self, function: str, event: dict[str, Any] | None = None) -> tuple[int, Any]:
        """A synchronous Lambda Invoke through serverless-offline's Lambda API (as
        ``osls invoke`` / ``aws lambda invoke`` against AWS); status and decoded payload."""
        reply = self._request(
            f"{self.lambda_url}/2015-03-31/functions/{function_name(function)}/invocations",
            json.dumps(event or {}).encode(), {"Content-Type": "application/json"}, timeout=300)
        return reply.status, json.loads(reply.body or b"null")

    @staticmethod
    def _request(url: str, body: bytes, headers: dict[str, str], timeout: float = 60) -> Reply:
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        return Reply(status, payload, time.perf_counter() - started, time.monotonic())

    @staticmethod
    def _accepts(port: int) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, interval: float = 0.05) -> bool:
    """Poll ``condition()`` until it is truthy or ``timeout`` passes (a bound, not a timing
    assertion: callers assert on the outcome)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
