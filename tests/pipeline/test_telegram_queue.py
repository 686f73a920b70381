"""Telegram on the AWS path: the webhook only queues (nothing written, nothing sent), the worker
runs each conversation member's turns in order and delivers the replies; duplicates, poisoned
records, crashes between commit and send, and the deadline lose nothing and double nothing."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from handlers.delivery import Deliverer
from tests.fakes.openai_server import FakeOpenAI, calls, says
from tests.fakes.telegram_api import DEFAULT_USERNAME
from tests.pipeline.conftest import MAX_RECEIVES, Pipeline
from tests.telegram.conftest import (
    GROUP_ID,
    TelegramBot,
    gated,
    group_text,
    private_text,
    reset_process_state,
    run_concurrently,
    wait_until,
)


def test_the_webhook_only_queues_and_the_worker_answers(tg: TelegramBot,
                                                        telegram_pipeline: Pipeline) -> None:
    response = tg.post(private_text("/add Buy milk"))

    assert response["statusCode"] == 200
    assert tg.nothing_written() and tg.api.calls == []  # nothing but the queue, yet
    assert telegram_pipeline.waiting() == 1
    telegram_pipeline.esm.drain()
    assert tg.api.sent_texts() == ["Added #1: Buy milk"]
    assert tg.rows("tasks") == 1
    assert tg.rows("outbox", "sent_at IS NOT NULL") == 1
    assert telegram_pipeline.waiting() == 0


def test_a_redelivered_update_is_queued_once(tg: TelegramBot,
                                             telegram_pipeline: Pipeline) -> None:
    update = private_text("/add Buy milk")
    statuses = run_concurrently([lambda: tg.post(update)["statusCode"] for _ in range(3)])
    statuses.append(tg.post(update)["statusCode"])

    assert statuses == [200] * 4
    assert telegram_pipeline.waiting() == 1  # SQS deduplicated on telegram + update_id
    telegram_pipeline.esm.drain()
    assert tg.rows("tasks") == 1 and tg.api.sent_texts() == ["Added #1: Buy milk"]


def test_each_members_turns_run_in_order_under_concurrency(tg: TelegramBot,
                                                           telegram_pipeline: Pipeline) -> None:
    """Five people, ten /adds each, sent by one thread per person while three containers
    poll: every person's tasks are numbered in the order they were sent."""
    people = [900_000 + n for n in range(5)]
    done = threading.Event()

    def send(user_id: int) -> None:
        for n in range(10):
            assert tg.post(private_text(f"/add {user_id} step {n}",
                                        user_id=user_id))["statusCode"] == 200

    senders = [threading.Thread(target=send, args=(user,)) for user in people]
    for thread in senders:
        thread.start()
    polling = threading.Thread(target=lambda: telegram_pipeline.esm.run_concurrently(
        3, not_before=done, timeout_s=120))
    polling.start()
    for thread in senders:
        thread.join(60)
    done.set()
    polling.join(130)

    with tg.engine.connect() as conn:
        from sqlalchemy import text

        rows = conn.execute(text(
            "SELECT t.title, t.number FROM tasks t ORDER BY t.user_id, t.number")).all()
    by_user: dict[str, list[str]] = {}
    for title, _number in rows:
        by_user.setdefault(title.split()[0], []).append(title)
    assert len(rows) == 50
    assert all(titles == [f"{user} step {n}" for n in range(10)]
               for user, titles in by_user.items())
    assert not any(o.deleted_after_failure for o in telegram_pipeline.esm.outcomes)


def test_a_poisoned_record_is_dead_lettered_without_blocking_its_group(
        tg: TelegramBot, telegram_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """A turn that fails every time: after MAX_RECEIVES receives it is in the dead-letter
    queue, the same person's next message and other people's go through, and nothing of the
    poisoned turn is stored."""
    from bot_core.service import TodoService

    real_handle = TodoService.handle

    def handle(self: TodoService, inbound: Any, **kwargs: Any) -> Any:
        if inbound.text == "/add poison":
            raise RuntimeError("a bug that hits this message every time")
        return real_handle(self, inbound, **kwargs)

    monkeypatch.setattr(TodoService, "handle", handle)
    monkeypatch.setattr("handlers.aws.sqs_batch.MAX_TURN_BACKOFF_SECONDS", 0)
    tg.post(private_text("/add poison"))
    tg.post(private_text("/add after the poison"))
    tg.post(private_text("/add someone else", user_id=5_000_001))

    telegram_pipeline.esm.drain(timeout_s=60)

    dead = telegram_pipeline.dead_letters()
    assert [d["inbound"]["text"] for d in dead] == ["/add poison"]
    assert sorted(tg.api.sent_texts()) == ["Added #1: after the poison", "Added #1: someone else"]
    assert tg.rows("tasks", "title = 'poison'") == 0
    receives = [len(o.records) for o in telegram_pipeline.esm.outcomes
                if any("/add poison\"" in r["body"] for r in o.records)]
    assert len(receives) == MAX_RECEIVES


def test_a_worker_that_dies_between_commit_and_send_still_answers_once(
        tg: TelegramBot, telegram_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    """The invocation fails after the turn committed (the process died before sending): the
    whole batch comes back, the turn is not run again, and the stored reply is sent."""
    real_deliver = Deliverer.deliver
    died: list[bool] = []

    def deliver_or_die(self: Deliverer, row_ids: Any) -> Any:
        if not died:
            died.append(True)
            raise SystemExit("the container was killed")
        return real_deliver(self, row_ids)

    monkeypatch.setattr(Deliverer, "deliver", deliver_or_die)
    tg.post(private_text("/add survive"))

    telegram_pipeline.esm_with(_worker_retrying_soon(), function_timeout_s=60).drain(
        timeout_s=60)

    assert died == [True]
    assert tg.api.sent_texts() == ["Added #1: survive"]
    assert tg.rows("tasks") == 1 and tg.rows("messages") == 2
    assert tg.rows("outbox", "sent_at IS NOT NULL") == 1


def test_a_batch_that_would_overrun_the_deadline_leaves_its_tail_to_the_queue(
        tg: TelegramBot, telegram_pipeline: Pipeline) -> None:
    """Three records of one person in one batch; after the first, the function's remaining time
    is below what a turn may need: the other two go back at once and run in the next batch,
    in order, once each."""
    for n in range(3):
        tg.post(private_text(f"/add step {n}"))
    from handlers.worker import INSTANT_RESERVE_MS, handler

    remaining = iter([INSTANT_RESERVE_MS + 5_000] + [INSTANT_RESERVE_MS - 1] * 2)

    class ShortContext:
        function_name = "todobot-test-worker"

        def get_remaining_time_in_millis(self) -> int:
            return next(remaining, 60_000)

    first = telegram_pipeline.esm_with(lambda event, _context: handler(event, ShortContext()))
    outcome = first.poll_once()
    assert len(outcome.records) == 3 and len(outcome.failed) == 2
    assert tg.api.sent_texts() == ["Added #1: step 0"]

    telegram_pipeline.esm.drain()
    assert tg.api.sent_texts() == ["Added #1: step 0", "Added #2: step 1", "Added #3: step 2"]
    assert tg.rows("tasks") == 3 and tg.rows("delivery_claims") == 3


def test_in_a_group_one_members_slow_llm_turn_does_not_delay_anothers_adds(
        tg: TelegramBot, telegram_pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI() as llm:
        monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "test-key")
        reset_process_state()
        gate = threading.Event()
        llm.script(gated(gate, calls(("add_task", {"title": "slow one"}))), says("Added it."))
        mention = f"@{DEFAULT_USERNAME}"
        slow = group_text(f"{mention} plan my week", user_id=111, entities=[
            {"offset": 0, "length": len(mention), "type": "mention"}])
        tg.post(slow)
        for n in range(3):
            tg.post(group_text(f"/add quick {n}", user_id=222))
        polling = threading.Thread(target=lambda: telegram_pipeline.esm.run_concurrently(
            2, timeout_s=60))
        polling.start()
        try:
            wait_until(lambda: len(llm.bodies) == 1, "the slow turn to reach the model")
            wait_until(lambda: len([t for t in tg.api.sent_texts() if "quick" in t]) == 3,
                       "the other member's three /adds to be answered", timeout=30)
            assert not gate.is_set()
            assert tg.rows("tasks", "title = 'slow one'") == 0  # still thinking
        finally:
            gate.set()
            polling.join(70)
    assert tg.rows("tasks", "title = 'slow one'") == 1, tg.api.sent_texts()
    assert [t for t in tg.api.sent_texts() if "quick" in t] == [
        "Added #1: quick 0", "Added #2: quick 1", "Added #3: quick 2"]
    assert {str(call["chat_id"]) for call in tg.api.calls_to("sendMessage")} == {str(GROUP_ID)}


def _worker_retrying_soon() -> Any:
    """The worker as deployed: a failed invocation's records come back after the queue's
    visibility timeout; here that is cut short so the test need not wait 30 s."""
    from handlers.worker import handler

    def run(event: dict[str, Any], context: Any) -> Any:
        try:
            return handler(event, context)
        except SystemExit as died:  # as Lambda sees a killed process: the invocation failed
            from handlers import composition

            sqs = composition.root().sqs_queue
            assert sqs is not None
            for record in event["Records"]:
                sqs.retry_later(record["receiptHandle"], 0)
            raise RuntimeError("the invocation died") from died
    return run
