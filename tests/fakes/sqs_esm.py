"""A fake of Lambda's SQS event source mapping (ESM) for a FIFO queue with
``FunctionResponseTypes: [ReportBatchItemFailures]``, driving ``handler(event, context)``.

What one poll does, as Lambda's poller does it:

1. ``ReceiveMessage`` with ``MaxNumberOfMessages`` = the batch size (FIFO: at most 10), all
   system attributes and all message attributes, and the queue's own visibility timeout.
2. Call the handler once with ``{"Records": [...]}`` in the SQS event record shape (below) and a
   context whose ``get_remaining_time_in_millis()`` counts down from the function's timeout in
   real time.
3. Read the partial batch response, per the Lambda developer guide ("Handling errors for an SQS
   event source"): an empty or ``None`` ``batchItemFailures``, an empty response or ``None``:
   the whole batch succeeded. An ``itemIdentifier`` that is empty, ``None``, missing (a bad key
   name) or not a ``messageId`` of the batch, a response that is not JSON: the whole batch
   failed. A handler that raises or runs past its timeout: the whole batch failed.
4. Delete the records not reported (``DeleteMessageBatch``); a failed batch deletes nothing.
   Failed records are left alone: they come back when their visibility timeout ends — the
   queue's, or the one the handler set with ``ChangeMessageVisibility``; on a FIFO queue their
   group waits behind them (SQS does that, not the ESM), and SQS's ``maxReceiveCount`` moves a
   record to the dead-letter queue.

Lambda does not check that a FIFO handler also reported the later records of a failed
record's group; it deletes them. :attr:`BatchOutcome.deleted_after_failure` names such
records, so a test can assert there are none.

:meth:`EventSourceMapping.drain` polls on one thread until the queue is empty;
:meth:`EventSourceMapping.run_concurrently` polls on several, like several Lambda containers
(SQS gives each group to one batch at a time). Polls are short (``WaitTimeSeconds`` 0 and a
20 ms pause when nothing came): Lambda long-polls, and moto's long polling is a busy wait
(tests/fakes/moto_sqs.py). Use a queue from :func:`tests.fakes.moto_sqs.create_fifo_queue` on
a server from :func:`tests.fakes.moto_sqs.start_moto_server`: unpatched moto hands one group
to two pollers at once.

The SQS event record (Lambda developer guide, "Using Lambda with Amazon SQS")::

    {"messageId", "receiptHandle", "body",
     "attributes": {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                    "ApproximateFirstReceiveTimestamp", "SequenceNumber", "MessageGroupId",
                    "MessageDeduplicationId", ...all strings},
     "messageAttributes": {name: {"stringValue" | "binaryValue" (base64), "stringListValues",
                                  "binaryListValues", "dataType"}},
     ["md5OfMessageAttributes"], "md5OfBody", "eventSource": "aws:sqs", "eventSourceARN",
     "awsRegion"}
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageAttributeValueOutputTypeDef, MessageTypeDef

Handler = Callable[[dict[str, Any], Any], Any]

FIFO_MAX_BATCH_SIZE = 10
IDLE_PAUSE_S = 0.02


class LambdaContext:
    """The parts of Lambda's Python context object; the deadline runs in real time."""

    def __init__(self, function_name: str, region: str, account: str, timeout_s: float,
                 memory_limit_in_mb: int) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class BatchOutcome:
    """What one poll did."""

    records: tuple[dict[str, Any], ...] = ()
    """The event's records (empty: the receive returned nothing, no invocation)."""
    response: Any = None
    """What the handler returned."""
    deleted: tuple[str, ...] = ()
    """messageIds deleted (the batch's successes)."""
    failed: tuple[str, ...] = ()
    """messageIds left on the queue."""
    error: str | None = None
    """Why the whole batch failed (handler raised, timed out, malformed response)."""
    exception: BaseException | None = None
    """What the handler raised, if it did."""
    deleted_after_failure: tuple[str, ...] = ()
    """Deleted messageIds that came after a failed record of their group in this batch (a FIFO
    handler must report those too)."""
    delete_errors: tuple[str, ...] = ()
    """Deletes SQS refused (``Code: Message``)."""
    elapsed_s: float = 0.0
    worker: str = ""
    """The poller's thread name."""

    @property
    def empty(self) -> bool:
        return not self.records

    @property
    def message_ids(self) -> tuple[str, ...]:
        return tuple(record["messageId"] for record in self.records)


class DrainTimeout(TimeoutError):
    """The queue was not drained in time; ``outcomes`` holds what was done until then."""

    def __init__(self, message: str, outcomes: list[BatchOutcome]) -> None:
        super().__init__(message)
        self.outcomes = outcomes


@dataclass
class _Run:
    """Shared state of the pollers of one drain."""

    until_empty_polls: int
    not_before: threading.Event | None
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    quiet_polls: int = 0
    drained: bool = False
    outcomes: list[BatchOutcome] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


class EventSourceMapping:
    """Polls one FIFO queue and invokes ``handler`` with each batch (see the module docstring).

    ``queue_arn`` defaults to the queue's (one ``GetQueueAttributes`` call); ``awsRegion`` and
    the context's function ARN come from it. :attr:`outcomes` collects every non-empty poll.
    """

    def __init__(
        self, client: SQSClient, queue_url: str, handler: Handler, *, batch_size: int = 10,
        function_timeout_s: float = 30.0, queue_arn: str | None = None,
        function_name: str = "todobot-test-worker", memory_limit_in_mb: int = 1024,
    ) -> None:
        if not 1 <= batch_size <= FIFO_MAX_BATCH_SIZE:
            raise ValueError(f"a FIFO queue's batch size is 1 to 10, not {batch_size}")
        if function_timeout_s <= 0:
            raise ValueError("function_timeout_s must be positive")
        self.client = client
        self.queue_url = queue_url
        self.handler = handler
        self.batch_size = batch_size
        self.function_timeout_s = function_timeout_s
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        if queue_arn is None:
            queue_arn = client.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.queue_arn = queue_arn
        arn_parts = queue_arn.split(":")
        self.region, self.account = arn_parts[3], arn_parts[4]
        self.outcomes: list[BatchOutcome] = []
        self._outcomes_lock = threading.Lock()

    # -- one poll ----------------------------------------------------------------------------

    def poll_once(self) -> BatchOutcome:
        """Receive one batch, invoke the handler, delete what succeeded."""
        worker = threading.current_thread().name
        messages = self.client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self.batch_size, WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return BatchOutcome(worker=worker)
        records = tuple(self._record(message) for message in messages)
        context = LambdaContext(self.function_name, self.region, self.account,
                                self.function_timeout_s, self.memory_limit_in_mb)
        started = time.monotonic()
        response: Any = None
        exception: BaseException | None = None
        try:
            response = self.handler({"Records": [dict(r) for r in records]}, context)
        except Exception as error:  # noqa: BLE001 - Lambda catches whatever the function raises
            exception = error
        elapsed = time.monotonic() - started
        ids = [record["messageId"] for record in records]
        error_text: str | None
        if exception is not None:
            failed_ids, error_text = set(ids), f"handler raised {exception!r}"
        elif elapsed > self.function_timeout_s:
            failed_ids = set(ids)
            error_text = f"Task timed out after {self.function_timeout_s:.2f} seconds"
        else:
            failed_ids, error_text = _failures(response, ids)
        to_delete = [record for record in records if record["messageId"] not in failed_ids]
        outcome = BatchOutcome(
            records=records, response=response, worker=worker, elapsed_s=elapsed,
            deleted=tuple(record["messageId"] for record in to_delete),
            failed=tuple(i for i in ids if i in failed_ids), error=error_text,
            exception=exception,
            deleted_after_failure=_deleted_after_failure(records, failed_ids),
            delete_errors=self._delete(to_delete),
        )
        with self._outcomes_lock:
            self.outcomes.append(outcome)
        return outcome

    def _record(self, message: MessageTypeDef) -> dict[str, Any]:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": {
                name: _message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
        }
        if "MD5OfMessageAttributes" in message:
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        record.update({
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.region,
        })
        return record

    def _delete(self, records: list[dict[str, Any]]) -> tuple[str, ...]:
        errors: list[str] = []
        for start in range(0, len(records), FIFO_MAX_BATCH_SIZE):
            chunk = records[start:start + FIFO_MAX_BATCH_SIZE]
            response = self.client.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                {"Id": str(i), "ReceiptHandle": record["receiptHandle"]}
                for i, record in enumerate(chunk)
            ])
            errors.extend(f"{entry['Code']}: {entry.get('Message', '')}"
                          for entry in response.get("Failed", []))
        return tuple(errors)

    # -- running until the queue is empty ------------------------------------------------------

    def queue_is_empty(self) -> bool:
        """No message visible, in flight or delayed (SQS's approximate counts)."""
        attributes = self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ])["Attributes"]
        return all(value == "0" for value in attributes.values())

    def drain(self, until_empty_polls: int = 2, timeout_s: float = 30.0, *,
              not_before: threading.Event | None = None) -> list[BatchOutcome]:
        """Poll on this thread until ``until_empty_polls`` polls in a row got nothing and found
        the queue empty (failed records waiting for their visibility timeout keep it going).

        Returns the non-empty outcomes; raises :class:`DrainTimeout` after ``timeout_s``.
        ``not_before``: do not stop before this event is set (producers still sending).
        """
        return self.run_concurrently(1, until_empty_polls=until_empty_polls,
                                     timeout_s=timeout_s, not_before=not_before)

    def run_concurrently(self, workers: int = 3, *, until_empty_polls: int = 2,
                         timeout_s: float = 30.0,
                         not_before: threading.Event | None = None) -> list[BatchOutcome]:
        """:meth:`drain` with ``workers`` pollers at once, like that many Lambda containers.

        The outcomes are in the order the polls finished. An error of a poller itself (not of
        the handler: that is an outcome) is raised here after all pollers stopped.
        """
        if workers < 1 or until_empty_polls < 1:
            raise ValueError("workers and until_empty_polls must be at least 1")
        run = _Run(until_empty_polls=until_empty_polls, not_before=not_before)
        deadline = time.monotonic() + timeout_s
        if workers == 1:
            self._poll_until_drained(run, deadline)
        else:
            threads = [
                threading.Thread(target=self._poll_until_drained, args=(run, deadline),
                                 name=f"esm-poller-{n}", daemon=True)
                for n in range(workers)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                # A poller stops between polls; one stuck in a handler is given up after
                # another function timeout (its daemon thread is left behind).
                thread.join(max(0.0, deadline - time.monotonic()) + self.function_timeout_s)
            if any(thread.is_alive() for thread in threads):
                run.stop.set()
                raise DrainTimeout("a poller is still inside the handler", run.outcomes)
        if run.errors:
            raise run.errors[0]
        if not run.drained:
            raise DrainTimeout(f"queue not drained within {timeout_s} s", run.outcomes)
        return run.outcomes

    def _poll_until_drained(self, run: _Run, deadline: float) -> None:
        try:
            while not run.stop.is_set():
                if time.monotonic() > deadline:
                    break
                outcome = self.poll_once()
                if not outcome.empty:
                    with run.lock:
                        run.outcomes.append(outcome)
                        run.quiet_polls = 0
                    continue
                empty = self.queue_is_empty()
                with run.lock:
                    run.quiet_polls = run.quiet_polls + 1 if empty else 0
                    allowed = run.not_before is None or run.not_before.is_set()
                    if allowed and run.quiet_polls >= run.until_empty_polls:
                        run.drained = True
                        break
                time.sleep(IDLE_PAUSE_S)
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            with run.lock:
                run.errors.append(error)
        run.stop.set()


def _failures(response: Any, ids: list[str]) -> tuple[set[str], str | None]:
    """The failed messageIds of a partial batch response and, when the whole batch failed,
    why."""
    everything = set(ids)
    try:
        json.dumps(response)
    except (TypeError, ValueError) as error:
        return everything, f"response is not JSON: {error}"
    if response is None:
        return set(), None
    if not isinstance(response, Mapping):
        return everything, f"response is not an object: {response!r}"
    failures = response.get("batchItemFailures")
    if failures is None:
        return set(), None
    if not isinstance(failures, list):
        return everything, f"batchItemFailures is not a list: {failures!r}"
    failed: set[str] = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or not identifier:
            return everything, f"invalid batch item failure {item!r}"
        if identifier not in everything:
            return everything, f"itemIdentifier {identifier!r} is no messageId of the batch"
        failed.add(identifier)
    return failed, None


def _deleted_after_failure(records: tuple[dict[str, Any], ...],
                           failed_ids: set[str]) -> tuple[str, ...]:
    failed_groups: set[str] = set()
    late: list[str] = []
    for record in records:
        group = record["attributes"].get("MessageGroupId")
        if record["messageId"] in failed_ids:
            failed_groups.add(group)
        elif group in failed_groups:
            late.append(record["messageId"])
    return tuple(late)


def _message_attribute(value: MessageAttributeValueOutputTypeDef) -> dict[str, Any]:
    """An SQS message attribute as Lambda's event shows it (camelCase, binaries in base64)."""
    shown: dict[str, Any] = {}
    if "StringValue" in value:
        shown["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shown["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    shown["stringListValues"] = list(value.get("StringListValues", []))
    shown["binaryListValues"] = [base64.b64encode(b).decode("ascii")
                                 for b in value.get("BinaryListValues", [])]
    shown["dataType"] = value["DataType"]
    return shown
