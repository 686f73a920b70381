"""moto's SQS on 127.0.0.1 for tests, with FIFO queues that behave as AWS documents them.

:func:`start_moto_server` starts moto's ``ThreadedMotoServer`` on an ephemeral loopback port;
:func:`create_fifo_queue` makes a FIFO queue with a FIFO dead-letter queue (``RedrivePolicy``);
:func:`receive_all` empties a queue (a dead-letter queue, say) and returns what it held.

moto (5.2) implements FIFO queues: per-group order, an in-flight message blocking the rest of its
group, deduplication ids for 5 minutes, ``maxReceiveCount`` moving a message to the dead-letter
queue on the receive after its last allowed one, ``ChangeMessageVisibility``. But its server
answers requests on threads without a lock, and a few details differ from AWS. These were
verified against moto 5.2.5 (``moto/sqs/models.py``) and are corrected in process by
:func:`patch_moto_fifo`, which :func:`start_moto_server` applies (moto's server runs in this
process, so its backend classes are ours to wrap):

1. ``ReceiveMessage`` is not atomic. Two consumers polling at once can both get messages of one
   group, or get them out of order (3 pollers on 5 groups x 30 messages: in 1 run of 6, a group
   was in flight twice at once and 3 groups were processed out of order). The same applies to
   the deduplication check of concurrent ``SendMessage`` calls. Fix: one lock around receive,
   send, delete and visibility changes.
2. A message whose visibility timeout ran out stays "in flight" in moto's books until a receive
   walks past it, and the group check uses a snapshot taken before that walk. When several
   messages of one group become visible together (a batch whose failed record made the worker
   report the group's later records too), moto delivers a later one before the earlier one
   (seen: records p, n received together and failed; the next receive returned n alone, and n
   reached the dead-letter queue before p). Fix: forget expired in-flight entries first.
3. Long polling (``WaitTimeSeconds`` > 0) spins on the server thread (about one CPU second per
   second) while only messages of blocked groups are visible, and does not see a group freed
   by a delete until the wait ends (a 2 s poll returned nothing although the group was freed
   after 0.3 s). Fix: a long poll is a loop of short polls, 20 ms apart.
4. Deduplication only looks at messages still in the queue: once a message is deleted, its
   deduplication id is accepted and delivered again (AWS drops it for 5 minutes from the first
   send, consumed or not). Fix: deleted messages' ids are remembered for those 5 minutes.
5. ``SequenceNumber`` is 20 random digits; AWS's grows within a group. Fix: an increasing one.

Left as moto has them: ``ChangeMessageVisibility`` counts its 12-hour limit from the send
(AWS: from the receive), so 43200 s is always refused; a moved message keeps its
``ApproximateReceiveCount`` and gets no ``DeadLetterQueueSourceArn``; ``SenderId`` is a
constant; ``MaximumMessageSize`` defaults to 1 MiB.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from moto.server import ThreadedMotoServer

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

DEDUPLICATION_INTERVAL_S = 300
LONG_POLL_STEP_S = 0.02

_lock = threading.RLock()
_patched = False
_sequence = itertools.count(10**19 + 1)  # 20 digits, like AWS's


def start_moto_server(*, fix_fifo: bool = True) -> tuple[ThreadedMotoServer, str]:
    """moto's server on an ephemeral 127.0.0.1 port; returns it (``stop()`` it) and its URL.

    Its per-request log lines are silenced (warnings still show). With ``fix_fifo`` (the
    default) :func:`patch_moto_fifo` is applied first.
    """
    if fix_fifo:
        patch_moto_fifo()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    return server, f"http://{host}:{port}"


def create_fifo_queue(
    client: SQSClient, name: str, *, max_receive_count: int = 5, visibility_timeout: int = 30,
) -> tuple[str, str]:
    """Create ``<name>.fifo`` with the dead-letter queue ``<name>-dlq.fifo``; their URLs.

    Like infra/queue.yml: no content-based deduplication (every message has its id), and a
    message received ``max_receive_count`` times moves to the dead-letter queue at the next
    receive.
    """
    base = name.removesuffix(".fifo")
    dlq_url = client.create_queue(
        QueueName=f"{base}-dlq.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
    )["QueueUrl"]
    policy = {"deadLetterTargetArn": queue_arn(client, dlq_url),
              "maxReceiveCount": max_receive_count}
    queue_url = client.create_queue(
        QueueName=f"{base}.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false",
                    "VisibilityTimeout": str(visibility_timeout),
                    "RedrivePolicy": json.dumps(policy)},
    )["QueueUrl"]
    return queue_url, dlq_url


def queue_arn(client: SQSClient, queue_url: str) -> str:
    """The queue's ARN."""
    attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def queue_counts(client: SQSClient, queue_url: str) -> dict[str, int]:
    """``visible``, ``in_flight`` and ``delayed`` message counts (SQS's approximate ones)."""
    attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ])["Attributes"]
    return {"visible": int(attributes["ApproximateNumberOfMessages"]),
            "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            "delayed": int(attributes["ApproximateNumberOfMessagesDelayed"])}


def receive_all(client: SQSClient, queue_url: str) -> list[MessageTypeDef]:
    """Receive and delete everything visible in the queue (FIFO order within each group),
    with all system attributes."""
    messages: list[MessageTypeDef] = []
    while True:
        batch = client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return messages
        messages.extend(batch)
        client.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
        ])


def patch_moto_fifo() -> None:
    """Correct moto's SQS backend in this process (the module docstring lists what); once."""
    global _patched
    with _lock:
        if _patched:
            return
        from moto.sqs import models

        backend = models.SQSBackend
        receive, send = backend.receive_message, backend.send_message
        delete, change = backend.delete_message, backend.change_message_visibility
        add = models.Queue.add_message

        def receive_message(self: Any, queue_name: str, count: int,
                            wait_seconds_timeout: int, visibility_timeout: int,
                            message_attribute_names: list[str] | None = None) -> Any:
            deadline = time.monotonic() + int(wait_seconds_timeout or 0)
            while True:
                with _lock:
                    queue = self.get_queue(queue_name)
                    for message in list(queue.pending_messages):
                        if message.visible:  # its visibility timeout ran out
                            queue.pending_messages.discard(message)
                    result = receive(self, queue_name, count, 0, visibility_timeout,
                                     message_attribute_names)
                if result or time.monotonic() >= deadline:
                    return result
                time.sleep(LONG_POLL_STEP_S)

        def send_message(self: Any, queue_name: str, *args: Any, **kwargs: Any) -> Any:
            with _lock:
                message = send(self, queue_name, *args, **kwargs)
                if message.group_id is not None:
                    message.sequence_number = str(next(_sequence))
                return message

        def delete_message(self: Any, queue_name: str, receipt_handle: str) -> None:
            with _lock:
                queue = self.get_queue(queue_name)
                for message in queue._messages:
                    if message.deduplication_id and message.had_receipt_handle(receipt_handle):
                        _deleted_ids(queue)[message.deduplication_id] = message.sent_timestamp
                delete(self, queue_name, receipt_handle)

        def change_message_visibility(self: Any, queue_name: str, receipt_handle: str,
                                      visibility_timeout: int) -> None:
            with _lock:
                change(self, queue_name, receipt_handle, visibility_timeout)

        def add_message(self: Any, message: Any) -> None:
            if self.fifo_queue and message.deduplication_id:
                sent = _deleted_ids(self).get(message.deduplication_id)
                if sent is not None and message.sent_timestamp is not None and (
                        message.sent_timestamp - sent) < DEDUPLICATION_INTERVAL_S * 1000:
                    return  # accepted, not delivered: a duplicate of a consumed message
            add(self, message)

        backend.receive_message = receive_message  # type: ignore[method-assign]
        backend.send_message = send_message  # type: ignore[method-assign]
        backend.delete_message = delete_message  # type: ignore[method-assign]
        backend.change_message_visibility = change_message_visibility  # type: ignore[method-assign]
        models.Queue.add_message = add_message  # type: ignore[method-assign]
        _patched = True


def _deleted_ids(queue: Any) -> dict[str, int]:
    """Deduplication id -> first send (ms) of the queue's deleted messages, last 5 minutes."""
    seen: dict[str, int] = queue.__dict__.setdefault("_todobot_deleted_dedup_ids", {})
    horizon = time.time() * 1000 - DEDUPLICATION_INTERVAL_S * 1000
    for key in [key for key, sent in seen.items() if sent < horizon]:
        del seen[key]
    return seen
