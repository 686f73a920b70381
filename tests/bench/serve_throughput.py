"""Benchmark 6: throughput and receipt-to-reply of ``todobot serve`` under a loopback load
generator.

A real ``todobot serve`` (uvicorn, a subprocess on 127.0.0.1) on a throwaway PostgreSQL
database, answering through the fake Bot API, receives authenticated ``/add`` updates from
16 client threads at once (closed loop: each sends its next update when the last is answered),
each thread its own chat and user so the turns may run in parallel. Bounded by a count and a
time limit. Prints command turns per second and the p50/p99 request latency, after checking
that every update was answered 200, stored once and replied to once (every outbox row sent).

Receipt-to-reply: for every update, from just before the generator sends the webhook request
to the moment the fake Bot API received that update's ``sendMessage`` (both ``time.monotonic()``
in this process: the generator's clock and :attr:`ApiCall.at
<tests.fakes.telegram_api.ApiCall.at>`), matched through the task title in the reply.

The caveat: this machine has 2 cores, shared by the server, PostgreSQL, the fake Bot API and
the load generator; the figure says what one small box sustains, not a production capacity.
Run: ``python -m tests.bench.serve_throughput``.
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from models.db import normalise_database_url
from models.migrate import upgrade
from tests.bench.events import TELEGRAM_SECRET, telegram_update
from tests.bench.table import Row, median, percentile, render
from tests.fakes.http import free_port
from tests.fakes.telegram_api import DEFAULT_TOKEN, ApiCall, FakeTelegram
from tests.pg_databases import temporary_database

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = 16
REQUESTS = 2000
MAX_SECONDS = 30.0
WARMUP = 64
FIRST_USER = 8_000_000
_LOAD_TITLE = re.compile(r"Load (\d+)$")


@dataclass
class Load:
    """What the generator saw: per request latency (ms) and status, and the wall time."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    seconds: float = 0.0
    sent_at: dict[int, float] = field(default_factory=dict)
    """update_id -> ``time.monotonic()`` just before its request was sent."""
    to_reply_ms: list[float] = field(default_factory=list)
    """Receipt-to-reply per update (filled in by :func:`run`)."""

    @property
    def per_second(self) -> float:
        return len(self.statuses) / self.seconds


@contextmanager
def serving(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    """``todobot serve`` on a free port until the block ends; (host, port) once healthy."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(
            [sys.executable, "-m", "handlers.cli", "serve", "--host", "127.0.0.1",
             "--port", str(port)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_healthy(port, server)
            yield "127.0.0.1", port
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read().decode(errors="replace")[-4000:])
            raise
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(15)


def wait_healthy(port: int, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"todobot serve exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return
            conn.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError("todobot serve did not become healthy")


def generate(address: tuple[str, int], *, concurrency: int, requests: int,
             max_seconds: float, update_ids: Iterator[int]) -> Load:
    """Closed-loop load: ``concurrency`` threads, each its own chat and keep-alive connection,
    until ``requests`` were answered or ``max_seconds`` passed."""
    tickets = itertools.count()
    lock = threading.Lock()
    load = Load()
    deadline = time.monotonic() + max_seconds
    start = threading.Barrier(concurrency + 1)

    def worker(user: int) -> None:
        conn = http.client.HTTPConnection(*address, timeout=60)
        start.wait()
        while time.monotonic() < deadline:
            with lock:
                if next(tickets) >= requests:
                    break
                update_id = next(update_ids)
            body = json.dumps(telegram_update(f"/add Load {update_id}", user_id=user,
                                              update_id=update_id))
            sent_at = time.monotonic()
            started = time.perf_counter()
            conn.request("POST", "/telegram/webhook", body=body, headers={
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                load.latencies_ms.append(elapsed)
                load.statuses.append(response.status)
                load.sent_at[update_id] = sent_at
        conn.close()

    threads = [threading.Thread(target=worker, args=(FIRST_USER + n,), daemon=True)
               for n in range(concurrency)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(max_seconds + 120)
    load.seconds = time.perf_counter() - began
    return load


def run(concurrency: int = CONCURRENCY, requests: int = REQUESTS,
        max_seconds: float = MAX_SECONDS, warmup: int = WARMUP) -> Load:
    with temporary_database("todobot_bench_serve") as url, FakeTelegram() as api:
        upgrade(url)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "OPENAI_", "TODOBOT_", "SLACK_", "TELEGRAM_"))}
        env.update({"DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
                    "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET, "TELEGRAM_API_BASE_URL": api.url})
        update_ids = itertools.count(10 * FIRST_USER)
        with serving(env) as address:
            warm = generate(address, concurrency=concurrency, requests=warmup,
                            max_seconds=max_seconds, update_ids=update_ids)
            load = generate(address, concurrency=concurrency, requests=requests,
                            max_seconds=max_seconds, update_ids=update_ids)
        total = len(warm.statuses) + len(load.statuses)
        assert set(warm.statuses) | set(load.statuses) == {200}, sorted(set(load.statuses))
        replies = api.calls_to("sendMessage")
        assert len(replies) == total
        load.to_reply_ms = receipt_to_reply_ms(load.sent_at, replies)
        engine = create_engine(normalise_database_url(url))
        try:
            with engine.connect() as conn:
                tasks = conn.execute(text("SELECT count(*) FROM tasks")).scalar_one()
                outbox, sent = conn.execute(text(
                    "SELECT count(*), count(sent_at) FROM outbox")).one()
        finally:
            engine.dispose()
        assert (tasks, outbox, sent) == (total, total, total), (tasks, outbox, sent, total)
        return load


def receipt_to_reply_ms(sent_at: dict[int, float], replies: list[ApiCall]) -> list[float]:
    """Per update sent, ms from sending it to the fake receiving its ``sendMessage`` (the
    reply to ``/add Load <update_id>`` ends with that title); each exactly once."""
    received: dict[int, float] = {}
    for call in replies:
        match = _LOAD_TITLE.search(str(call.get("text", "")))
        if match is not None and int(match[1]) in sent_at:
            update_id = int(match[1])
            assert update_id not in received, f"update {update_id} answered twice"
            received[update_id] = call.at
    assert received.keys() == sent_at.keys(), "an update was not answered"
    return [(received[u] - sent_at[u]) * 1000 for u in sent_at]


def measure(quick: bool = False) -> list[Row]:
    concurrency = 4 if quick else CONCURRENCY
    load = run(concurrency=concurrency, requests=40, warmup=8) if quick else run()
    p50, p99 = median(load.latencies_ms), percentile(load.latencies_ms, 0.99)
    r50, r99 = median(load.to_reply_ms), percentile(load.to_reply_ms, 0.99)
    return [Row(
        6, f"`todobot serve` (uvicorn subprocess, PostgreSQL, fake Bot API): authenticated "
        f"`/add` updates, concurrency {concurrency}, {concurrency} chats",
        f"{load.per_second:.0f} turns/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms over "
        f"{len(load.statuses)} updates in {load.seconds:.1f} s, all 200, each stored and "
        "answered once; 2 cores shared by server, PostgreSQL, fake and load generator",
        f"{load.per_second:.0f}/s", "reported", None),
        Row(6, "receipt-to-reply, local: from sending the webhook request to `todobot serve` "
            "to the fake Bot API receiving that update's `sendMessage`, the same run",
            f"p50 {r50:.0f} ms, p99 {r99:.0f} ms over {len(load.to_reply_ms)} updates "
            f"(concurrency {concurrency}; the in-process queue sends the reply before the "
            "webhook answers)", f"p50 {r50:.0f} ms / p99 {r99:.0f} ms", "reported", None)]


def main() -> None:
    print(render(measure("--quick" in sys.argv)))


if __name__ == "__main__":
    main()
