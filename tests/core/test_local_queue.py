"""The in-process queue keeps SQS FIFO's promises: one delivery of a group at a time, the
lowest seq first among those waiting, other groups never waiting."""

from __future__ import annotations

import threading
import time

from handlers.local_queue import GroupOrder


def test_one_holder_per_group_lowest_seq_first() -> None:
    order = GroupOrder()
    ran: list[int] = []
    inside = threading.Event()
    release = threading.Event()

    def first() -> None:
        with order.turn("g", 10):
            inside.set()
            release.wait(10)
            ran.append(10)

    def later(seq: int) -> None:
        with order.turn("g", seq):
            ran.append(seq)

    holder = threading.Thread(target=first)
    holder.start()
    assert inside.wait(5)
    waiters = [threading.Thread(target=later, args=(seq,)) for seq in (14, 12, 13, 11)]
    for thread in waiters:
        thread.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and order.waiting("g") < 4:
        time.sleep(0.01)
    release.set()
    for thread in [holder, *waiters]:
        thread.join(10)
    assert ran == [10, 11, 12, 13, 14]
    assert order.groups() == 0  # nothing kept once a group is idle


def test_another_group_does_not_wait() -> None:
    order = GroupOrder()
    release = threading.Event()
    inside = threading.Event()

    def slow() -> None:
        with order.turn("a", 1):
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=slow)
    thread.start()
    assert inside.wait(5)
    with order.turn("b", 1):
        assert not release.is_set()
    release.set()
    thread.join(10)
