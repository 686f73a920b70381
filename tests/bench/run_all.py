"""The benchmark suite: every target of issues #6 and #9, one table.

``make bench``, ``python -m tests.bench`` or ``python -m tests.bench.run_all``. Each figure is a
ratio of two things measured side by side in the same run (this machine is shared and noisy),
or a count, or a figure that is reported rather than judged. Options: ``--only NAME[,NAME]``
(names below), ``--quick`` (tiny sample sizes: checks the machinery, not the targets).
Needs PostgreSQL at 127.0.0.1:5432 (see tests/pg_databases.py); no network beyond 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from types import ModuleType

from tests.bench import (
    aws_reply,
    cold_start,
    faults,
    limits_cost,
    llm_economy,
    phrase_score,
    reminder_lateness,
    serve_throughput,
    slack_ack,
    sweep_scale,
    telegram_turn,
    turn_history,
)
from tests.bench.table import Row, render

BENCHMARKS: dict[str, ModuleType] = {
    "cold_start": cold_start,
    "telegram_turn": telegram_turn,
    "turn_history": turn_history,
    "slack_ack": slack_ack,
    "llm_economy": llm_economy,
    "serve_throughput": serve_throughput,
    "aws_reply": aws_reply,
    "faults": faults,
    "sweep_scale": sweep_scale,
    "reminder_lateness": reminder_lateness,
    "phrase_score": phrase_score,
    "limits_cost": limits_cost,
}


def run(names: Sequence[str] | None = None, *, quick: bool = False,
        progress: Callable[[str], None] | None = None) -> list[Row]:
    """Run the named benchmarks (all by default) in order; their rows, in target order."""
    rows: list[Row] = []
    for name in names or list(BENCHMARKS):
        if name not in BENCHMARKS:
            raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
        started = time.perf_counter()
        rows += BENCHMARKS[name].measure(quick)
        if progress is not None:
            progress(f"{name}: {time.perf_counter() - started:.0f} s")
    return sorted(rows, key=lambda row: row.number)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help="comma-separated benchmark names: "
                        + ", ".join(BENCHMARKS))
    parser.add_argument("--quick", action="store_true",
                        help="tiny samples: checks the machinery, not the targets")
    args = parser.parse_args(argv)
    names = args.only.split(",") if args.only else None
    runtimes: list[str] = []

    def progress(line: str) -> None:
        runtimes.append(line)
        print(line, file=sys.stderr, flush=True)

    started = time.perf_counter()
    rows = run(names, quick=args.quick, progress=progress)
    print(f"Benchmarks ({'quick, ' if args.quick else ''}{platform.python_implementation()} "
          f"{platform.python_version()}, {_cores()} cores, {time.strftime('%Y-%m-%d')}):\n")
    print(render(rows))
    verdicts = [row.met for row in rows]
    print(f"\nmet: {verdicts.count(True)}, not met: {verdicts.count(False)}, "
          f"reported: {verdicts.count(None)}")
    print(f"runtime: {', '.join(runtimes)}; total {time.perf_counter() - started:.0f} s")
    return 0  # numbers, not a pass/fail gate: the table says what was met


def _cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


if __name__ == "__main__":
    sys.exit(main())
