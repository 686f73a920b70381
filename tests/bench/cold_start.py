"""Benchmark 1, cold start: what a fresh Lambda container pays until its first reply, and how
much slower its first request is than the ones after it.

Each sample is a fresh interpreter (``python -c``), timed from inside (the interpreter's own
start-up is outside every figure alike):

- **ours**: ``from handlers.telegram import handler`` (the function's INIT: settings, engine,
  service, clients, queue, no network), then the first ``/add`` through ``handler(event,
  context)`` against PostgreSQL and the fake Bot API, then 30 warm ``/add`` in the same
  interpreter. Without ``TODOBOT_QUEUE_URL`` the in-process queue runs the worker before the
  handler returns, so the reply has reached the fake when the clock stops; the parent checks
  that it did, once per request. The same for Slack: ``handlers.slack.handler`` and
  ``/todo add``, answered at its own ``response_url`` on the fake.
- **the libraries**: ``import openai, telegram, slack_bolt, sqlmodel, boto3, mangum``.
- **for scale** (reported, not judged): importing just the third-party packages each
  function's INIT imported (read from ``sys.modules`` in the measured interpreters): the part
  of INIT that is the libraries', not ours.

Samples are interleaved (libraries, Telegram, Slack, in a rotating order) after one discarded
round that warms the file cache and creates the two users, so the first request of every
measured interpreter is a returning user's ``/add``, the same work as the warm ones. Each
child gets only its own function's settings (the Telegram function cannot read Slack's
tokens, as deployed) and ``AWS_LAMBDA_FUNCTION_NAME`` (Lambda's connection pool).

Targets (issue #9): import + first reply <= 0.5 x importing the libraries; first request after
INIT <= 3 x a warm request (the median of the per-interpreter ratios).
Run: ``python -m tests.bench.cold_start`` (``--quick``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.migrate import upgrade
from tests.bench.events import (
    LAMBDA_CONTEXT_SOURCE,
    SLACK_BOT_TOKEN,
    SLACK_SIGNING_SECRET,
    TELEGRAM_SECRET,
    slack_command_event,
    telegram_event,
    telegram_update,
)
from tests.bench.table import Row, median, ms, ratio_row, render
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.pg_databases import temporary_database

ROOT = Path(__file__).resolve().parents[2]
LIBRARIES = "openai, telegram, slack_bolt, sqlmodel, boto3, mangum"
PLATFORMS = ("telegram", "slack")
MODULES = {"telegram": "handlers.telegram", "slack": "handlers.slack"}
REQUEST = {"telegram": "`/add`", "slack": "`/todo add`"}
COLD_LIMIT = 0.5
FIRST_LIMIT = 3.0
RUNS, WARM = 9, 30
QUICK_RUNS, QUICK_WARM = 2, 3
TELEGRAM_USER = 930_000_001
SLACK_USER = "WBENCHCOLD"

_IMPORT_PROBE = ("import time; started = time.perf_counter(); import {modules}; "
                 "print(time.perf_counter() - started)")
# The events come on stdin, read before the clock starts: only INIT + requests are timed.
_FUNCTION_PROBE = "import json, sys, time, uuid\n" + LAMBDA_CONTEXT_SOURCE + """
spec = json.loads(sys.stdin.read())
context = LambdaContext(spec["function_name"])
started = time.perf_counter()
from {module} import handler
imported = time.perf_counter()
# The third-party packages INIT imported (the snapshot is outside both clocks).
ours = {{"handlers", "bot_core", "models", "tests"}}
packages = sorted(name for name in {{name.partition(".")[0] for name in list(sys.modules)}}
                  - set(sys.stdlib_module_names) - ours
                  if not name.startswith("_") and name != "cython_runtime")
began = time.perf_counter()
statuses = [handler(spec["events"][0], context)["statusCode"]]
first = time.perf_counter() - began
warm = []
for event in spec["events"][1:]:
    began = time.perf_counter()
    statuses.append(handler(event, context)["statusCode"])
    warm.append(time.perf_counter() - began)
print(json.dumps({{"import": imported - started, "first": first, "warm": warm,
                  "statuses": statuses, "packages": packages}}))
"""


@dataclass(frozen=True)
class Interpreter:
    """One fresh interpreter's figures, in ms."""

    imported: float
    first: float
    warm: list[float]
    packages: tuple[str, ...] = ()
    """The third-party packages INIT imported."""

    @property
    def to_first_reply(self) -> float:
        return self.imported + self.first

    @property
    def first_vs_warm(self) -> float:
        return self.first / median(self.warm)


@dataclass(frozen=True)
class ColdStarts:
    libraries: list[float]
    runs: dict[str, list[Interpreter]]
    dependencies: dict[str, list[float]]
    """Importing just the third-party packages each function's INIT imports."""
    packages: dict[str, tuple[str, ...]]


def _fresh(code: str, env: dict[str, str] | None = None, stdin: str = "") -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, env=env, input=stdin, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"fresh interpreter failed:\n{done.stderr[-3000:]}")
    return done.stdout


def import_ms(modules: str) -> float:
    """Milliseconds to import ``modules`` (comma-separated) in a fresh interpreter."""
    return float(_fresh(_IMPORT_PROBE.format(modules=modules)).strip().splitlines()[-1]) * 1000


def _base_env() -> dict[str, str]:
    """This process's environment without anything that would reach outside or configure a
    platform behind the benchmark's back."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(("AWS_", "OPENAI_", "TODOBOT_", "TELEGRAM_", "SLACK_"))
            and k != "DATABASE_POOL"}


class _Platforms:
    """Runs one platform's function in a fresh interpreter and checks every reply arrived."""

    def __init__(self, url: str, telegram: FakeTelegram, slack: FakeSlack) -> None:
        self.telegram, self.slack = telegram, slack
        common = _base_env() | {"DATABASE_URL": url}
        self.env = {
            "telegram": common | {
                "AWS_LAMBDA_FUNCTION_NAME": "todobot-bench-telegram",
                "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                "TELEGRAM_API_BASE_URL": telegram.url},
            "slack": common | {
                "AWS_LAMBDA_FUNCTION_NAME": "todobot-bench-slack",
                "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
                "SLACK_API_BASE_URL": slack.base_url},
        }
        self._update_id = 70_000_000

    def run(self, platform: str, warm: int) -> Interpreter:
        tag = uuid.uuid4().hex[:8]
        titles = [f"Cold {tag}"] + [f"Warm {tag} {n}" for n in range(warm)]
        events, check = (self._telegram(titles) if platform == "telegram"
                         else self._slack(titles))
        spec = {"function_name": self.env[platform]["AWS_LAMBDA_FUNCTION_NAME"],
                "events": events}
        out = json.loads(_fresh(_FUNCTION_PROBE.format(module=MODULES[platform]),
                                env=self.env[platform], stdin=json.dumps(spec)
                                ).strip().splitlines()[-1])
        assert set(out["statuses"]) == {200}, out["statuses"]
        check()
        return Interpreter(out["import"] * 1000, out["first"] * 1000,
                           [w * 1000 for w in out["warm"]], tuple(out["packages"]))

    def _telegram(self, titles: list[str]) -> tuple[list[dict[str, Any]], Any]:
        events = []
        for title in titles:
            self._update_id += 1
            events.append(telegram_event(telegram_update(
                f"/add {title}", user_id=TELEGRAM_USER, update_id=self._update_id)))
        before = len(self.telegram.calls_to("sendMessage"))

        def check() -> None:
            # Every /add answered once, in order, the first one included.
            texts = self.telegram.sent_texts()[before:]
            assert len(texts) == len(titles), (len(texts), len(titles))
            for text, title in zip(texts, titles, strict=True):
                assert text.startswith("Added #") and text.endswith(title), (text, title)
        return events, check

    def _slack(self, titles: list[str]) -> tuple[list[dict[str, Any]], Any]:
        urls = [self.slack.hook_url() for _ in titles]
        events = [slack_command_event(f"add {title}", response_url=url, user=SLACK_USER)
                  for title, url in zip(titles, urls, strict=True)]

        def check() -> None:
            # Each command answered exactly once, at its own response_url.
            for url, title in zip(urls, titles, strict=True):
                answers = self.slack.accepted_hook_posts(url)
                assert len(answers) == 1, (title, len(answers))
                assert title in json.dumps(answers[0].message), (title, answers[0].message)
        return events, check


def measure_runs(runs: int, warm: int) -> ColdStarts:
    """``runs`` interleaved rounds of the libraries and both functions, after a discarded
    round."""
    with temporary_database("todobot_bench_cold") as url, FakeTelegram() as telegram, \
            FakeSlack() as slack:
        upgrade(url)
        platforms = _Platforms(url, telegram, slack)
        import_ms(LIBRARIES)
        packages = {platform: platforms.run(platform, 1).packages for platform in PLATFORMS}
        results = ColdStarts([], {p: [] for p in PLATFORMS}, {p: [] for p in PLATFORMS},
                             packages)
        subjects = ("libraries", *PLATFORMS, *(f"{p} dependencies" for p in PLATFORMS))
        for n in range(runs):
            for index in range(len(subjects)):
                subject = subjects[(n + index) % len(subjects)]
                platform = subject.partition(" ")[0]
                if subject == "libraries":
                    results.libraries.append(import_ms(LIBRARIES))
                elif subject in PLATFORMS:
                    results.runs[subject].append(platforms.run(subject, warm))
                else:
                    results.dependencies[platform].append(
                        import_ms(", ".join(packages[platform])))
    return results


def measure(quick: bool = False) -> list[Row]:
    runs, warm = (QUICK_RUNS, QUICK_WARM) if quick else (RUNS, WARM)
    result = measure_runs(runs, warm)
    libraries = median(result.libraries)
    rows = []
    for platform in PLATFORMS:
        samples = result.runs[platform]
        total = median([s.to_first_reply for s in samples])
        rows.append(ratio_row(
            1, f"cold start to first reply, {platform.capitalize()}: fresh interpreter, "
            f"`from {MODULES[platform]} import handler` + the first {REQUEST[platform]} "
            f"through `handler()` (PostgreSQL, fake API received the reply) vs `import "
            f"{LIBRARIES}`",
            f"{ms(total)} (INIT import {ms(median([s.imported for s in samples]))} + first "
            f"request {ms(median([s.first for s in samples]))}) vs {ms(libraries)} (medians of "
            f"{runs} fresh interpreters each, interleaved)", total / libraries, COLD_LIMIT))
        dependencies = median(result.dependencies[platform])
        rows.append(Row(
            1, f"for scale, {platform.capitalize()}: importing just the "
            f"{len(result.packages[platform])} third-party packages `{MODULES[platform]}`'s "
            f"INIT imports, vs the same `import {LIBRARIES}`",
            f"{ms(dependencies)} vs {ms(libraries)} ({', '.join(result.packages[platform])}; "
            f"fresh interpreters, interleaved with the above): INIT + first reply is "
            f"{total / dependencies:.2f} x this", f"{dependencies / libraries:.2f}", "reported",
            None))
    for platform in PLATFORMS:
        samples = result.runs[platform]
        warm_all = [w for s in samples for w in s.warm]
        rows.append(ratio_row(
            1, f"first request after INIT vs a warm one, {platform.capitalize()}: "
            f"{REQUEST[platform]} through `handler()` in the same fresh interpreter, module "
            "imported and composition root built",
            f"first {ms(median([s.first for s in samples]))} vs warm "
            f"{ms(median(warm_all))} (median of the {runs} interpreters' ratios of their "
            f"first to the median of their {warm} warm requests; a returning user each time)",
            median([s.first_vs_warm for s in samples]), FIRST_LIMIT))
    return rows


def main() -> None:
    print(render(measure("--quick" in sys.argv)))


if __name__ == "__main__":
    main()
