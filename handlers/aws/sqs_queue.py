"""The turn queue's producer side and controls: SQS FIFO through the real boto3 client.

The webhooks put each inbound turn on the FIFO queue (``TODOBOT_QUEUE_URL``) as an
:class:`OutgoingMessage`: ``MessageGroupId`` is one chat member's conversation (its turns run in
platform order; nobody else waits for it), ``MessageDeduplicationId`` is platform + delivery key
(a platform's redelivery within SQS's 5-minute deduplication interval is accepted and dropped).
:func:`fifo_id` makes such ids from their parts. The worker uses :meth:`SqsQueue.retry_later` to
bring a failed record back after its retry delay instead of the queue's long visibility timeout.

The client is built without touching the network (safe at Lambda INIT) with short timeouts,
because :meth:`SqsQueue.send` runs on a webhook's ack path (Slack wants its ack within 3 s):
connect 1 s, read 2 s, standard retry mode, 3 attempts in all. A retried ``SendMessage`` whose
first attempt did arrive is harmless: it has the same deduplication id. boto3 finds the
endpoint itself (``AWS_ENDPOINT_URL_SQS``, then ``AWS_ENDPOINT_URL``, then AWS's).
"""

from __future__ import annotations

import hashlib
import json
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef

MAX_FIFO_ID_LENGTH = 128
"""SQS's limit for ``MessageGroupId`` and ``MessageDeduplicationId``."""

FIFO_ID_CHARACTERS = frozenset(string.ascii_letters + string.digits + string.punctuation)
"""What SQS allows in those ids: ``a-z``, ``A-Z``, ``0-9`` and the punctuation
``!"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~`` (exactly :data:`string.punctuation`)."""

MAX_BATCH_ENTRIES = 10
"""``SendMessageBatch`` takes at most 10 entries."""

MAX_VISIBILITY_TIMEOUT_S = 43_200
"""12 hours, SQS's maximum visibility timeout."""

_PART_SEPARATOR = ":"
_HASH_MARK = "~"
_HASH_HEX_LENGTH = 64  # sha256
_PREFIX_LENGTH = MAX_FIFO_ID_LENGTH - len(_HASH_MARK) - _HASH_HEX_LENGTH  # 63
_HASHED_SHAPE = re.compile(r"~[0-9a-f]{64}\Z")  # _HASH_MARK + a sha256 hex digest, at the end


def is_fifo_id(value: str) -> bool:
    """True if SQS accepts ``value`` as a message group or deduplication id."""
    return 0 < len(value) <= MAX_FIFO_ID_LENGTH and all(c in FIFO_ID_CHARACTERS for c in value)


def fifo_id(*parts: str) -> str:
    """A valid, deterministic SQS FIFO group or deduplication id for ``parts``.

    The parts joined with ``:`` are used as they are when that is a valid id (1 to 128
    alphanumerics and ASCII punctuation): ``fifo_id("telegram", "42")`` is ``"telegram:42"``.
    Otherwise — too long, empty, another character (a space, non-ASCII), a part that itself
    contains ``:`` (which would make ``("a:b", "c")`` and ``("a", "b:c")`` one id), or a joined
    value that looks like a hashed id — the result is a readable prefix (the joined value, each
    disallowed character replaced by ``_``, cut to 63 characters), ``~`` and the sha256 of the
    parts (64 hex digits): at most 128 characters. So distinct tuples of parts give distinct
    ids (a lost turn, were two deduplication ids to collide, is not an acceptable failure).
    """
    if not parts:
        raise ValueError("fifo_id needs at least one part")
    joined = _PART_SEPARATOR.join(parts)
    if (is_fifo_id(joined) and not any(_PART_SEPARATOR in part for part in parts)
            and not _HASHED_SHAPE.search(joined)):
        return joined
    canonical = json.dumps(list(parts), ensure_ascii=False, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()
    prefix = "".join(c if c in FIFO_ID_CHARACTERS else "_" for c in joined[:_PREFIX_LENGTH])
    return f"{prefix}{_HASH_MARK}{digest}"


@dataclass(frozen=True)
class OutgoingMessage:
    """One message for the FIFO queue."""

    group_id: str
    """``MessageGroupId``: one chat member's conversation."""
    dedup_id: str
    """``MessageDeduplicationId``: platform + delivery key."""
    body: str

    def __post_init__(self) -> None:
        for name in ("group_id", "dedup_id"):
            value = getattr(self, name)
            if not is_fifo_id(value):
                raise ValueError(f"{name} {value!r} is not a valid SQS FIFO id (use fifo_id())")
        if not self.body:
            raise ValueError("an SQS message body cannot be empty")


class SqsSendError(RuntimeError):
    """Some messages of :meth:`SqsQueue.send_batch` were not accepted.

    ``unsent`` holds, in their original order, the messages that failed and those not tried
    after the failed call; sending them again is safe (same deduplication ids).
    """

    def __init__(self, unsent: Sequence[OutgoingMessage], reasons: Sequence[str]) -> None:
        self.unsent = tuple(unsent)
        self.reasons = tuple(reasons)
        super().__init__(f"{len(self.unsent)} message(s) not sent to SQS: "
                         + "; ".join(self.reasons))


def client_config() -> Config:
    """The botocore configuration of the queue's client (ack-path timeouts)."""
    from botocore.config import Config

    return Config(connect_timeout=1, read_timeout=2,
                  retries={"mode": "standard", "total_max_attempts": 3})


def build_sqs_client() -> SQSClient:
    """An SQS client with :func:`client_config`; builds locally, no network call."""
    import boto3

    return boto3.client("sqs", config=client_config())


class SqsQueue:
    """A FIFO queue, by URL, through one boto3 SQS client (thread-safe, reuse it)."""

    def __init__(self, queue_url: str, client: SQSClient | None = None) -> None:
        if not queue_url:
            raise ValueError("queue_url is empty")
        self.queue_url = queue_url
        self.client: SQSClient = client if client is not None else build_sqs_client()

    def __repr__(self) -> str:
        return f"SqsQueue({self.queue_url!r})"

    def send(self, message: OutgoingMessage) -> None:
        """Put ``message`` on the queue; raises (botocore's errors) if SQS did not take it."""
        self.client.send_message(
            QueueUrl=self.queue_url, MessageBody=message.body,
            MessageGroupId=message.group_id, MessageDeduplicationId=message.dedup_id,
        )

    def send_batch(self, messages: Sequence[OutgoingMessage]) -> None:
        """Put ``messages`` on the queue in order, up to 10 per ``SendMessageBatch`` call.

        Stops at the first call with a failed entry and raises :class:`SqsSendError` naming
        every message not known to be sent (later calls are not made, so a group's later
        messages do not overtake its failed one across calls). Within one call SQS may accept
        later entries of a group whose earlier entry failed: a caller that resends ``unsent``
        then delivers that group out of order, so groups that must stay ordered are best sent
        with :meth:`send`, or one group per batch.
        """
        for start in range(0, len(messages), MAX_BATCH_ENTRIES):
            chunk = messages[start:start + MAX_BATCH_ENTRIES]
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(index), "MessageBody": message.body,
                 "MessageGroupId": message.group_id,
                 "MessageDeduplicationId": message.dedup_id}
                for index, message in enumerate(chunk)
            ]
            response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed = response.get("Failed", [])
            if failed:
                failed_ids = {int(entry["Id"]) for entry in failed}
                unsent = [m for i, m in enumerate(chunk) if i in failed_ids]
                unsent.extend(messages[start + MAX_BATCH_ENTRIES:])
                reasons = [f"{entry['Code']}: {entry.get('Message', '')}".rstrip(": ")
                           for entry in failed]
                raise SqsSendError(unsent, reasons)

    def retry_later(self, receipt_handle: str, seconds: int) -> None:
        """Make a received message visible again in ``seconds`` (clamped to 0..43200).

        For a record the worker then reports in ``batchItemFailures``; without this it would
        come back only after the queue's visibility timeout. On a FIFO queue every in-flight
        message blocks its group: the later records of the group reported with it need a
        delay too (no longer than this one's), or the group waits for their timeout.
        """
        timeout = max(0, min(int(seconds), MAX_VISIBILITY_TIMEOUT_S))
        self.client.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=receipt_handle, VisibilityTimeout=timeout,
        )
