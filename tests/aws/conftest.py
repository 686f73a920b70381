"""Fixtures for the AWS tests: moto's SQS on 127.0.0.1 (one server for the session, FIFO
corrected as tests/fakes/moto_sqs.py explains) and a fresh FIFO queue with its dead-letter
queue for each test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.config import Config

from tests.fakes.moto_sqs import create_fifo_queue, queue_arn, start_moto_server

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@pytest.fixture(scope="session")
def moto_sqs_url() -> Iterator[str]:
    """moto's server for the whole session."""
    server, url = start_moto_server()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqs_client(moto_sqs_url: str) -> SQSClient:
    """The tests' own SQS client (queue set-up, the event source mapping, inspection)."""
    return boto3.client("sqs", endpoint_url=moto_sqs_url, region_name="us-east-1",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 3},
                                      max_pool_connections=20))


@pytest.fixture
def sqs_endpoint(moto_sqs_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """``AWS_ENDPOINT_URL_SQS`` pointing at moto, as the product's client is configured."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_sqs_url)
    return moto_sqs_url


@dataclass(frozen=True)
class FifoQueue:
    url: str
    dlq_url: str
    arn: str
    max_receive_count: int
    visibility_timeout: int


FifoQueueFactory = Callable[..., FifoQueue]


@pytest.fixture
def make_fifo_queue(sqs_client: SQSClient) -> Iterator[FifoQueueFactory]:
    """``make_fifo_queue(max_receive_count=5, visibility_timeout=30)``: a new queue pair,
    deleted after the test."""
    made: list[FifoQueue] = []

    def factory(*, max_receive_count: int = 5, visibility_timeout: int = 30) -> FifoQueue:
        name = f"turns-{uuid.uuid4().hex[:12]}"
        url, dlq_url = create_fifo_queue(sqs_client, name, max_receive_count=max_receive_count,
                                         visibility_timeout=visibility_timeout)
        queue = FifoQueue(url, dlq_url, queue_arn(sqs_client, url), max_receive_count,
                          visibility_timeout)
        made.append(queue)
        return queue

    yield factory
    for queue in made:
        sqs_client.delete_queue(QueueUrl=queue.url)
        sqs_client.delete_queue(QueueUrl=queue.dlq_url)


@pytest.fixture
def fifo_queue(make_fifo_queue: FifoQueueFactory) -> FifoQueue:
    """A fresh FIFO queue (visibility timeout 30 s, 5 receives before the dead-letter queue)."""
    return make_fifo_queue()
