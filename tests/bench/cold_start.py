"""Benchmark 1, cold start: what a fresh Lambda container pays before and for its first request.

- Importing ``handlers.telegram`` and ``handlers.slack`` in a fresh interpreter, next to
  importing the libraries they use (openai, telegram, slack_bolt, sqlmodel, boto3, mangum) in
  a fresh interpreter: interleaved, median of several runs each. The webhook modules import
  only the standard library at import time; the libraries come with the first request.
- The first request: a fresh interpreter imports the webhook module and runs one ``/add``
  (Telegram) or ``/todo add`` (Slack) through ``handler()`` against PostgreSQL and the loopback
  fakes, library imports, engine, first connection and API client included.

Run: ``python -m tests.bench.cold_start``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from models.migrate import upgrade
from tests.bench.table import Row, median, ms, ratio_row, render
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.pg_databases import temporary_database

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = "openai, telegram, slack_bolt, sqlmodel, boto3, mangum"
ENTRY_POINTS = ("handlers.telegram", "handlers.slack")
LIMIT = 0.35

_IMPORT_PROBE = ("import time; started = time.perf_counter(); import {module}; "
                 "print(time.perf_counter() - started)")
# The event comes on stdin, read before the clock starts: only import + handler() are timed.
_FIRST_REQUEST_PROBE = """
import json, sys, time
event = json.loads(sys.stdin.read())
started = time.perf_counter()
from {module} import handler
imported = time.perf_counter()
response = handler(event, None)
done = time.perf_counter()
print(json.dumps({{"import": imported - started, "handler": done - imported,
                  "status": response["statusCode"]}}))
"""


def _fresh(code: str, env: dict[str, str] | None = None, stdin: str = "") -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT, env=env, input=stdin).stdout


def import_ms(module: str) -> float:
    """Milliseconds to import ``module`` (a comma-separated list is fine) in a fresh
    interpreter."""
    return float(_fresh(_IMPORT_PROBE.format(module=module)).strip()) * 1000


def measure_imports(runs: int) -> dict[str, list[float]]:
    """Import times of each entry point and of the libraries, interleaved run by run (drift
    on a shared machine hits all alike); one discarded round first warms the file cache."""
    subjects = (*ENTRY_POINTS, LIBRARIES)
    for subject in subjects:
        import_ms(subject)
    samples: dict[str, list[float]] = {subject: [] for subject in subjects}
    for _ in range(runs):
        for subject in subjects:
            samples[subject].append(import_ms(subject))
    return samples


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_LAMBDA_FUNCTION_NAME", "TODOBOT_SSM_PATH", "OPENAI_API_KEY",
                        "OPENAI_BASE_URL")}
    env.update(extra)
    return env


def first_request_ms(module: str, event: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    """Import + first request in a fresh interpreter: {"import", "handler", "total"} in ms."""
    out = json.loads(_fresh(_FIRST_REQUEST_PROBE.format(module=module), env=env,
                            stdin=json.dumps(event)))
    assert out["status"] == 200, out
    return {"import": out["import"] * 1000, "handler": out["handler"] * 1000,
            "total": (out["import"] + out["handler"]) * 1000}


def measure_first_requests(runs: int) -> dict[str, list[dict[str, float]]]:
    """First ``/add`` (Telegram) and ``/todo add`` (Slack) of fresh interpreters, interleaved."""
    from tests.bench.slack_ack import add_event
    from tests.slack.harness import BOT_TOKEN, SIGNING_SECRET
    from tests.telegram.conftest import SECRET, api_event, private_text

    results: dict[str, list[dict[str, float]]] = {module: [] for module in ENTRY_POINTS}
    with temporary_database("todobot_bench_cold") as url, FakeTelegram() as telegram, \
            FakeSlack() as slack:
        upgrade(url)
        env = _child_env({
            "DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET, "TELEGRAM_API_BASE_URL": telegram.url,
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_BASE_URL": slack.base_url,
        })
        for n in range(runs):
            tg_event = api_event(private_text(f"/add Cold start {n} {uuid.uuid4().hex[:6]}"))
            results["handlers.telegram"].append(
                first_request_ms("handlers.telegram", tg_event, env))
            results["handlers.slack"].append(
                first_request_ms("handlers.slack", add_event(slack, n), env))
        assert len(telegram.calls_to("sendMessage")) == runs
    return results


def measure(quick: bool = False) -> list[Row]:
    runs = 3 if quick else 12
    imports = measure_imports(runs)
    libraries = median(imports[LIBRARIES])
    rows = []
    for module in ENTRY_POINTS:
        own = median(imports[module])
        rows.append(ratio_row(
            1, f"cold start: `import {module}` vs `import {LIBRARIES}`",
            f"{ms(own)} vs {ms(libraries)} (fresh interpreters, median of {runs}, "
            "interleaved)", own / libraries, LIMIT))
    firsts = measure_first_requests(3 if quick else 5)
    for module, samples in firsts.items():
        what = "`/add`" if module == "handlers.telegram" else "`/todo add`"
        total = median([s["total"] for s in samples])
        imported = median([s["import"] for s in samples])
        handled = median([s["handler"] for s in samples])
        rows.append(Row(
            1, f"first request after import: {what} through `{module}.handler`",
            f"{ms(total)}: import {ms(imported)} + first request {ms(handled)} (fresh "
            f"interpreter, PostgreSQL + fakes, median of {len(samples)})", ms(total),
            "reported", None))
    return rows


def main() -> None:
    print(render(measure("--quick" in sys.argv)))


if __name__ == "__main__":
    main()
