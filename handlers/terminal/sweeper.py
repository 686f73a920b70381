"""The scheduler's sweep on a background thread, every few seconds, for ``todobot chat``: the
reminders of the tasks made in the terminal fall due (and are printed) while the prompt waits.

Ticks keep a fixed rate on the monotonic clock (a slow sweep does not push the next ones back;
one that overran is followed at once by the next, never by a burst). What is due is decided by
the root's clock inside :func:`handlers.sweep.sweep`; the wall clock here only paces the loop.
A failing sweep is logged once per run of failures and tried again at the next tick.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handlers.composition import Root
    from handlers.sweep import SweepReport

log = logging.getLogger(__name__)

EVERY_SECONDS = 2.0
"""The chat's tick: a reminder is printed at most about this long after it fell due."""
STOP_TIMEOUT_SECONDS = 30.0
"""How long stopping waits for a sweep in progress to finish."""


def _sweep(root: Root) -> SweepReport:
    from handlers.sweep import sweep

    return sweep(root)


class BackgroundSweep:
    """Sweeps ``root`` every ``every`` seconds on a daemon thread, the first one at once;
    a context manager (started on entry, stopped — the current sweep finished — on exit)."""

    def __init__(self, root: Root, *, every: float = EVERY_SECONDS,
                 sweep: Callable[[Root], object] = _sweep) -> None:
        if every <= 0:
            raise ValueError("every must be positive")
        self.root = root
        self.every = every
        self._sweep = sweep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._done = threading.Condition()
        self.sweeps = 0
        """Sweeps finished (failed ones included) since the start."""

    def start(self) -> BackgroundSweep:
        if self._thread is not None:
            raise RuntimeError("already started")
        self._thread = threading.Thread(target=self._run, name="todobot-sweep", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """Ask the loop to end and wait for it (a sweep in progress finishes first)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the background sweep did not stop within %.0f s", timeout)

    def wait_for(self, sweeps: int, timeout: float) -> bool:
        """Wait until ``sweeps`` sweeps have finished; False on timeout (tests, benchmarks)."""
        with self._done:
            return self._done.wait_for(lambda: self.sweeps >= sweeps, timeout)

    def __enter__(self) -> BackgroundSweep:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        failing = False
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                self._sweep(self.root)
                if failing:
                    log.warning("background sweep works again")
                failing = False
            except Exception:  # logged once per run of failures; the next tick tries again
                if not failing:
                    log.exception("background sweep failed (retrying every %.0f s)",
                                  self.every)
                failing = True
            with self._done:
                self.sweeps += 1
                self._done.notify_all()
            next_at = max(next_at + self.every, time.monotonic())
            self._stop.wait(max(0.0, next_at - time.monotonic()))
