"""The queue outside Lambda (no ``TODOBOT_QUEUE_URL``): ``todobot serve``, ``todobot telegram
poll`` and the tests.

It keeps what SQS FIFO keeps — one delivery of a group (one chat member's conversation) at a
time, lowest ``seq`` first among those waiting, other groups never waiting — and runs the same
:class:`~handlers.processing.Worker`, on the caller's thread, so a webhook answers after the
reply is sent. Nothing is held in memory past the request: a turn that fails raises (the
webhook answers 5xx and the platform delivers again); a reply that could not be sent after a
few short retries stays in the outbox for the scheduler sweep.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from handlers.delivery import QueuedDelivery
from handlers.processing import Worker

log = logging.getLogger(__name__)

SEND_RETRIES = 2
MAX_INLINE_WAIT_SECONDS = 2.0
"""Longer waits (a 429 asking for 30 s) are left to the scheduler rather than held here."""


class _Group:
    def __init__(self) -> None:
        self.waiting: list[tuple[int, int]] = []
        self.busy = False
        self.users = 0


class GroupOrder:
    """One holder per group at a time; among waiters, the lowest ``seq`` goes first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._groups: dict[str, _Group] = {}
        self._arrivals = itertools.count()

    def waiting(self, group: str) -> int:
        """Deliveries of ``group`` waiting for their turn (tests, operations)."""
        with self._lock:
            state = self._groups.get(group)
            return len(state.waiting) if state is not None else 0

    def groups(self) -> int:
        """Groups with a delivery running or waiting."""
        with self._lock:
            return len(self._groups)

    @contextmanager
    def turn(self, group: str, seq: int) -> Iterator[None]:
        """Wait for this delivery's turn in its group, hold it inside the block."""
        ticket = (seq, next(self._arrivals))
        with self._changed:
            state = self._groups.setdefault(group, _Group())
            state.users += 1
            heapq.heappush(state.waiting, ticket)
            while state.busy or state.waiting[0] != ticket:
                self._changed.wait()
            heapq.heappop(state.waiting)
            state.busy = True
        try:
            yield
        finally:
            with self._changed:
                state.busy = False
                state.users -= 1
                if state.users == 0:
                    del self._groups[group]
                self._changed.notify_all()


class LocalQueue:
    """Runs each delivery at once on the caller's thread, in its group's order."""

    def __init__(self, worker: Worker, *, send_retries: int = SEND_RETRIES,
                 max_wait: float = MAX_INLINE_WAIT_SECONDS,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._worker = worker
        self._order = GroupOrder()
        self._send_retries = send_retries
        self._max_wait = max_wait
        self._sleep = sleep

    def waiting(self, group: str) -> int:
        """Deliveries of ``group`` waiting behind the one running (tests, operations)."""
        return self._order.waiting(group)

    def enqueue(self, delivery: QueuedDelivery) -> None:
        """Process ``delivery`` now; raises if its turn could not be stored."""
        with self._order.turn(delivery.group, delivery.seq):
            delay = self._worker.process(delivery)
            retries = 0
            # Retried here only when the platform asked for a short wait; a longer one is the
            # scheduler's, which honours the row's next attempt time.
            while delay is not None and delay <= self._max_wait and retries < self._send_retries:
                self._sleep(delay)
                retries += 1
                delay = self._worker.process(delivery)
        if delay is not None:
            log.warning("%s reply not sent yet; the scheduler will retry it", delivery.platform)
