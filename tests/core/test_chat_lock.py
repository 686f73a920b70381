"""Nothing is held while the brain thinks: a slow LLM turn (one that already added a task) does
not block the same user's other chats, nor another member's commands, on either database; and
its turn still lands all at once, with the tool calls the brain saw."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from bot_core.brains.base import BrainRequest
from bot_core.reply import Reply
from bot_core.service import TodoService
from bot_core.tasks import Tools
from tests.conftest import ServiceFactory, count, inbound


class SlowBrain:
    """Adds a task, then waits until the test lets it finish (a slow LLM's second round)."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()

    def answer(self, request: BrainRequest, tools: Tools) -> Reply:
        tools.call("add_task", {"title": "from the slow turn"})
        self.started.set()
        assert self.release.wait(30)
        return Reply(text="finally")


@pytest.fixture
def slow_turn(make_service: ServiceFactory) -> Iterator[tuple[TodoService, SlowBrain,
                                                              dict[str, Any]]]:
    brain = SlowBrain()
    service = make_service(brain)
    service.handle(inbound("/start", chat="dm"))  # the user exists before the race
    outcome: dict[str, Any] = {}

    def run() -> None:
        outcome["result"] = service.handle(inbound("think hard", chat="dm", delivery="slow"),
                                           target="{}")

    worker = threading.Thread(target=run)
    worker.start()
    assert brain.started.wait(10)
    try:
        yield service, brain, outcome
    finally:
        brain.release.set()
        worker.join(30)


def test_the_same_users_other_chat_adds_while_the_model_thinks(
    slow_turn: tuple[TodoService, SlowBrain, dict[str, Any]], engine: Engine
) -> None:
    service, brain, _ = slow_turn
    # The slow turn has added a task (its number taken) and waits on the model: an /add in
    # another chat of the same user, which needs the same task counter, is not held up.
    reply = service.handle(inbound("/add elsewhere", chat="group")).reply
    assert reply is not None and reply.text == "Added #1: elsewhere"
    assert not brain.release.is_set()
    assert count(engine, "tasks") == 1  # the slow turn's task is not stored before its commit


def test_another_member_of_the_group_is_not_held_up(
    slow_turn: tuple[TodoService, SlowBrain, dict[str, Any]]
) -> None:
    service, brain, _ = slow_turn
    reply = service.handle(inbound("/add theirs", user="bob", chat="dm")).reply
    assert reply is not None and reply.text == "Added #1: theirs"
    assert not brain.release.is_set()


def test_the_slow_turn_lands_whole_when_the_model_is_done(
    slow_turn: tuple[TodoService, SlowBrain, dict[str, Any]], engine: Engine
) -> None:
    _service, brain, outcome = slow_turn
    brain.release.set()
    for _ in range(300):
        if "result" in outcome:
            break
        threading.Event().wait(0.05)
    result = outcome["result"]
    assert result.reply is not None and result.reply.text == "finally"
    assert result.outbox_id is not None
    assert count(engine, "tasks", "title = 'from the slow turn'") == 1
    assert count(engine, "messages") == 4  # /start and its answer, then this turn's two
    assert count(engine, "outbox") == 1


def test_an_add_meanwhile_is_reported_not_hidden(make_service: ServiceFactory,
                                                 engine: Engine) -> None:
    """The brain was told #1; another chat took #1 first: the stored answer says what really
    happened rather than the brain's now-wrong text."""
    release = threading.Event()
    told: list[str] = []

    class Brain:
        def answer(self, request: BrainRequest, tools: Tools) -> Reply:
            told.append(tools.call("add_task", {"title": "slow one"}).result.message)
            release.wait(30)
            return Reply(text="Added #1 for you")

    service = make_service(Brain())
    service.handle(inbound("/start"))
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(
        service.handle(inbound("add the slow one", delivery="k1"))))
    worker.start()
    for _ in range(200):
        if told:
            break
        threading.Event().wait(0.05)
    service.handle(inbound("/add quick one", chat="other"))
    release.set()
    worker.join(30)
    assert told == ["Added #1: slow one"]
    reply = results[0].reply
    assert reply.text.startswith("Added #2: slow one")
    assert count(engine, "tasks") == 2


def test_each_tool_call_sees_the_turns_earlier_calls(make_service: ServiceFactory,
                                                    engine: Engine) -> None:
    """Every call runs in its own rolled-back transaction, so it must replay the turn's earlier
    calls: a task added a moment ago can be completed, and a second add gets the next number."""
    seen: list[str] = []

    class Brain:
        def answer(self, request: BrainRequest, tools: Tools) -> Reply:
            for name, args in (("add_task", {"title": "first"}),
                               ("add_task", {"title": "second"}),
                               ("complete_task", {"task_number": 1}),
                               ("list_tasks", {"status": "open"})):
                seen.append(tools.call(name, args).result.message)
            return Reply(text="All set.")

    result = make_service(Brain()).handle(inbound("do several things", delivery="k"))

    assert seen == ["Added #1: first", "Added #2: second", "Done: #1 first", "1 open task"]
    assert result.reply is not None and result.reply.text == "All set."
    assert count(engine, "tasks") == 2 and count(engine, "tasks", "completed = :c", c=True) == 1
