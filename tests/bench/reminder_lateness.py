"""Benchmark: how late reminders arrive locally, as a user feels it, with the background
sweep's few-second tick.

The real loops, with the real clock, against SQLite files: ``todobot chat``'s background sweep
(:class:`handlers.terminal.sweeper.BackgroundSweep`, every
:data:`~handlers.terminal.sweeper.EVERY_SECONDS`, printing through the terminal sender) and
``todobot serve``'s (:func:`handlers.http_app._sweep_forever`, every
:data:`~handlers.http_app.SWEEP_EVERY_SECONDS`), side by side, each on its own database. For
each, :data:`TASKS` tasks are made through the service as a terminal chat makes them ("remind
me to stretch 7 in 2 hours", with the terminal's chat target), then their reminders are moved
to random instants spread over :data:`SPREAD_SECONDS` seconds from a few seconds ahead.
Lateness is the wall-clock time from a task's ``remind_at`` to the moment its reminder had been
printed (the terminal sender returned). The whole run takes about a minute (under 90 s).

Expect about half a tick on average and at most a tick plus one sweep's time. Figures are
reported, not judged. Run: ``python -m tests.bench.reminder_lateness [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlmodel import col

from bot_core.inbound import Inbound
from bot_core.outbox import OutboxItem, SendOutcome
from bot_core.settings import Settings
from handlers import http_app
from handlers.composition import Root
from handlers.terminal import sweeper
from handlers.terminal.sender import PLATFORM, TerminalSender, chat_target
from models.migrate import upgrade
from models.tables import Task
from tests.bench.table import Row, median, percentile, render

NUMBER = 9
"""The row number in the suite's table."""
TASKS = 50
SPREAD_SECONDS = 45.0
LEAD_SECONDS = 3.0
"""The first reminder is due this long after the tasks are set up."""
USER = "bench"
_NUMBER = re.compile(r"Reminder: #(\d+) ")


@dataclass
class Lateness:
    """One loop's run: its tick and each reminder's lateness in seconds."""

    loop: str
    tick: float
    due: dict[int, datetime]
    printed: dict[int, datetime] = field(default_factory=dict)
    repeats: int = 0

    @property
    def seconds(self) -> list[float]:
        return [(self.printed[n] - self.due[n]).total_seconds() for n in sorted(self.printed)]


class TimedTerminal:
    """The terminal sender, noting when each reminder had been printed (wall clock, UTC)."""

    def __init__(self, result: Lateness) -> None:
        self._terminal = TerminalSender(io.StringIO(), user=USER)
        self._result = result
        self._lock = threading.Lock()

    def send(self, item: OutboxItem) -> SendOutcome:
        outcome = self._terminal.send(item)
        at = datetime.now(UTC)
        found = _NUMBER.search(item.reply.text)
        if found is not None:
            with self._lock:
                number = int(found[1])
                if number in self._result.printed:
                    self._result.repeats += 1
                else:
                    self._result.printed[number] = at
        return outcome

    @contextmanager
    def thinking(self, target: Mapping[str, Any]) -> Iterator[None]:
        yield


def _root(folder: Path, name: str) -> Root:
    url = f"sqlite:///{folder / name}.db"
    upgrade(url)
    return Root(Settings(database_url=url))  # the real clock


def _make_tasks(root: Root, tasks: int) -> None:
    """``tasks`` tasks made in the terminal chat, each with a reminder (so it reminds there)."""
    for index in range(1, tasks + 1):
        turn = Inbound(platform=PLATFORM, chat_id="terminal", external_user_id=USER,
                       display_name=USER, text=f"remind me to stretch {index} in 2 hours")
        root.service.handle(turn, chat_target=chat_target(USER))


def _schedule(root: Root, tasks: int, spread: float, seed: int) -> dict[int, datetime]:
    """Move the reminders to random instants over ``spread`` seconds, from a few seconds on."""
    rng = random.Random(seed)
    start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
    due = {n: start + timedelta(seconds=rng.uniform(0, spread)) for n in range(1, tasks + 1)}
    with root.engine.begin() as conn:
        for number, at in due.items():
            conn.execute(update(Task).where(col(Task.number) == number).values(remind_at=at))
    return due


def _chat_loop(root: Root) -> Callable[[threading.Event], None]:
    def run(stop: threading.Event) -> None:
        with sweeper.BackgroundSweep(root, every=sweeper.EVERY_SECONDS):
            stop.wait()
    return run


def _serve_loop(root: Root) -> Callable[[threading.Event], None]:
    async def until(stop: threading.Event) -> None:
        task = asyncio.create_task(http_app._sweep_forever(root))
        await asyncio.to_thread(stop.wait)
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task

    def run(stop: threading.Event) -> None:
        asyncio.run(until(stop))
    return run


def run(tasks: int = TASKS, spread: float = SPREAD_SECONDS) -> list[Lateness]:
    """Both loops side by side; each one's lateness."""
    with tempfile.TemporaryDirectory(prefix="todobot-lateness-") as folder:
        loops = [("todobot chat", sweeper.EVERY_SECONDS, _chat_loop),
                 ("todobot serve", http_app.SWEEP_EVERY_SECONDS, _serve_loop)]
        roots = [_root(Path(folder), f"loop{i}") for i in range(len(loops))]
        results: list[Lateness] = []
        threads: list[threading.Thread] = []
        stop = threading.Event()
        try:
            for root in roots:
                _make_tasks(root, tasks)
            for (name, tick, loop), root in zip(loops, roots, strict=True):
                result = Lateness(name, tick, _schedule(root, tasks, spread, seed=len(results)))
                results.append(result)
                root.senders[PLATFORM] = TimedTerminal(result)  # before the loop starts
                threads.append(threading.Thread(target=loop(root), args=(stop,), daemon=True))
            for thread in threads:
                thread.start()
            last_due = max(max(r.due.values()) for r in results)
            deadline = last_due + timedelta(seconds=max(r.tick for r in results) + 10)
            while datetime.now(UTC) < deadline and any(
                    len(r.printed) < len(r.due) for r in results):
                time.sleep(0.1)
            time.sleep(max(r.tick for r in results))  # a repeat would show in the next sweep
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
            for root in roots:
                root.close()
    return results


def _describe(result: Lateness) -> str:
    late = result.seconds
    if not late:
        return "no reminder arrived"
    return (f"p50 {median(late):.2f} s · p99 {percentile(late, 0.99):.2f} s · "
            f"max {max(late):.2f} s · mean {sum(late) / len(late):.2f} s")


def measure(quick: bool = False) -> list[Row]:
    tasks, spread = (10, 6.0) if quick else (TASKS, SPREAD_SECONDS)
    results = run(tasks, spread)
    rows = []
    for result in results:
        missing = len(result.due) - len(result.printed)
        rows.append(Row(
            NUMBER, f"reminder lateness, local: `{result.loop}`'s background sweep every "
            f"{result.tick:g} s (real clock, SQLite), from `remind_at` to the reminder printed",
            f"{len(result.printed)} of {len(result.due)} reminders due at random instants "
            f"over {spread:g} s, each printed "
            f"{'once' if not result.repeats else f'{result.repeats} times too often'}"
            + (f", {missing} never arrived" if missing else ""),
            _describe(result), "reported", None))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.reminder_lateness",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10 reminders over 6 s")
    args = parser.parse_args(argv)
    started = time.monotonic()
    rows = measure(args.quick)
    for row in rows:
        print(f"{row.target}: {row.figure} ({row.measured})")
    print(f"({time.monotonic() - started:.0f} s)\n")
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
