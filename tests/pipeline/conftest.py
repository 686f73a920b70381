"""The AWS path end to end: webhooks -> SQS FIFO on moto's server (through the real boto3
client) -> a faithful fake of Lambda's event source mapping -> ``handlers.worker.handler`` ->
the loopback fakes of Telegram and Slack, on real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from handlers import composition
from tests.aws.conftest import FifoQueue, make_fifo_queue, moto_sqs_url, sqs_client
from tests.fakes.moto_sqs import queue_counts, receive_all
from tests.fakes.sqs_esm import EventSourceMapping
from tests.slack.conftest import _session_slack, fake_slack, slack
from tests.telegram.conftest import telegram_api, tg

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

__all__ = ["_session_slack", "fake_slack", "make_fifo_queue", "moto_sqs_url", "slack",
           "sqs_client", "telegram_api", "tg"]

MAX_RECEIVES = 3


@dataclass
class Pipeline:
    """The queue pair, the event source mapping driving the worker, and ways to look."""

    queue: FifoQueue
    sqs: SQSClient
    esm: EventSourceMapping

    def waiting(self) -> int:
        """Messages on the queue (visible, in flight or delayed)."""
        counts = queue_counts(self.sqs, self.queue.url)
        return sum(counts.values())

    def dead_letters(self) -> list[dict[str, Any]]:
        """The bodies that reached the dead-letter queue (taken off it)."""
        return [json.loads(m["Body"]) for m in receive_all(self.sqs, self.queue.dlq_url)]

    def esm_with(self, handler: Callable[[dict[str, Any], Any], Any], **options: Any
                 ) -> EventSourceMapping:
        return EventSourceMapping(self.sqs, self.queue.url, handler, queue_arn=self.queue.arn,
                                  **options)


def _pipeline(make_fifo_queue: Callable[..., FifoQueue], sqs_client: SQSClient,
              moto_sqs_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    queue = make_fifo_queue(max_receive_count=MAX_RECEIVES, visibility_timeout=30)
    monkeypatch.setenv("TODOBOT_QUEUE_URL", queue.url)
    monkeypatch.setenv("TODOBOT_DEAD_LETTER_QUEUE_URL", queue.dlq_url)
    monkeypatch.setenv("TODOBOT_QUEUE_MAX_RECEIVES", str(MAX_RECEIVES))
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_sqs_url)
    composition.reset()
    from handlers.worker import handler

    esm = EventSourceMapping(sqs_client, queue.url, handler, queue_arn=queue.arn,
                             function_timeout_s=120)
    yield Pipeline(queue, sqs_client, esm)
    composition.reset()


@pytest.fixture
def telegram_pipeline(tg: Any, make_fifo_queue: Callable[..., FifoQueue], sqs_client: SQSClient,
                      moto_sqs_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """The Telegram webhook and the worker on the queue (PostgreSQL, fake Bot API)."""
    yield from _pipeline(make_fifo_queue, sqs_client, moto_sqs_url, monkeypatch)


@pytest.fixture
def slack_pipeline(slack: Any, make_fifo_queue: Callable[..., FifoQueue],
                   sqs_client: SQSClient, moto_sqs_url: str,
                   monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """The Slack webhook and the worker on the queue (each database, fake Slack)."""
    yield from _pipeline(make_fifo_queue, sqs_client, moto_sqs_url, monkeypatch)
