"""Benchmark: a warm Telegram ``/add`` turn, and what importing the webhook module costs.

1. Median (and p90) wall time of ``handlers.telegram.handler(event, None)`` for a private
   ``/add`` on a warm process, against a throwaway PostgreSQL database and the loopback fake Bot
   API: secret check, parsing, queueing, the core's turn (one transaction) and sendMessage
   through python-telegram-bot. The core's ``handle`` alone is timed alongside, interleaved.
2. Import time of ``handlers.telegram`` in a fresh interpreter, next to importing openai +
   telegram + sqlmodel + boto3 + mangum, interleaved, median of several fresh interpreters each.

Run: ``python -m tests.bench.telegram_turn``. Numbers, not pass/fail.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bot_core.inbound import Inbound
from models.migrate import upgrade
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.pg_databases import temporary_database

TURNS = 300
WARMUP = 30
IMPORT_RUNS = 15
ROOT = Path(__file__).resolve().parents[2]
HEAVY = "openai, telegram, sqlmodel, boto3, mangum"


def bench_turns() -> None:
    from handlers import runtime, telegram_client, telegram_turns
    from handlers.telegram import handler
    from tests.telegram.conftest import SECRET, USER_ID, api_event, private_text

    with temporary_database("todobot_bench_tg") as url, FakeTelegram() as api:
        upgrade(url)
        os.environ.update({"DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
                           "TELEGRAM_WEBHOOK_SECRET": SECRET,
                           "TELEGRAM_API_BASE_URL": api.url})
        os.environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
        runtime.reset()
        try:
            for n in range(WARMUP):
                handler(api_event(private_text(f"/add warm-up {n}")), None)
            events = [api_event(private_text(f"/add Task {n}")) for n in range(TURNS)]
            core = [Inbound(platform="telegram", chat_id=str(USER_ID),
                            external_user_id=str(USER_ID), text=f"/add Core {n}")
                    for n in range(TURNS)]
            service = runtime.shared_service()
            through_handler: list[float] = []
            core_only: list[float] = []
            for event, inbound in zip(events, core, strict=True):
                started = time.perf_counter()
                response = handler(event, None)
                through_handler.append((time.perf_counter() - started) * 1000)
                assert response["statusCode"] == 200, response
                started = time.perf_counter()
                service.handle(inbound)
                core_only.append((time.perf_counter() - started) * 1000)
            assert len(api.calls_to("sendMessage")) == WARMUP + TURNS
        finally:
            runtime.shared_engine().dispose()
            telegram_turns.reset()
            telegram_client.reset()
            runtime.reset()
    print(f"warm /add through handler() on PostgreSQL + fake Bot API, {TURNS} turns:")
    print(f"  median {statistics.median(through_handler):6.2f} ms   "
          f"p90 {_p90(through_handler):6.2f} ms")
    print(f"  of which the core's turn alone (TodoService.handle, interleaved): median "
          f"{statistics.median(core_only):6.2f} ms")


def _p90(samples: list[float]) -> float:
    return sorted(samples)[int(len(samples) * 0.9)]


def _import_seconds(statement: str) -> float:
    probe = (f"import time; started = time.perf_counter(); {statement}; "
             "print(time.perf_counter() - started)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    return float(out.strip())


def bench_imports() -> None:
    light, heavy = [], []
    for _ in range(IMPORT_RUNS):
        light.append(_import_seconds("import handlers.telegram") * 1000)
        heavy.append(_import_seconds(f"import {HEAVY}") * 1000)
    print(f"import time in a fresh interpreter, median of {IMPORT_RUNS} runs each, interleaved:")
    print(f"  import handlers.telegram                       "
          f"{statistics.median(light):7.1f} ms")
    print(f"  import {HEAVY}   {statistics.median(heavy):7.1f} ms")


def main() -> None:
    bench_turns()
    bench_imports()


if __name__ == "__main__":
    main()
