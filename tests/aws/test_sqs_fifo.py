"""The turn queue on SQS FIFO: handlers.aws.sqs_queue sending through the real boto3 client to
moto's server, the event source mapping fake (tests/fakes/sqs_esm.py) consuming, and a small
recording handler standing in for the worker.

What must hold, as AWS documents SQS FIFO and Lambda's partial batch responses: each
conversation (message group) is processed in send order and by one invocation at a time, under
several producers and several pollers; a deduplication id is delivered once, even when sent
from two webhooks at once or after the first copy was consumed; a record that always fails
reaches the dead-letter queue after ``maxReceiveCount`` receives while other conversations go
on, and its own conversation resumes after it; ``retry_later`` brings a failed record back after
its delay rather than the queue's visibility timeout. No assertion here depends on the machine
being fast: only lower bounds on time, and upper bounds far above the delays involved.
"""

from __future__ import annotations

import hashlib
import json
import socket
import string
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.aws.sqs_queue import (
    FIFO_ID_CHARACTERS,
    MAX_FIFO_ID_LENGTH,
    OutgoingMessage,
    SqsQueue,
    SqsSendError,
    fifo_id,
    is_fifo_id,
)
from tests.aws.conftest import FifoQueue, FifoQueueFactory
from tests.fakes.moto_sqs import queue_counts, receive_all
from tests.fakes.sqs_esm import BatchOutcome, DrainTimeout, EventSourceMapping

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

FIFO_RECORD_ATTRIBUTES = {
    "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
    "SequenceNumber", "MessageGroupId", "MessageDeduplicationId",
}
RECORD_KEYS = {"messageId", "receiptHandle", "body", "attributes", "messageAttributes",
               "md5OfBody", "eventSource", "eventSourceARN", "awsRegion"}


def turn(group: str, seq: int, **extra: Any) -> OutgoingMessage:
    """The ``seq``-th turn of conversation ``group``."""
    return OutgoingMessage(group_id=fifo_id("test", group), dedup_id=fifo_id("test", group,
                           str(seq)), body=json.dumps({"group": group, "seq": seq, **extra}))


# -- the recording handler ------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    order: int
    """Position among all attempts, in the order they happened."""
    group: str
    seq: int
    receive_count: int
    outcome: str
    """``ok`` (processed), ``failed`` (reported: it failed) or ``skipped`` (reported: an earlier
    record of its group failed in this batch)."""
    message_id: str
    receipt_handle: str
    body: dict[str, Any]
    at: float
    """time.time() when the handler took the record."""


class RecordingHandler:
    """A worker stand-in answering FIFO-correct partial batch responses.

    ``fails(record)`` decides which records fail; the later records of a failed record's group
    in the batch are reported too. ``on_failure(record, skipped)`` runs for every reported record
    (to set its visibility). The handler notes when two invocations hold one group at once, and
    with ``wait_for_overlap_s`` the first invocations wait (that long at most) until another one
    runs beside them, so that a test of concurrency is one.
    """

    def __init__(self, *, fails: Callable[[dict[str, Any]], bool] = lambda record: False,
                 on_failure: Callable[[dict[str, Any], bool], None] | None = None,
                 per_record_s: float = 0.0, wait_for_overlap_s: float = 0.0) -> None:
        self.fails = fails
        self.on_failure = on_failure
        self.per_record_s = per_record_s
        self.wait_for_overlap_s = wait_for_overlap_s
        self.attempts: list[Attempt] = []
        self.group_overlaps: list[set[str]] = []
        self.invocations = 0
        self.max_concurrent = 0
        self._active_groups: set[str] = set()
        self._active = 0
        self._overlap = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        records = event["Records"]
        groups = {record["attributes"]["MessageGroupId"] for record in records}
        with self._lock:
            self.invocations += 1
            if groups & self._active_groups:
                self.group_overlaps.append(groups & self._active_groups)
            self._active_groups |= groups
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
            if self._active >= 2:
                self._overlap.set()
        try:
            if self.wait_for_overlap_s and not self._overlap.is_set():
                self._overlap.wait(self.wait_for_overlap_s)
            return {"batchItemFailures": [{"itemIdentifier": i} for i in self._run(records)]}
        finally:
            with self._lock:
                self._active_groups -= groups
                self._active -= 1

    def _run(self, records: list[dict[str, Any]]) -> list[str]:
        failed_groups: set[str] = set()
        reported: list[str] = []
        for record in records:
            group = record["attributes"]["MessageGroupId"]
            skipped = group in failed_groups
            failed = skipped or self.fails(record)
            if self.per_record_s and not skipped:
                time.sleep(self.per_record_s)
            self._note(record, "skipped" if skipped else "failed" if failed else "ok")
            if failed:
                failed_groups.add(group)
                reported.append(record["messageId"])
                if self.on_failure is not None:
                    self.on_failure(record, skipped)
        return reported

    def _note(self, record: dict[str, Any], outcome: str) -> None:
        body = json.loads(record["body"])
        with self._lock:
            self.attempts.append(Attempt(
                order=len(self.attempts), group=body["group"], seq=body["seq"],
                receive_count=int(record["attributes"]["ApproximateReceiveCount"]),
                outcome=outcome, message_id=record["messageId"],
                receipt_handle=record["receiptHandle"], body=body, at=time.time(),
            ))

    def processed(self, group: str) -> list[int]:
        """The group's successfully processed seqs, in processing order."""
        return [a.seq for a in self.attempts if a.group == group and a.outcome == "ok"]

    def tries(self, group: str, seq: int) -> list[Attempt]:
        return [a for a in self.attempts if a.group == group and a.seq == seq]


def is_poison(group: str, seq: int) -> Callable[[dict[str, Any]], bool]:
    def fails(record: dict[str, Any]) -> bool:
        body = json.loads(record["body"])
        return bool(body["group"] == group and body["seq"] == seq)

    return fails


def bodies(messages: list[Any]) -> list[tuple[str, int]]:
    return [(json.loads(m["Body"])["group"], json.loads(m["Body"])["seq"]) for m in messages]


def assert_fifo_clean(outcomes: list[BatchOutcome]) -> None:
    """No batch failed as a whole and none deleted a record behind a failed one."""
    assert [o.error for o in outcomes if o.error] == []
    assert [o.deleted_after_failure for o in outcomes if o.deleted_after_failure] == []
    assert [o.delete_errors for o in outcomes if o.delete_errors] == []


@pytest.fixture
def product_queue(fifo_queue: FifoQueue, sqs_endpoint: str) -> SqsQueue:
    """The product's queue object, its client built by itself (AWS_ENDPOINT_URL_SQS: moto)."""
    return SqsQueue(fifo_queue.url)


# -- (a) order per group, one batch per group at a time -------------------------------------


def test_each_conversation_runs_in_send_order_and_one_batch_at_a_time(
    fifo_queue: FifoQueue, product_queue: SqsQueue, sqs_client: SQSClient,
) -> None:
    groups, per_group = [f"chat-{n}" for n in range(5)], 20
    handler = RecordingHandler(per_record_s=0.002, wait_for_overlap_s=5.0)
    # A batch of 4 can never hold all 5 groups: another poller always has a group to take.
    esm = EventSourceMapping(sqs_client, fifo_queue.url, handler, batch_size=4)
    producer_errors: list[BaseException] = []
    producers_done = threading.Event()

    def produce(index: int, group: str) -> None:
        try:
            messages = [turn(group, seq) for seq in range(per_group)]
            if index % 2:  # half the producers send in batches (one group per batch)
                product_queue.send_batch(messages[:7])
                product_queue.send_batch(messages[7:])
            else:
                for message in messages:
                    product_queue.send(message)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            producer_errors.append(error)

    producers = [threading.Thread(target=produce, args=(i, g)) for i, g in enumerate(groups)]
    for producer in producers:
        producer.start()

    def all_sent() -> None:
        for producer in producers:
            producer.join()
        producers_done.set()

    threading.Thread(target=all_sent, daemon=True).start()
    outcomes = esm.run_concurrently(3, not_before=producers_done, timeout_s=30)

    assert producer_errors == []
    assert handler.group_overlaps == []  # never two invocations with one group
    for group in groups:
        assert handler.processed(group) == list(range(per_group)), group
    assert len(handler.attempts) == len(groups) * per_group  # each exactly once
    assert handler.max_concurrent >= 2  # the pollers did run side by side
    assert len({o.worker for o in outcomes}) >= 2
    assert all(len(o.records) <= 4 for o in outcomes)
    assert_fifo_clean(outcomes)
    assert queue_counts(sqs_client, fifo_queue.url) == {"visible": 0, "in_flight": 0,
                                                         "delayed": 0}
    assert receive_all(sqs_client, fifo_queue.dlq_url) == []


def test_records_carry_sqs_fifo_attributes_and_increasing_sequence_numbers(
    fifo_queue: FifoQueue, product_queue: SqsQueue, sqs_client: SQSClient,
) -> None:
    recorder = RecordingHandler()
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend(event["Records"])
        return recorder(event, context)

    esm = EventSourceMapping(sqs_client, fifo_queue.url, handler)
    product_queue.send_batch([turn("chat", seq) for seq in range(12)])
    assert_fifo_clean(esm.drain())

    assert [json.loads(r["body"])["seq"] for r in seen] == list(range(12))
    for seq, record in enumerate(seen):
        assert set(record) == RECORD_KEYS
        assert set(record["attributes"]) >= FIFO_RECORD_ATTRIBUTES
        assert record["attributes"]["MessageGroupId"] == "test:chat"
        assert record["attributes"]["MessageDeduplicationId"] == f"test:chat:{seq}"
        assert record["attributes"]["ApproximateReceiveCount"] == "1"
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == fifo_queue.arn
        assert record["awsRegion"] == "us-east-1"
        assert record["md5OfBody"] == hashlib.md5(record["body"].encode()).hexdigest()
        assert record["messageAttributes"] == {}
    sequence = [int(r["attributes"]["SequenceNumber"]) for r in seen]
    assert sequence == sorted(sequence) and len(set(sequence)) == len(sequence)


# -- (b) deduplication ----------------------------------------------------------------------


def test_a_deduplication_id_is_delivered_once(
    fifo_queue: FifoQueue, product_queue: SqsQueue, sqs_client: SQSClient,
) -> None:
    handler = RecordingHandler()
    esm = EventSourceMapping(sqs_client, fifo_queue.url, handler)
    first = turn("chat", 0)
    product_queue.send(first)
    product_queue.send(first)  # the platform's redelivery
    # Deduplication is by id, not content; and its scope is the queue, not the group.
    product_queue.send(OutgoingMessage(first.group_id, first.dedup_id, json.dumps(
        {"group": "chat", "seq": 0, "copy": True})))
    product_queue.send(OutgoingMessage(fifo_id("test", "other"), first.dedup_id, json.dumps(
        {"group": "other", "seq": 0})))

    def send_from_two_webhooks(message: OutgoingMessage) -> None:
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def send() -> None:
            try:
                barrier.wait(5)
                product_queue.send(message)
            except BaseException as error:  # noqa: BLE001 - reported by the test
                errors.append(error)

        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

    for seq in range(10):
        send_from_two_webhooks(turn("race", seq))
    assert_fifo_clean(esm.drain())

    assert handler.processed("chat") == [0]
    assert handler.processed("race") == list(range(10))
    assert handler.processed("other") == []
    assert [a.body for a in handler.attempts if a.group == "chat"] == [
        {"group": "chat", "seq": 0}]  # the first copy won
    assert len(handler.attempts) == 11

    # Consumed and deleted, still within the 5-minute interval: dropped all the same.
    product_queue.send(first)
    product_queue.send_batch([turn("race", seq) for seq in range(10)])
    assert esm.drain() == []
    # A new delivery key in the same conversation is a new message.
    product_queue.send(turn("chat", 1))
    esm.drain()
    assert handler.processed("chat") == [0, 1]


# -- (c) a poisoned record ------------------------------------------------------------------


def test_a_poisoned_record_is_dead_lettered_while_others_go_on_then_its_group_resumes(
    make_fifo_queue: FifoQueueFactory, sqs_client: SQSClient, sqs_endpoint: str,
) -> None:
    queue = make_fifo_queue(max_receive_count=3, visibility_timeout=1)
    product = SqsQueue(queue.url)
    handler = RecordingHandler(fails=is_poison("poisoned", 1))
    # Batches of one: the poisoned record is received alone, its group's later records wait.
    esm = EventSourceMapping(sqs_client, queue.url, handler, batch_size=1)
    product.send_batch([turn("poisoned", seq) for seq in range(4)])
    for group in ("chat-a", "chat-b"):
        product.send_batch([turn(group, seq) for seq in range(5)])

    outcomes = esm.run_concurrently(2, timeout_s=30)

    poison = handler.tries("poisoned", 1)
    assert [(a.receive_count, a.outcome) for a in poison] == [(1, "failed"), (2, "failed"),
                                                              (3, "failed")]
    assert handler.processed("poisoned") == [0, 2, 3]
    resumed = handler.tries("poisoned", 2)[0]
    assert resumed.order > poison[-1].order
    for group in ("chat-a", "chat-b"):
        assert handler.processed(group) == list(range(5))
    meanwhile = [a for a in handler.attempts
                 if a.group != "poisoned" and poison[0].order < a.order < poison[-1].order]
    assert meanwhile  # other conversations did not wait for the poisoned one
    assert handler.group_overlaps == []
    assert_fifo_clean(outcomes)

    dead = receive_all(sqs_client, queue.dlq_url)
    assert bodies(dead) == [("poisoned", 1)]
    assert dead[0]["Attributes"]["MessageGroupId"] == "test:poisoned"
    assert dead[0]["Attributes"]["MessageDeduplicationId"] == "test:poisoned:1"
    assert int(dead[0]["Attributes"]["ApproximateReceiveCount"]) >= queue.max_receive_count


def test_the_later_records_reported_with_a_poisoned_one_share_its_receives_and_its_fate(
    make_fifo_queue: FifoQueueFactory, sqs_client: SQSClient, sqs_endpoint: str,
) -> None:
    """With batches of 10, every receive of the poisoned record is one of the records behind
    it in the batch too (FIFO hands out the group together), so after ``maxReceiveCount``
    receives they go to the dead-letter queue with it, in order. A worker that wants them to
    run after all must keep them out of the poisoned record's batches (batch size 1) or let the
    poisoned record go itself before its last receive."""
    queue = make_fifo_queue(max_receive_count=3, visibility_timeout=1)
    product = SqsQueue(queue.url)
    handler = RecordingHandler(fails=is_poison("poisoned", 1))
    esm = EventSourceMapping(sqs_client, queue.url, handler, batch_size=10)
    product.send_batch([turn("poisoned", seq) for seq in range(4)])
    product.send_batch([turn("chat", seq) for seq in range(5)])

    outcomes = esm.drain(timeout_s=30)

    assert handler.processed("poisoned") == [0]
    assert handler.processed("chat") == list(range(5))
    assert [a.outcome for a in handler.tries("poisoned", 1)] == ["failed"] * 3
    for seq in (2, 3):
        assert [(a.receive_count, a.outcome) for a in handler.tries("poisoned", seq)] == [
            (1, "skipped"), (2, "skipped"), (3, "skipped")]
    assert_fifo_clean(outcomes)
    assert bodies(receive_all(sqs_client, queue.dlq_url)) == [
        ("poisoned", 1), ("poisoned", 2), ("poisoned", 3)]


# -- (e) retry_later ------------------------------------------------------------------------


def test_retry_later_brings_a_failed_record_back_after_its_delay(
    fifo_queue: FifoQueue, product_queue: SqsQueue, sqs_client: SQSClient,
) -> None:
    """The queue's visibility timeout is 30 s; the worker asks for 1 s, for the failed record
    and for the record behind it that it reported too. Both come back, in order, after that
    delay and long before 30 s."""
    delay = 1
    handler = RecordingHandler(
        fails=lambda record: record["attributes"]["ApproximateReceiveCount"] == "1"
        and json.loads(record["body"])["seq"] == 0,
        on_failure=lambda record, skipped: product_queue.retry_later(record["receiptHandle"],
                                                                     delay),
    )
    esm = EventSourceMapping(sqs_client, fifo_queue.url, handler)
    product_queue.send_batch([turn("chat", 0), turn("chat", 1)])

    first = esm.poll_once()
    assert first.failed == first.message_ids and len(first.failed) == 2
    assert first.deleted == () and first.error is None
    outcomes = esm.drain(timeout_s=fifo_queue.visibility_timeout / 2)

    assert [(a.seq, a.receive_count, a.outcome) for a in handler.attempts] == [
        (0, 1, "failed"), (1, 1, "skipped"), (0, 2, "ok"), (1, 2, "ok")]
    failed_at, retried_at = handler.attempts[0].at, handler.attempts[2].at
    assert retried_at - failed_at >= delay - 0.1  # not before its delay
    assert_fifo_clean(outcomes)


def test_a_conversation_waits_behind_every_record_still_in_flight(
    fifo_queue: FifoQueue, product_queue: SqsQueue, sqs_client: SQSClient,
) -> None:
    """Only the failed record gets a retry delay; the one behind it, reported too, keeps the
    queue's 30 s visibility timeout, and while it is in flight SQS hands out nothing of the
    group, not even the failed record whose delay is over."""
    delayed_at: list[float] = []

    def delay_only_the_failed_one(record: dict[str, Any], skipped: bool) -> None:
        if not skipped:
            product_queue.retry_later(record["receiptHandle"], 1)
            delayed_at.append(time.time())

    handler = RecordingHandler(
        fails=lambda record: json.loads(record["body"])["seq"] == 0
        and record["attributes"]["ApproximateReceiveCount"] == "1",
        on_failure=delay_only_the_failed_one,
    )
    esm = EventSourceMapping(sqs_client, fifo_queue.url, handler)
    product_queue.send_batch([turn("chat", 0), turn("chat", 1)])
    first = esm.poll_once()
    assert len(first.failed) == 2

    time.sleep(max(0.0, delayed_at[0] + 1.2 - time.time()))  # its delay is over
    assert queue_counts(sqs_client, fifo_queue.url) == {"visible": 1, "in_flight": 1,
                                                         "delayed": 0}
    assert esm.poll_once().empty  # blocked by the record behind it
    with pytest.raises(DrainTimeout):
        esm.drain(timeout_s=0.5)

    product_queue.retry_later(first.records[1]["receiptHandle"], 0)
    esm.drain(timeout_s=10)
    assert [(a.seq, a.receive_count, a.outcome) for a in handler.attempts] == [
        (0, 1, "failed"), (1, 1, "skipped"), (0, 2, "ok"), (1, 2, "ok")]


# -- the event source mapping fake itself ---------------------------------------------------


def test_the_handler_gets_lambda_context_and_message_attributes(
    fifo_queue: FifoQueue, sqs_client: SQSClient,
) -> None:
    contexts: list[tuple[Any, int, int]] = []
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> None:
        first = context.get_remaining_time_in_millis()
        time.sleep(0.01)
        contexts.append((context, first, context.get_remaining_time_in_millis()))
        events.append(event)

    for seq in range(2):
        sqs_client.send_message(
            QueueUrl=fifo_queue.url, MessageBody=f"m{seq}", MessageGroupId=f"g{seq}",
            MessageDeduplicationId=f"d{seq}",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "turn"},
                               "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
        )
    esm = EventSourceMapping(sqs_client, fifo_queue.url, handler, batch_size=1,
                             function_timeout_s=5, function_name="worker",
                             memory_limit_in_mb=256)
    esm.drain()

    assert len(contexts) == 2
    for context, first, later in contexts:
        assert context.function_name == "worker"
        assert context.invoked_function_arn == (
            "arn:aws:lambda:us-east-1:123456789012:function:worker")
        assert context.memory_limit_in_mb == 256
        assert 0 < later < first <= 5000
    assert contexts[0][0].aws_request_id != contexts[1][0].aws_request_id
    record = events[0]["Records"][0]
    assert set(record) == RECORD_KEYS | {"md5OfMessageAttributes"}
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "turn", "stringListValues": [], "binaryListValues": [],
                 "dataType": "String"},
        "raw": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [],
                "dataType": "Binary"},
    }


def _slow(event: dict[str, Any], context: Any) -> None:
    time.sleep(0.3)


WHOLE_BATCH_FAILURES: dict[str, Callable[[dict[str, Any], Any], Any]] = {
    "raises": lambda event, context: 1 / 0,
    "not an object": lambda event, context: "ok",
    "not a list": lambda event, context: {"batchItemFailures": "all"},
    "empty identifier": lambda event, context: {"batchItemFailures": [{"itemIdentifier": ""}]},
    "null identifier": lambda event, context: {"batchItemFailures": [{"itemIdentifier": None}]},
    "bad key name": lambda event, context: {"batchItemFailures": [
        {"messageId": event["Records"][0]["messageId"]}]},
    "unknown message id": lambda event, context: {"batchItemFailures": [
        {"itemIdentifier": "not-in-this-batch"}]},
    "not JSON": lambda event, context: {"batchItemFailures": [], "at": object()},
    "timed out": _slow,
}


@pytest.mark.parametrize("case", list(WHOLE_BATCH_FAILURES))
def test_a_failed_invocation_deletes_nothing(
    case: str, fifo_queue: FifoQueue, product_queue: SqsQueue, sqs_client: SQSClient,
) -> None:
    esm = EventSourceMapping(sqs_client, fifo_queue.url, WHOLE_BATCH_FAILURES[case],
                             function_timeout_s=0.2 if case == "timed out" else 5)
    product_queue.send_batch([turn("chat", 0), turn("chat", 1), turn("other", 0)])
    outcome = esm.poll_once()
    assert len(outcome.records) == 3
    assert outcome.deleted == () and set(outcome.failed) == set(outcome.message_ids)
    assert outcome.error
    assert (outcome.exception is not None) == (case == "raises")
    assert queue_counts(sqs_client, fifo_queue.url)["in_flight"] == 3


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []},
                                      {"batchItemFailures": None}, {"statusCode": 200}],
                         ids=["None", "empty", "empty list", "null list", "other keys"])
def test_a_successful_invocation_deletes_the_batch(
    response: Any, fifo_queue: FifoQueue, product_queue: SqsQueue, sqs_client: SQSClient,
) -> None:
    esm = EventSourceMapping(sqs_client, fifo_queue.url, lambda event, context: response)
    product_queue.send_batch([turn("chat", 0), turn("other", 0)])
    outcome = esm.poll_once()
    assert outcome.error is None and outcome.failed == ()
    assert outcome.deleted == outcome.message_ids and len(outcome.deleted) == 2
    assert queue_counts(sqs_client, fifo_queue.url) == {"visible": 0, "in_flight": 0,
                                                         "delayed": 0}


def test_a_partial_response_deletes_the_rest_and_flags_a_record_deleted_behind_a_failure(
    fifo_queue: FifoQueue, product_queue: SqsQueue, sqs_client: SQSClient,
) -> None:
    def careless(event: dict[str, Any], context: Any) -> dict[str, Any]:
        # Reports only the failed record, not the later one of its group: not FIFO-safe.
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}

    esm = EventSourceMapping(sqs_client, fifo_queue.url, careless)
    product_queue.send_batch([turn("chat", 0), turn("chat", 1), turn("other", 0)])
    outcome = esm.poll_once()
    ids = outcome.message_ids
    assert outcome.failed == ids[:1] and outcome.deleted == ids[1:]
    assert outcome.deleted_after_failure == ids[1:2]
    assert queue_counts(sqs_client, fifo_queue.url)["in_flight"] == 1


def test_drain_times_out_while_a_record_waits_for_its_visibility_timeout(
    fifo_queue: FifoQueue, product_queue: SqsQueue, sqs_client: SQSClient,
) -> None:
    esm = EventSourceMapping(sqs_client, fifo_queue.url, lambda event, context: 1 / 0)
    product_queue.send(turn("chat", 0))
    with pytest.raises(DrainTimeout) as raised:
        esm.drain(timeout_s=0.5)
    assert len(raised.value.outcomes) == 1 and raised.value.outcomes[0].error


def test_the_mapping_refuses_a_batch_size_fifo_does_not_allow(
    fifo_queue: FifoQueue, sqs_client: SQSClient,
) -> None:
    for size in (0, 11):
        with pytest.raises(ValueError, match="batch size"):
            EventSourceMapping(sqs_client, fifo_queue.url, lambda e, c: None, batch_size=size,
                               queue_arn=fifo_queue.arn)


# -- (d) fifo_id ----------------------------------------------------------------------------


def test_fifo_id_keeps_a_valid_id_readable() -> None:
    assert fifo_id("telegram", "42") == "telegram:42"
    assert fifo_id("slack", "T0001", "C0002", "U0003") == "slack:T0001:C0002:U0003"
    allowed = string.ascii_letters + string.digits + string.punctuation.replace(":", "")
    assert fifo_id(allowed) == allowed
    exactly = "x" * MAX_FIFO_ID_LENGTH
    assert fifo_id(exactly) == exactly


def test_fifo_id_allows_exactly_what_sqs_allows() -> None:
    # SQS: alphanumerics and !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~, 1 to 128 characters.
    assert "".join(sorted(FIFO_ID_CHARACTERS)) == "".join(sorted(
        string.ascii_letters + string.digits + "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"))
    assert is_fifo_id("a") and is_fifo_id("a" * 128)
    for bad in ("", "a" * 129, "a b", "tab\t", "é", "ü", "日本", "a\nb", "\x00"):
        assert not is_fifo_id(bad), bad


def test_fifo_id_hashes_long_and_odd_ids_to_a_stable_valid_id() -> None:
    long_id = fifo_id("slack", "Ev" + "x" * 130)
    assert long_id == ("slack:Ev" + "x" * 55 + "~796797ebcab1e6d22cccc239e7dab9e8b80952d273ff41"
                       "30e6b035a3b5906cb4")  # pinned: a changed id would defeat deduplication
    assert len(long_id) == MAX_FIFO_ID_LENGTH
    odd = fifo_id("telegram", "chat 1", "ü")
    assert odd == "telegram:chat_1:_~" + hashlib.sha256(
        '["telegram","chat 1","ü"]'.encode()).hexdigest()
    for value in (long_id, odd, fifo_id(""), fifo_id("\ud800"), fifo_id("a" * 1000)):
        assert is_fifo_id(value), value
    assert fifo_id("a" * 129) != fifo_id("a" * 130)
    assert fifo_id("chat 1") != fifo_id("chat_1") == "chat_1"


def test_fifo_id_keeps_different_parts_apart() -> None:
    assert fifo_id("a", "b", "c") == "a:b:c"
    ids = {fifo_id("a", "b", "c"), fifo_id("a:b", "c"), fifo_id("a", "b:c"), fifo_id("a:b:c")}
    assert len(ids) == 4
    assert fifo_id("telegram", "seq:7").startswith("telegram:seq:7~")
    # An input shaped like a hashed id is hashed again, so it cannot be mistaken for one.
    hashed = fifo_id("x" * 200)
    assert fifo_id(hashed) != hashed
    with pytest.raises(ValueError):
        fifo_id()


_parts = st.lists(st.text(max_size=80), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(_parts, _parts)
def test_fifo_id_is_valid_deterministic_and_injective(first: list[str],
                                                      second: list[str]) -> None:
    a, b = fifo_id(*first), fifo_id(*second)
    assert is_fifo_id(a) and is_fifo_id(b)
    assert a == fifo_id(*list(first))
    assert (a == b) == (first == second)


# -- SqsQueue through a stubbed client ------------------------------------------------------


@pytest.fixture
def stubbed() -> Iterator[tuple[SqsQueue, Stubber]]:
    client = boto3.client("sqs", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stubber:
        yield SqsQueue("http://127.0.0.1:9/123456789012/q.fifo", client=client), stubber
        stubber.assert_no_pending_responses()


URL = "http://127.0.0.1:9/123456789012/q.fifo"


def test_send_puts_group_and_deduplication_ids_on_the_message(
    stubbed: tuple[SqsQueue, Stubber],
) -> None:
    queue, stubber = stubbed
    message = turn("chat", 3)
    stubber.add_response("send_message", {"MessageId": "m", "MD5OfMessageBody": "x"}, {
        "QueueUrl": URL, "MessageBody": message.body, "MessageGroupId": "test:chat",
        "MessageDeduplicationId": "test:chat:3"})
    queue.send(message)


def test_send_raises_what_sqs_answered(stubbed: tuple[SqsQueue, Stubber]) -> None:
    queue, stubber = stubbed
    stubber.add_client_error("send_message", "QueueDoesNotExist", http_status_code=400)
    with pytest.raises(ClientError, match="QueueDoesNotExist"):
        queue.send(turn("chat", 0))


def test_send_batch_sends_ten_at_a_time_in_order(stubbed: tuple[SqsQueue, Stubber]) -> None:
    queue, stubber = stubbed
    messages = [turn("chat", seq) for seq in range(23)]
    for start in (0, 10, 20):
        chunk = messages[start:start + 10]
        stubber.add_response("send_message_batch", {"Successful": [
            {"Id": str(i), "MessageId": f"m{i}", "MD5OfMessageBody": "x"}
            for i in range(len(chunk))], "Failed": []},
            {"QueueUrl": URL, "Entries": [
                {"Id": str(i), "MessageBody": m.body, "MessageGroupId": m.group_id,
                 "MessageDeduplicationId": m.dedup_id} for i, m in enumerate(chunk)]})
    queue.send_batch(messages)
    queue.send_batch([])  # nothing to send: no call


def test_send_batch_stops_at_a_failed_entry_and_names_what_is_unsent(
    stubbed: tuple[SqsQueue, Stubber],
) -> None:
    queue, stubber = stubbed
    messages = [turn("chat", seq) for seq in range(25)]
    stubber.add_response("send_message_batch", {"Successful": [
        {"Id": str(i), "MessageId": f"m{i}", "MD5OfMessageBody": "x"} for i in range(10)],
        "Failed": []})
    stubber.add_response("send_message_batch", {
        "Successful": [{"Id": str(i), "MessageId": f"m{i}", "MD5OfMessageBody": "x"}
                       for i in range(10) if i != 4],
        "Failed": [{"Id": "4", "SenderFault": False, "Code": "InternalError",
                    "Message": "try again"}]})
    with pytest.raises(SqsSendError) as raised:
        queue.send_batch(messages)  # the third call is never made
    assert raised.value.unsent == (messages[14], *messages[20:])
    assert raised.value.reasons == ("InternalError: try again",)


@pytest.mark.parametrize(("asked", "sent"), [(30, 30), (0, 0), (-5, 0), (10**6, 43_200)])
def test_retry_later_clamps_the_visibility_timeout(
    asked: int, sent: int, stubbed: tuple[SqsQueue, Stubber],
) -> None:
    queue, stubber = stubbed
    stubber.add_response("change_message_visibility", {}, {
        "QueueUrl": URL, "ReceiptHandle": "rh", "VisibilityTimeout": sent})
    queue.retry_later("rh", asked)


def test_the_client_is_built_offline_with_ack_path_timeouts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(self: socket.socket, address: Any) -> None:
        raise AssertionError(f"building the client connected to {address!r}")

    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:9")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    queue = SqsQueue(URL)
    config: Any = queue.client.meta.config  # botocore's Config sets its options dynamically
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    assert queue.client.meta.endpoint_url == "http://127.0.0.1:9"  # boto3 read the variable
    with pytest.raises(ValueError):
        SqsQueue("")


def test_outgoing_messages_refuse_ids_sqs_would_refuse() -> None:
    with pytest.raises(ValueError, match="group_id"):
        OutgoingMessage("chat 1", "d", "body")
    with pytest.raises(ValueError, match="dedup_id"):
        OutgoingMessage("g", "x" * 129, "body")
    with pytest.raises(ValueError, match="empty"):
        OutgoingMessage("g", "d", "")
