"""A batch through the worker, deterministically (no queue): groups run side by side, a failed
record fails the rest of its group, an outage is retried patiently, a poisoned record is
dead-lettered by the worker, the deadline sends the tail back."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import OperationalError

from bot_core.inbound import Inbound
from handlers.aws.sqs_batch import (
    POISONED_AFTER,
    BatchSettings,
    is_outage,
    process_records,
    turn_backoff,
)
from handlers.delivery import QueuedDelivery, group_of

SETTINGS = BatchSettings(instant_reserve_ms=1_000, brain_reserve_ms=5_000, max_receives=20)


def _record(n: int, user: str = "u1", *, receives: int = 1, text: str | None = None) -> dict[
        str, Any]:
    inbound = Inbound(platform="test", chat_id="c", external_user_id=user,
                      text=text or f"/add {n}", delivery_key=f"{user}-{n}")
    delivery = QueuedDelivery(kind="turn", platform="test", group=group_of(inbound), target={},
                              inbound=inbound, delivery_key=inbound.delivery_key,
                              received_at=datetime.now(UTC))
    return {"messageId": f"m-{user}-{n}", "receiptHandle": f"r-{user}-{n}",
            "body": delivery.model_dump_json(),
            "attributes": {"ApproximateReceiveCount": str(receives),
                           "MessageGroupId": delivery.group}}


class Worker:
    """Records what ran; fails the texts it is told to, the way it is told to."""

    def __init__(self, fail: dict[str, BaseException] | None = None) -> None:
        self.ran: list[str] = []
        self.fail = fail or {}
        self.lock = threading.Lock()

    def process(self, delivery: QueuedDelivery) -> float | None:
        assert delivery.inbound is not None and delivery.inbound.text is not None
        text = delivery.inbound.text
        if text in self.fail:
            raise self.fail[text]
        with self.lock:
            self.ran.append(text)
        return None


def _run(records: list[dict[str, Any]], worker: Worker, *, remaining: list[int] | None = None,
         dead: list[str] | None = None) -> tuple[list[str], dict[str, int]]:
    visibility: dict[str, int] = {}
    times = iter(remaining or [])
    failed = process_records(
        records, worker,  # type: ignore[arg-type]
        remaining_ms=lambda: next(times, 60_000),
        retry_later=lambda handle, seconds: visibility.__setitem__(handle, seconds),
        settings=SETTINGS,
        dead_letter=(lambda message_id, _group, _body: dead.append(message_id))
        if dead is not None else None)
    return failed, visibility


def test_a_failed_record_fails_the_rest_of_its_group_only() -> None:
    worker = Worker(fail={"/add 1": RuntimeError("bug")})
    records = [_record(0), _record(1), _record(2), _record(0, "u2", text="/add a"),
               _record(1, "u2", text="/add b")]
    failed, visibility = _run(records, worker)
    assert failed == ["m-u1-1", "m-u1-2"]
    assert sorted(worker.ran) == ["/add 0", "/add a", "/add b"]  # u1's first, both of u2's
    assert visibility == {"r-u1-1": 2, "r-u1-2": 0}


def test_an_outage_is_retried_patiently_and_never_dead_lettered_early() -> None:
    outage = OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
    assert is_outage(outage) and not is_outage(RuntimeError("bug"))
    dead: list[str] = []
    worker = Worker(fail={"/add 0": outage})
    failed, visibility = _run([_record(0, receives=POISONED_AFTER)], worker, dead=dead)
    assert failed == ["m-u1-0"] and dead == []
    assert visibility == {"r-u1-0": turn_backoff(POISONED_AFTER, outage=True)}
    assert [turn_backoff(n, outage=True) for n in (1, 2, 3, 8, 19)] == [15, 30, 60, 900, 900]
    failed, _ = _run([_record(0, receives=SETTINGS.max_receives)], worker, dead=dead)
    assert failed == [] and dead == ["m-u1-0"]  # only on the redrive policy's last receive


def test_a_poisoned_record_is_dead_lettered_and_its_group_goes_on() -> None:
    dead: list[str] = []
    worker = Worker(fail={"/add 0": RuntimeError("bug")})
    records = [_record(0, receives=POISONED_AFTER), _record(1, receives=POISONED_AFTER)]
    failed, _ = _run(records, worker, dead=dead)
    assert failed == [] and dead == ["m-u1-0"] and worker.ran == ["/add 1"]


def test_a_body_that_is_not_a_delivery_is_poisoned() -> None:
    dead: list[str] = []
    broken = _record(0) | {"body": json.dumps({"not": "a delivery"})}
    failed, visibility = _run([broken, _record(1)], Worker(), dead=dead)
    assert failed == ["m-u1-0", "m-u1-1"] and visibility == {"r-u1-0": 0, "r-u1-1": 0}
    broken["attributes"]["ApproximateReceiveCount"] = str(POISONED_AFTER)
    worker = Worker()
    failed, _ = _run([broken, _record(1)], worker, dead=dead)
    assert failed == [] and dead == ["m-u1-0"] and worker.ran == ["/add 1"]


def test_the_deadline_sends_the_tail_back_at_once() -> None:
    worker = Worker()
    failed, visibility = _run([_record(0), _record(1), _record(2)], worker,
                              remaining=[5_000, 900])
    assert worker.ran == ["/add 0"]
    assert failed == ["m-u1-1", "m-u1-2"] and set(visibility.values()) == {0}


def test_an_unsent_reply_is_retried_through_the_queue_then_left_to_the_scheduler() -> None:
    class Unsent(Worker):
        def process(self, delivery: QueuedDelivery) -> float | None:
            super().process(delivery)
            return 7.2

    failed, visibility = _run([_record(0, receives=1), _record(1)], Unsent())
    assert failed == ["m-u1-0", "m-u1-1"] and visibility["r-u1-0"] == 8
    failed, _ = _run([_record(0, receives=3)], Unsent())
    assert failed == []
