"""``make offline`` without a queue (no ``TODOBOT_OFFLINE_QUEUE_URL``): the functions get no
``TODOBOT_QUEUE_URL``, so a webhook runs the whole turn through the in-process queue and
answers after the reply was sent, as outside Lambda. Configured by the environment alone (no
SSM), as a developer's shell would: the suite's second ``osls offline`` process, on the same
database and fakes as the first."""

from __future__ import annotations

import json

import pytest

from tests.conftest import count
from tests.offline.conftest import (
    TELEGRAM_SECRET,
    Database,
    Fakes,
    Stacks,
    empty_tables,
    reset_fakes,
)
from tests.offline.stack import OfflineStack
from tests.offline.test_offline_slack import FORM, send, slash_command
from tests.offline.test_offline_telegram import SECRET_HEADER, command


@pytest.fixture
def clean(stacks: Stacks, database: Database, fakes: Fakes) -> OfflineStack:
    """The no-queue stack, empty tables, fresh fakes."""
    empty_tables(database.engine)
    reset_fakes(fakes)
    return stacks.no_queue


def test_the_telegram_webhook_answers_after_the_reply(clean: OfflineStack, database: Database,
                                                      fakes: Fakes) -> None:
    update = command("/add buy milk")

    reply = clean.post("/telegram/webhook", json.dumps(update).encode(),
                       {"Content-Type": "application/json", SECRET_HEADER: TELEGRAM_SECRET})

    assert reply.status == 200, clean.log_tail()
    # Already sent when the webhook answered: no queue, no worker.
    (sent,) = fakes.telegram.calls_to("sendMessage")
    assert sent["text"] == "Added #1: buy milk"
    assert sent.at < reply.answered_at
    assert count(database.engine, "tasks", "title = 'buy milk'") == 1
    assert count(database.engine, "outbox", "sent_at IS NOT NULL") == 1
    assert "(λ: worker)" not in clean.log()
    assert "Offline SQS" not in clean.log()  # serverless-offline-sqs not even loaded


def test_a_slack_slash_command_is_answered_before_the_ack(clean: OfflineStack,
                                                          fakes: Fakes) -> None:
    hook = fakes.slack.hook_url()

    reply = send(clean, slash_command(hook, "add buy bread"), FORM)

    assert reply.status == 200, clean.log_tail()
    assert [post.message["text"] for post in fakes.slack.hook_posts] == ["Added #1: buy bread"]
