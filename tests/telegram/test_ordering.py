"""Turns of one chat run one at a time, in update_id order — also when Telegram (or a retry, or
a deferral) hands them over concurrently. PostgreSQL, as in production."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest
from sqlalchemy import text

from handlers.telegram import handler
from tests.fakes.lambda_api import FakeLambda
from tests.fakes.openai_server import FakeOpenAI, says
from tests.telegram.conftest import (
    USER_ID,
    TelegramBot,
    api_event,
    gated,
    lambda_context,
    private_text,
    reset_process_state,
    wait_until,
)


def _hold_chat_elsewhere(conn: Any, chat_key: str) -> None:
    """Take the chat's advisory lock on ``conn`` as another Lambda container would, and check
    that this process now cannot hold the chat (its own in-process lock being free)."""
    from handlers.telegram_turns import shared_queue

    conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"),
                 {"k": f"telegram\x1f{chat_key}"})
    conn.commit()
    with shared_queue().holding("telegram", chat_key, wait=False) as turns:
        assert turns is None


def _release_chat(conn: Any, chat_key: str) -> None:
    conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"),
                 {"k": f"telegram\x1f{chat_key}"})
    conn.commit()


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


def test_twenty_concurrent_updates_behind_an_llm_turn_are_stored_in_order(
        tg: TelegramBot, llm: FakeOpenAI) -> None:
    gate = threading.Event()
    llm.script(gated(gate, says("Noted.")))
    first = private_text("hello there")
    statuses: dict[int, int] = {}
    busy = _start([first], statuses)
    wait_until(lambda: len(llm.bodies) == 1, "the LLM turn to be running")

    later = [private_text(f"/add Task {n:02d}") for n in range(1, 21)]
    threads = _start(later, statuses)
    wait_until(lambda: tg.rows("outbox") == 21, "all twenty updates to be queued")
    assert tg.rows("messages") == 0  # nobody overtook the running turn
    gate.set()
    for thread in busy + threads:
        thread.join(60)

    assert sorted(statuses.values()) == [200] * 21
    assert tg.user_messages() == ["hello there"] + [f"/add Task {n:02d}" for n in range(1, 21)]
    assert tg.api.sent_texts() == ["Noted."] + [f"Added #{n}: Task {n:02d}" for n in range(1, 21)]
    assert tg.rows("outbox", "sent_at IS NULL AND failed_at IS NULL") == 0


def test_another_container_holding_the_chat_makes_twenty_updates_wait_their_turn(
        tg: TelegramBot) -> None:
    """Another process (a Lambda container) holds the chat's advisory lock: updates arriving
    meanwhile queue up and then run lowest update_id first."""
    updates = [private_text(f"/add Task {n:02d}") for n in range(1, 21)]
    statuses: dict[int, int] = {}
    with tg.engine.connect() as other_container:
        _hold_chat_elsewhere(other_container, str(USER_ID))
        threads = _start(updates, statuses)
        wait_until(lambda: tg.rows("outbox") == 20, "all twenty updates to be queued")
        assert tg.rows("messages") == 0
        _release_chat(other_container, str(USER_ID))
    for thread in threads:
        thread.join(60)

    assert sorted(statuses.values()) == [200] * 20
    assert tg.user_messages() == [f"/add Task {n:02d}" for n in range(1, 21)]
    with tg.engine.connect() as conn:
        numbered = conn.execute(text("SELECT number, title FROM tasks ORDER BY number")).all()
    assert [(n, t) for n, t in numbered] == [(n, f"Task {n:02d}") for n in range(1, 21)]


def test_in_lambda_a_command_after_a_deferred_turn_waits_for_it(
        tg: TelegramBot, llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    """Free text is deferred; a /list that arrives while it is pending must not overtake it:
    it is queued behind it and deferred too."""
    llm.script(says("Added it."))
    first = private_text("remember the milk")
    second = private_text("/list all")
    with FakeLambda(handler) as fake_lambda, tg.engine.connect() as other_container:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "todobot-dev-telegram")
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", fake_lambda.url)
        reset_process_state()
        _hold_chat_elsewhere(other_container, str(USER_ID))
        assert handler(api_event(first), lambda_context())["statusCode"] == 200
        assert handler(api_event(second), lambda_context())["statusCode"] == 200
        assert tg.rows("messages") == 0
        _release_chat(other_container, str(USER_ID))
        fake_lambda.wait_idle()

    assert fake_lambda.errors == []
    assert [i.invocation_type for i in fake_lambda.invocations] == ["Event", "Event"]
    assert tg.user_messages() == ["remember the milk", "/list all"]
    assert tg.api.sent_texts()[0] == "Added it."
