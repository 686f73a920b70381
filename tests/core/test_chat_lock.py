"""Turns of one chat run one at a time; other chats of the same user are not held up, and a
command that cannot get its chat (or a row) in time says so instead of hanging (PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot_core.bootstrap import build_service
from bot_core.brains.base import BrainRequest
from bot_core.conversations import ChatBusy
from bot_core.reply import Reply
from bot_core.service import TodoService
from bot_core.settings import Settings
from bot_core.tasks import TaskTools
from tests.conftest import count, inbound, pg_engine


class SlowBrain:
    """Optionally adds a task, then waits until the test lets it finish (a slow LLM)."""

    def __init__(self, add_first: bool) -> None:
        self.add_first = add_first
        self.started = threading.Event()
        self.release = threading.Event()

    def answer(self, request: BrainRequest, tools: TaskTools) -> Reply:
        if self.add_first:
            tools.call("add_task", {"title": "from the slow turn"})
        self.started.set()
        self.release.wait(30)
        return Reply(text="finally")


@pytest.fixture
def slow_turn(pg_url: str, request: pytest.FixtureRequest) -> Iterator[tuple[TodoService,
                                                                              SlowBrain]]:
    brain = SlowBrain(add_first=request.param)
    service = build_service(Settings(database_url=pg_url), engine=pg_engine(pg_url), brain=brain)
    service.handle(inbound("/start", chat="dm"))  # the user exists before the race
    worker = threading.Thread(target=service.handle, args=(inbound("think hard", chat="dm"),))
    worker.start()
    assert brain.started.wait(10)
    try:
        yield service, brain
    finally:
        brain.release.set()
        worker.join(30)


@pytest.mark.parametrize("slow_turn", [False], indirect=True)
def test_another_chat_of_the_same_user_is_not_held_up(
    slow_turn: tuple[TodoService, SlowBrain], pg_url: str
) -> None:
    service, brain = slow_turn
    reply = service.handle(inbound("/list", chat="group")).reply
    assert reply is not None and not brain.release.is_set()  # answered while the LLM "thinks"


@pytest.mark.parametrize("slow_turn", [False], indirect=True)
def test_a_command_in_the_busy_chat_gives_up_cleanly(
    slow_turn: tuple[TodoService, SlowBrain], pg_url: str
) -> None:
    service, _ = slow_turn
    with pytest.raises(ChatBusy):
        service.handle(inbound("/add later", chat="dm", delivery="busy-1"))
    assert count(pg_engine(pg_url), "delivery_claims") == 0  # nothing of it stored: redeliverable


@pytest.mark.parametrize("slow_turn", [True], indirect=True)
def test_a_row_held_by_a_slow_turn_bounds_the_wait(
    slow_turn: tuple[TodoService, SlowBrain], pg_url: str
) -> None:
    service, brain = slow_turn
    # The slow turn holds the user's task counter; an /add elsewhere cannot wait it out.
    with pytest.raises(ChatBusy):
        service.handle(inbound("/add elsewhere", chat="group"))
    brain.release.set()
    service.handle(inbound("/add elsewhere", chat="group"))  # and works once it is done
