"""Slack on the AWS path: Bolt verifies and acks with the delivery queued (nothing written,
nothing said yet); the worker answers through response_url, chat.postMessage or views.publish.
Slack's retries, whatever their reason, are queued again and run at most once — never zero."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from handlers.aws.sqs_queue import OutgoingMessage, SqsQueue
from tests.conftest import count
from tests.pipeline.conftest import Pipeline
from tests.slack.harness import SlackHarness


def test_a_slash_command_is_acked_empty_and_answered_by_the_worker(
        slack: SlackHarness, slack_pipeline: Pipeline, engine: Engine) -> None:
    response = slack.command("add Buy milk")

    assert response["statusCode"] == 200
    assert response.get("body", "") == ""
    assert slack.fake.hook_posts == [] and count(engine, "tasks") == 0
    slack_pipeline.esm.drain()
    (post,) = slack.fake.hook_posts
    assert post.message["text"] == "Added #1: Buy milk"
    assert post.message["response_type"] == "ephemeral"
    assert count(engine, "tasks") == 1


def test_a_dm_and_its_timed_out_retries_run_once(slack: SlackHarness,
                                                 slack_pipeline: Pipeline,
                                                 engine: Engine) -> None:
    """Slack retries an event it thinks we were slow to ack (http_timeout): the retry is queued
    too — deduplicated by the queue — and the turn runs exactly once."""
    slack.dm("add call mom", event_id="EvDM0001")
    for retry in ("1", "2"):
        slack.dm("add call mom", event_id="EvDM0001",
                 extra_headers={"x-slack-retry-num": retry,
                                "x-slack-retry-reason": "http_timeout"})
    assert slack_pipeline.waiting() == 1
    slack_pipeline.esm.drain()
    posts = slack.fake.calls_to("chat.postMessage")
    assert [p.params["text"] for p in posts] == ["Added #1: call mom"]
    assert count(engine, "tasks") == 1 and count(engine, "delivery_claims") == 1


def test_a_copy_past_the_dedup_window_runs_nothing_twice(
        slack: SlackHarness, slack_pipeline: Pipeline, engine: Engine,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same delivery queued again after it ran, under another deduplication id (as a copy
    past SQS's 5-minute window would be): the delivery claim makes it a no-op, no second
    reply."""
    sent: list[OutgoingMessage] = []
    real_send = SqsQueue.send

    def recording_send(self: SqsQueue, message: OutgoingMessage) -> None:
        sent.append(message)
        real_send(self, message)

    monkeypatch.setattr(SqsQueue, "send", recording_send)
    slack.dm("add buy bread", event_id="EvDM0002")
    slack_pipeline.esm.drain()
    (first,) = sent
    real_send(SqsQueue(slack_pipeline.queue.url, slack_pipeline.sqs), OutgoingMessage(
        group_id=first.group_id, dedup_id="a-later-copy", body=first.body))
    slack_pipeline.esm.drain()
    assert len(slack.fake.calls_to("chat.postMessage")) == 1
    assert count(engine, "tasks") == 1 and count(engine, "messages") == 2


def test_a_button_press_is_queued_and_the_list_replaced(slack: SlackHarness,
                                                        slack_pipeline: Pipeline,
                                                        engine: Engine) -> None:
    slack.command("add Buy milk")
    slack_pipeline.esm.drain()
    assert slack.press("todo:done:1:open")["statusCode"] == 200
    assert count(engine, "tasks", "completed = :c", c=True) == 0  # not yet: queued
    slack_pipeline.esm.drain()
    replaced = [p for p in slack.fake.hook_posts if p.message.get("replace_original")]
    assert len(replaced) == 1
    assert count(engine, "tasks", "completed = :c", c=True) == 1

