"""Holding a turn in the middle, and seeing who waits behind it.

:func:`gated`: a fake model answer that waits for an event, so an LLM turn is still thinking
while a test sends what must (or must not) wait behind it.

:func:`count_waiting`: with the in-process queue (outside Lambda) a delivery waiting for its
conversation's earlier turn writes nothing and sends nothing, so neither the database nor the
fakes can tell that it has arrived; its thread's stack can. A thread whose innermost frames are
``Condition.wait`` called by ``GroupOrder.turn`` is such a delivery. :func:`waiting_here`
counts them in this process (handler() called on threads); ``Served.waiting`` in a
``todobot serve`` subprocess.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

from tests.fakes.http import FakeResponse
from tests.fakes.openai_server import Step

WAITING_FRAMES = ("Condition.wait", "GroupOrder.turn")
GATE_TIMEOUT_SECONDS = 120


def gated(gate: threading.Event, then: Step) -> Step:
    """A model answer that waits for ``gate`` first: an LLM turn still thinking."""
    def step(request: dict[str, Any]) -> FakeResponse:
        gate.wait(GATE_TIMEOUT_SECONDS)
        return then(request)
    return step


def count_waiting(stacks: list[list[str]]) -> int:
    """Threads (qualified function names, innermost frame first) waiting in an in-process
    queue for their conversation's earlier turn."""
    return sum(1 for stack in stacks if tuple(stack[:2]) == WAITING_FRAMES)


def waiting_here() -> int:
    """Deliveries waiting in this process's in-process queue."""
    stacks = []
    for top in sys._current_frames().values():
        names: list[str] = []
        frame: Any = top
        while frame is not None:
            names.append(frame.f_code.co_qualname)
            frame = frame.f_back
        stacks.append(names)
    return count_waiting(stacks)


def on_threads(jobs: list[Callable[[], Any]]) -> tuple[list[threading.Thread], list[Any]]:
    """Start every job on a daemon thread of its own; (the threads, a list their results are
    appended to as they end)."""
    results: list[Any] = []

    def run(job: Callable[[], Any]) -> None:
        results.append(job())

    threads = [threading.Thread(target=run, args=(job,), daemon=True) for job in jobs]
    for thread in threads:
        thread.start()
    return threads, results
