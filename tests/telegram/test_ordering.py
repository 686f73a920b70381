"""Order, and who waits for whom, with the in-process queue (no ``TODOBOT_QUEUE_URL``).

The turns of one conversation member (a private chat, or one person in a group) run one at a
time, lowest update_id first among those waiting — also when Telegram hands them over
concurrently. Nobody else waits: another member of the group, or the same person in another
chat, goes on while a member's LLM turn is thinking (no lock is held while the model thinks).
On AWS the same promise is SQS FIFO's (MessageGroupId = the member's conversation): see
tests/aws and tests/pipeline. PostgreSQL, as in production.
"""

from __future__ import annotations

import random
import threading
from typing import Any

from sqlalchemy import text

from handlers import composition
from handlers.telegram import handler
from tests.fakes.openai_server import FakeOpenAI, calls, says
from tests.telegram.conftest import (
    GROUP_ID,
    USER_ID,
    TelegramBot,
    api_event,
    gated,
    group_text,
    private_text,
    wait_until,
)

ALICE, BOB = 1001, 1002


def _start(updates: list[dict[str, Any]], statuses: dict[int, int]) -> list[threading.Thread]:
    """Deliver every update on its own thread, in a random order, all at once."""
    barrier = threading.Barrier(len(updates))

    def deliver(update: dict[str, Any]) -> None:
        barrier.wait()
        statuses[update["update_id"]] = handler(api_event(update), None)["statusCode"]

    shuffled = random.sample(updates, len(updates))
    threads = [threading.Thread(target=deliver, args=(u,)) for u in shuffled]
    for thread in threads:
        thread.start()
    return threads


def _post_while_thinking(tg: TelegramBot, update: dict[str, Any]) -> dict[str, Any]:
    """Deliver ``update`` and require its answer within a while (well before the model's
    gate is opened): a delivery stuck behind the LLM turn fails here, not by hanging."""
    answers: list[dict[str, Any]] = []
    thread = threading.Thread(target=lambda: answers.append(tg.post(update)))
    thread.start()
    thread.join(15)
    assert answers, "the delivery waited for another conversation's LLM turn"
    return answers[0]


def _waiting_behind(update: dict[str, Any]) -> int:
    """Deliveries of ``update``'s conversation member waiting in the in-process queue."""
    root = composition.root()
    delivery = root.telegram_webhook.delivery_of(update)
    assert delivery is not None
    return int(root.queue.waiting(delivery.group))  # type: ignore[attr-defined]


def test_twenty_concurrent_updates_behind_an_llm_turn_run_in_update_id_order(
        tg: TelegramBot, llm: FakeOpenAI) -> None:
    gate = threading.Event()
    llm.script(gated(gate, says("Noted.")))
    first = private_text("hello there")
    statuses: dict[int, int] = {}
    busy = _start([first], statuses)
    wait_until(lambda: len(llm.bodies) == 1, "the LLM turn to be running")

    later = [private_text(f"/add Task {n:02d}") for n in range(1, 21)]
    threads = _start(later, statuses)
    wait_until(lambda: _waiting_behind(first) == 20, "all twenty updates to be waiting")
    assert tg.rows("messages") == tg.rows("tasks") == 0  # nobody overtook the running turn
    gate.set()
    for thread in busy + threads:
        thread.join(60)

    assert sorted(statuses.values()) == [200] * 21
    assert tg.user_messages() == ["hello there"] + [f"/add Task {n:02d}" for n in range(1, 21)]
    assert tg.api.sent_texts() == ["Noted."] + [f"Added #{n}: Task {n:02d}" for n in range(1, 21)]
    with tg.engine.connect() as conn:
        numbered = conn.execute(text("SELECT number, title FROM tasks ORDER BY number")).all()
    assert [(n, t) for n, t in numbered] == [(n, f"Task {n:02d}") for n in range(1, 21)]
    assert tg.unsent() == 0


def test_a_group_members_slow_llm_turn_does_not_delay_another_members_add(
        tg: TelegramBot, llm: FakeOpenAI) -> None:
    """Alice's free text is with the model; Bob's /add in the same group is answered
    meanwhile, and Alice's own /add waits for her turn (her conversation's order)."""
    gate = threading.Event()
    llm.script(gated(gate, says("Noted, Alice.")))
    alice_thinks = group_text("remember the team lunch", user_id=ALICE, reply_to_bot=True)
    statuses: dict[int, int] = {}
    alice = _start([alice_thinks], statuses)
    wait_until(lambda: len(llm.bodies) == 1, "Alice's LLM turn to be running")
    alice_adds = group_text("/add Alice's task", user_id=ALICE)
    alice += _start([alice_adds], statuses)
    wait_until(lambda: _waiting_behind(alice_thinks) == 1, "Alice's /add to wait for her turn")

    bob = _post_while_thinking(tg, group_text("/add Bob's task", user_id=BOB))

    assert bob["statusCode"] == 200
    assert not gate.is_set()
    assert tg.api.sent_texts() == ["Added #1: Bob's task"]
    gate.set()
    for thread in alice:
        thread.join(60)
    assert tg.api.sent_texts() == ["Added #1: Bob's task", "Noted, Alice.",
                                   "Added #1: Alice's task"]
    assert all(c["chat_id"] == str(GROUP_ID) for c in tg.api.calls_to("sendMessage"))
    assert sorted(statuses.values()) == [200, 200]


def test_the_same_users_other_chat_is_not_blocked_by_an_llm_turn(
        tg: TelegramBot, llm: FakeOpenAI) -> None:
    """While the model works on a private message that adds a task, the same person adds one
    in a group: no transaction (no lock on their task counter) is held while the model thinks,
    so the group's /add is answered at once. The LLM turn's add is then replayed on top of it
    in its final transaction and gets the next number; its answer says what really happened."""
    gate = threading.Event()
    llm.script(calls(("add_task", {"title": "Buy milk"})), gated(gate, says("Added #1.")))
    thinking = private_text("remind me to buy milk", user_id=USER_ID)
    statuses: dict[int, int] = {}
    private = _start([thinking], statuses)
    wait_until(lambda: len(llm.bodies) == 2, "the model to have added the task and be writing")

    other_chat = _post_while_thinking(
        tg, group_text("/add Team report", user_id=USER_ID, reply_to_bot=True))

    assert other_chat["statusCode"] == 200
    assert not gate.is_set()
    assert tg.api.sent_texts() == ["Added #1: Team report"]
    gate.set()
    for thread in private:
        thread.join(60)
    assert statuses == {thinking["update_id"]: 200}
    with tg.engine.connect() as conn:
        numbered = conn.execute(text("SELECT number, title FROM tasks ORDER BY number")).all()
    assert [(n, t) for n, t in numbered] == [(1, "Team report"), (2, "Buy milk")]
    answer = tg.api.sent_texts()[-1]
    assert answer.startswith("Added #2: Buy milk")
    assert "changed while I was thinking" in answer
    assert tg.unsent() == 0
