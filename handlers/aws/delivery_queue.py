"""Deliveries onto the SQS FIFO queue: one message each, grouped by conversation member and
deduplicated by platform and delivery key (see :mod:`handlers.delivery`)."""

from __future__ import annotations

from handlers.aws.sqs_queue import OutgoingMessage, SqsQueue
from handlers.delivery import QueuedDelivery


class SqsDeliveryQueue:
    """The webhooks' queue on AWS."""

    def __init__(self, queue_url: str, queue: SqsQueue | None = None) -> None:
        self.sqs = queue or SqsQueue(queue_url)

    def enqueue(self, delivery: QueuedDelivery) -> None:
        """Send it; raises when SQS did not take it (the webhook then answers 5xx)."""
        self.sqs.send(OutgoingMessage(group_id=delivery.group, dedup_id=delivery.dedup_id,
                                      body=delivery.model_dump_json(exclude_none=True)))
