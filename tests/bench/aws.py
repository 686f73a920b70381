"""The AWS path for benchmarks: an SQS FIFO queue pair on moto's server (127.0.0.1, through the
real boto3 client), the environment that points the product at it, and the event source
mapping fake draining it through ``handlers.worker.handler``."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tests.fakes.moto_sqs import create_fifo_queue, queue_arn, queue_counts, start_moto_server

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

REGION = "us-east-1"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
               "AWS_DEFAULT_REGION": REGION}
MAX_RECEIVES = 5


@dataclass(frozen=True)
class Queue:
    """A FIFO queue with its dead-letter queue on moto's server."""

    client: SQSClient
    endpoint: str
    url: str
    dlq_url: str
    arn: str

    def env(self) -> dict[str, str]:
        """What the webhook and worker functions need to use this queue."""
        return CREDENTIALS | {"TODOBOT_QUEUE_URL": self.url,
                              "TODOBOT_DEAD_LETTER_QUEUE_URL": self.dlq_url,
                              "TODOBOT_QUEUE_MAX_RECEIVES": str(MAX_RECEIVES),
                              "AWS_ENDPOINT_URL_SQS": self.endpoint}

    def waiting(self) -> int:
        return sum(queue_counts(self.client, self.url).values())

    def dead_letters(self) -> int:
        return sum(queue_counts(self.client, self.dlq_url).values())


@contextmanager
def fifo_queue(name: str, visibility_timeout: int = 120) -> Iterator[Queue]:
    """moto's server and a fresh queue pair on it, for the block."""
    import boto3

    server, endpoint = start_moto_server()
    try:
        client = boto3.client("sqs", endpoint_url=endpoint, region_name=REGION,
                              aws_access_key_id="bench", aws_secret_access_key="bench")
        url, dlq_url = create_fifo_queue(client, f"{name}-{uuid.uuid4().hex[:8]}",
                                         max_receive_count=MAX_RECEIVES,
                                         visibility_timeout=visibility_timeout)
        yield Queue(client, endpoint, url, dlq_url, queue_arn(client, url))
    finally:
        server.stop()


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """This process's environment with only ``values`` set of the product's settings (the
    platform, AWS and OpenAI variables of the caller's shell are removed), and the
    composition root rebuilt from it; both restored afterwards."""
    from handlers import composition

    saved = dict(os.environ)
    for name in [k for k in os.environ if k.startswith(
            ("AWS_", "OPENAI_", "TODOBOT_", "SLACK_", "TELEGRAM_")) or k == "DATABASE_POOL"]:
        del os.environ[name]
    os.environ.update(values)
    composition.reset()
    try:
        yield
    finally:
        composition.reset()
        os.environ.clear()
        os.environ.update(saved)
