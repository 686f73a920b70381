"""``osls offline`` as a test fixture: the real serverless.yml, run from the sources with this
virtualenv's Python, on loopback ports, in its own process group.

serverless-offline's Python runner spawns ``python3 invoke.py <handler>`` per function instance
(one process per concurrent invocation, kept warm between requests), with the caller's
environment (``localEnvironment: true``) on top of the function's. ``VIRTUAL_ENV`` and ``PATH``
make that ``python3`` this venv's. It also serves the Lambda Invoke API on ``lambdaPort``, where
boto3 (``AWS_ENDPOINT_URL_LAMBDA``) sends the deferred turns.
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
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OSLS = ROOT / "node_modules" / ".bin" / "osls"
STAGE = "local"
START_TIMEOUT_S = 90.0
_DURATION = re.compile(r"\(λ: (?P<function>\w+)\) RequestId: \S+\s+Duration: (?P<ms>[\d.]+) ms")


@dataclass(frozen=True)
class Reply:
    """One HTTP exchange with API Gateway's stand-in."""

    status: int
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class OfflineStack:
    """Starts ``osls offline start`` with ``environment`` added to ours; stop() kills its
    process group (node and every Python function process it spawned)."""

    def __init__(self, environment: dict[str, str], log_path: Path) -> None:
        self.http_port = free_port()
        self.lambda_port = free_port()
        self.log_path = log_path
        self.environment = environment
        self._process: subprocess.Popen[bytes] | None = None
        self._log_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def lambda_url(self) -> str:
        return f"http://127.0.0.1:{self.lambda_port}"

    def function_name(self, key: str) -> str:
        """The deployed name serverless gives function ``key`` (``todobot-local-telegram``)."""
        return f"todobot-{STAGE}-{key}"

    def start(self) -> None:
        if not OSLS.exists():
            raise RuntimeError(f"{OSLS} is missing: run `npm ci` (make test does)")
        venv_bin = Path(sys.executable).parent
        env = dict(os.environ)
        env.pop("AWS_LAMBDA_FUNCTION_NAME", None)
        env.update(self.environment)
        env.update({
            "VIRTUAL_ENV": str(venv_bin.parent),
            "PATH": f"{venv_bin}{os.pathsep}{env.get('PATH', '')}",
            "TODOBOT_LAMBDA_ARTIFACT": "",  # run the sources, not the Lambda-platform zip
            "TODOBOT_OFFLINE_HTTP_PORT": str(self.http_port),
            "TODOBOT_OFFLINE_LAMBDA_PORT": str(self.lambda_port),
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
            "SLS_TELEMETRY_DISABLED": "1",
            "PYTHONUNBUFFERED": "1",
        })
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [str(OSLS), "offline", "start", "--stage", STAGE],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"osls offline exited early:\n{self.log()}")
            if self._accepts(self.http_port) and self._accepts(self.lambda_port):
                return
            time.sleep(0.2)
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
        return self.log_path.read_text(errors="replace")

    def durations(self, function: str) -> list[float]:
        """Milliseconds of each finished invocation of ``function``, in order (from the log
        lines serverless-offline prints after every invocation)."""
        return [float(m["ms"]) for m in _DURATION.finditer(self.log())
                if m["function"] == function]

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Reply:
        request = urllib.request.Request(self.url + path, data=body, method="POST",
                                         headers=headers)
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, payload = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, payload = error.code, error.read()
        return Reply(status, payload, time.perf_counter() - started)

    @staticmethod
    def _accepts(port: int) -> bool:
        with socket.socket() as probe:
            probe.settimeout(0.5)
            return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition: Any, timeout: float = 60.0, interval: float = 0.1) -> bool:
    """Poll ``condition()`` until it is truthy or ``timeout`` passes (a bound, not a timing
    assertion: callers assert on the outcome)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
