"""POST /telegram/webhook through serverless-offline (API Gateway HTTP API, payload 2.0) on the
queue path: the webhook verifies, parses, queues on moto's SQS FIFO queue and answers 200;
serverless-offline-sqs hands the record to ``handlers.worker.handler``, which runs the turn and
sends the reply to the fake Bot API — once. Send failures come back through the queue (the
worker's ``batchItemFailures``) and then the scheduler; a record the worker cannot read goes to
the dead-letter queue without holding up its conversation."""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any

import pytest

from handlers.aws.sqs_batch import POISONED_AFTER
from handlers.telegram.client import BotIdentity
from handlers.telegram.parse import classify, parse_update
from handlers.telegram.webhook import to_delivery
from tests.conftest import FIXTURES, count
from tests.fakes.openai_server import calls, says
from tests.offline.conftest import MAX_RECEIVES, TELEGRAM_SECRET, Gate, Offline, unique_id
from tests.offline.stack import Reply, wait_for

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TELEGRAM_FIXTURES = FIXTURES / "telegram"

NOTHING = {"users": 0, "messages": 0, "delivery_claims": 0}
TURN = {"users": 1, "messages": 2, "delivery_claims": 1}
CLAIM_ONLY = {"users": 0, "messages": 0, "delivery_claims": 1}
# fixture -> (Bot API methods called, in order; rows written): as tests/telegram/test_fixtures.py
# has them for the in-process queue, here with the worker doing the calls.
EXPECTED: dict[str, tuple[list[str], dict[str, int]]] = {
    "callback_query_private": (["answerCallbackQuery"], CLAIM_ONLY),  # not our button
    "edited_message_private": ([], NOTHING),  # edits are not re-run
    "group_command_bot_command_entity": ([], NOTHING),  # /report: another bot's command
    "group_message_mentioning_bot": (["sendChatAction", "sendMessage"], TURN),
    "legacy_doc_callback_query": ([], NOTHING),  # PTB cannot parse
    "legacy_doc_edited_message": ([], NOTHING),
    "legacy_doc_voice_message": ([], NOTHING),
    "my_chat_member_private_kicked": ([], NOTHING),  # membership: ignored
    "my_chat_member_supergroup_promoted_admin": ([], NOTHING),  # PTB cannot parse
    "photo_no_text": (["sendMessage"], CLAIM_ONLY),  # a fixed friendly answer
    "private_command_start": (["sendMessage"], TURN),
    "private_text_message": (["sendChatAction", "sendMessage"], TURN),  # free text: the model
    "sticker_no_text": (["sendMessage"], CLAIM_ONLY),
}


def fixture(name: str) -> dict[str, Any]:
    """A fixture payload with an update_id of its own (SQS deduplicates on it)."""
    payload: dict[str, Any] = json.loads((TELEGRAM_FIXTURES / f"{name}.json").read_text())
    payload["update_id"] = unique_id()
    return payload


def command(text: str, **sender: Any) -> dict[str, Any]:
    """``private_command_start`` saying ``text`` (a bot command), from ``sender`` if given."""
    payload = fixture("private_command_start")
    message = payload["message"]
    message.update(text=text, entities=[
        {"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}])
    message["from"].update(sender)
    if "id" in sender:
        message["chat"]["id"] = sender["id"]
    return payload


def post(stack: Offline, payload: dict[str, Any], secret: str = TELEGRAM_SECRET) -> Reply:
    return stack.stack.post("/telegram/webhook", json.dumps(payload).encode(),
                            {"Content-Type": "application/json", SECRET_HEADER: secret})


def chat_of(payload: dict[str, Any]) -> int:
    return int(payload["message"]["chat"]["id"])


def sent_to(stack: Offline, chat_id: int) -> list[str]:
    return [str(call["text"]) for call in stack.telegram.calls_to("sendMessage")
            if int(call["chat_id"]) == chat_id]


def test_every_fixture_has_an_expectation() -> None:
    assert {path.stem for path in TELEGRAM_FIXTURES.glob("*.json")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_payload(stack: Offline, name: str) -> None:
    methods, rows = EXPECTED[name]
    stack.openai.default = says("Noted.")

    reply = post(stack, fixture(name))

    assert reply.status == 200, stack.stack.log_tail()
    stack.settle()
    assert stack.telegram.methods() == methods
    assert {table: count(stack.engine, table) for table in rows} == rows
    assert count(stack.engine, "outbox", "sent_at IS NULL") == 0


def test_commands_are_queued_and_answered_by_the_worker(
        stack: Offline, capsys: pytest.CaptureFixture[str]) -> None:
    webhook_runs = len(stack.stack.durations("telegram"))
    worker_runs = len(stack.stack.durations("worker"))
    start, add = command("/start"), command("/add buy milk")
    chat = chat_of(start)

    first = post(stack, start)
    second = post(stack, add)

    assert (first.status, second.status) == (200, 200), stack.stack.log_tail()
    assert wait_for(lambda: len(sent_to(stack, chat)) == 2), stack.stack.log_tail()
    stack.settle()
    replies = sent_to(stack, chat)
    assert replies[0].startswith("Hi, Chris!")
    assert replies[1] == "Added #1: buy milk"
    assert count(stack.engine, "tasks", "title = 'buy milk'") == 1
    assert count(stack.engine, "outbox", "sent_at IS NOT NULL") == 2
    # The webhook ran twice and only queued; the worker sent the replies.
    assert len(stack.stack.durations("telegram")) == webhook_runs + 2
    assert len(stack.stack.durations("worker")) > worker_runs
    with capsys.disabled():
        print(f"\ntelegram webhook (queue path) under serverless-offline: answered in "
              f"{first.seconds * 1000:.0f} ms, then {second.seconds * 1000:.0f} ms")


def test_free_text_is_answered_after_the_webhook_answered(
        stack: Offline, capsys: pytest.CaptureFixture[str]) -> None:
    """The model's answer is held until the webhook's 200 is in: the turn runs on the worker,
    after the webhook answered, and its reply is sent once. (The worker starts a turn for the
    model only with its reserve left, 80 s: under serverless-offline it has the function's
    180 s because infra/offline/patch-serverless-offline.mjs passes the timeout on.)"""
    gate = Gate(calls(("add_task", {"title": "renew my passport"})))
    stack.openai.script(gate, says("Added #1: renew my passport."))
    payload = fixture("private_text_message")
    payload["message"]["text"] = "remind me to renew my passport"
    chat = chat_of(payload)

    try:
        reply = post(stack, payload)
        assert reply.status == 200, stack.stack.log_tail()
        assert sent_to(stack, chat) == []
        assert gate.asked.wait(60), stack.stack.log_tail()  # the worker is in the turn
    finally:
        gate.open()

    assert wait_for(lambda: sent_to(stack, chat)), stack.stack.log_tail()
    stack.settle()
    assert sent_to(stack, chat) == ["Added #1: renew my passport."]
    assert len(stack.openai.bodies) == 2  # the tool call, then the answer
    assert count(stack.engine, "tasks", "title = 'renew my passport'") == 1
    assert count(stack.engine, "messages", "role = 'assistant'") == 1
    (sent,) = stack.telegram.calls_to("sendMessage")
    assert sent.at > reply.answered_at
    with capsys.disabled():
        print(f"\ntelegram free text (queue path): webhook answered in "
              f"{reply.seconds * 1000:.0f} ms, before the model did")


def test_a_redelivered_update_is_answered_once(stack: Offline) -> None:
    """Telegram sends an update again when the answer was slow or lost: the queue drops the
    copies (deduplication id: telegram + update_id), the delivery claim any later one."""
    update = command("/add call mom")
    chat = chat_of(update)

    statuses = [post(stack, update).status for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert wait_for(lambda: sent_to(stack, chat)), stack.stack.log_tail()
    stack.settle()
    assert sent_to(stack, chat) == ["Added #1: call mom"]
    assert count(stack.engine, "tasks") == 1
    assert count(stack.engine, "delivery_claims") == 1


def test_a_wrong_secret_is_refused_and_nothing_queued(stack: Offline) -> None:
    reply = post(stack, command("/add forged"), secret="not-the-secret")

    assert reply.status == 401
    assert stack.aws.waiting() == 0
    assert count(stack.engine, "messages") == 0
    assert stack.telegram.calls == []


def test_a_rate_limited_reply_comes_back_through_the_queue_then_the_scheduler(
        stack: Offline) -> None:
    """The Bot API answers 429 (retry_after 1) to the first three sends: the worker reports the
    record failed with its visibility set to retry_after, serverless-offline-sqs leaves it on
    the queue, and the next receives retry the send; after the third the record is let go and
    the stored reply is the scheduler's, whose function sends it once."""
    stack.telegram.fail_next("sendMessage", 429, retry_after=1, times=3)
    update = command("/add pay rent")
    chat = chat_of(update)

    assert post(stack, update).status == 200
    assert wait_for(lambda: len(stack.telegram.calls_to("sendMessage")) == 3, 30), (
        stack.stack.log_tail())
    stack.settle()
    attempts = stack.telegram.calls_to("sendMessage")
    assert [stack.telegram.status_of(call) for call in attempts] == [429, 429, 429]
    # Each receive came after the retry_after the worker set as the record's visibility.
    assert all(later.at - earlier.at >= 0.9 for earlier, later in pairwise(attempts))
    assert count(stack.engine, "outbox", "sent_at IS NULL AND failed_at IS NULL") == 1
    assert count(stack.engine, "tasks") == 1  # the turn ran once, only the send was retried

    # The row's next attempt is retry_after (1 s) after the last 429.
    assert wait_for(lambda: count(stack.engine, "outbox", "sent_at IS NULL AND "
                                  "next_attempt_at <= clock_timestamp()") == 1, 10)
    status, swept = stack.stack.invoke("scheduler", {"source": "aws.events"})

    assert status == 200, stack.stack.log_tail()
    assert swept["ok"] is True and swept["retried"] == 1 and swept["still_unsent"] == 0
    assert sent_to(stack, chat) == ["Added #1: pay rent"] * 4  # three refused, one accepted
    assert [c["text"] for c in stack.telegram.succeeded("sendMessage")] == ["Added #1: pay rent"]
    assert count(stack.engine, "outbox", "sent_at IS NOT NULL") == 1


def test_an_unreadable_record_is_dead_lettered_and_its_conversation_goes_on(
        stack: Offline) -> None:
    """A record the worker cannot read, at the head of a conversation's message group: the
    worker reports it failed (so serverless-offline-sqs leaves it on the queue, and the group's
    later records wait behind it) and on its POISONED_AFTER-th receive moves it to the
    dead-letter queue itself, long before the redrive policy would; the update queued behind it
    in the same group is then answered, once."""
    update = command("/add after the poison")
    delivery = to_delivery(classify(parse_update(update), BotIdentity(id=1, username="")))
    assert delivery is not None
    poison = stack.aws.sqs.send_message(
        QueueUrl=stack.aws.queue_url, MessageBody="not a delivery",
        MessageGroupId=delivery.group, MessageDeduplicationId=f"poison-{unique_id()}",
    )["MessageId"]

    assert post(stack, update).status == 200
    assert wait_for(lambda: sent_to(stack, chat_of(update)), 60), stack.stack.log_tail()
    stack.settle()

    dead = stack.aws.dead_letters()
    assert [m["Body"] for m in dead] == ["not a delivery"]
    assert dead[0]["Attributes"]["MessageGroupId"] == delivery.group
    unreadable = f"record {poison} is not a delivery this worker understands"
    assert stack.stack.log().count(unreadable) == POISONED_AFTER < MAX_RECEIVES
    assert sent_to(stack, chat_of(update)) == ["Added #1: after the poison"]
    assert count(stack.engine, "tasks") == 1
