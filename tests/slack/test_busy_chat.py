"""Nobody waits for someone else's LLM turn.

The queue's group is one chat member's conversation and nothing is held while the model thinks
(no lock, no transaction): a slash command by the same user in another conversation of the
same channel, the same user's other chat, and another member of the channel (even in the same
thread) are answered while a slow LLM turn is still thinking. Within one member's conversation
the order holds: the next delivery waits its turn, and Slack's retry of the thinking turn makes
no second one.

(Replaces the "ChatBusy" test: a command in a chat with a running LLM turn used to be answered
"still working on your previous message"; that lock is gone.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from tests.conftest import count
from tests.fakes.openai_server import FakeOpenAI, Step, says
from tests.fakes.slack_api import FakeSlack
from tests.slack.harness import SlackHarness, fixture_json

THREAD = "1700000000.000100"


def gated(gate: threading.Event, then: Step) -> Step:
    """A model answer that waits for ``gate`` first: an LLM turn in progress."""
    def step(request: dict[str, Any]) -> Any:
        gate.wait(60)
        return then(request)
    return step


class Background:
    """``call(*args, **kwargs)`` on its own thread (a Slack request in flight)."""

    def __init__(self, call: Callable[..., dict[str, Any]], *args: Any, **kwargs: Any) -> None:
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(call, args, kwargs))
        self._thread.start()

    def _run(self, call: Callable[..., dict[str, Any]], args: Any, kwargs: Any) -> None:
        try:
            self.result = call(*args, **kwargs)
        except BaseException as error:  # noqa: BLE001 - re-raised by join()
            self.error = error

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self) -> dict[str, Any]:
        self._thread.join(60)
        assert not self._thread.is_alive(), "the request never returned"
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting: {what}"
        time.sleep(0.01)


def _posts(fake: FakeSlack) -> list[tuple[str, str | None, str]]:
    return [(c.params["channel"], c.params.get("thread_ts"), c.params["text"])
            for c in fake.accepted("chat.postMessage")]


def test_the_users_command_elsewhere_is_answered_while_their_llm_turn_thinks(
    slack: SlackHarness, llm: FakeOpenAI, engine: Engine
) -> None:
    gate = threading.Event()
    llm.script(gated(gate, says("Start with the passport.")))
    thinking = Background(slack.mention, "what should I do first?", user="W111",
                          thread_ts=THREAD)
    try:
        wait_until(lambda: len(llm.bodies) == 1, "the LLM turn to be thinking")
        # The same user in the same channel (the channel's conversation, not the thread's)...
        assert slack.command("add Buy milk", user="W111", channel="C111")["statusCode"] == 200
        assert [m["text"] for m in slack.answers()] == ["Added #1: Buy milk"]
        # ...and in another chat of theirs.
        assert slack.command("add Call mom", user="W111", channel="C222")["statusCode"] == 200
        assert [m["text"] for m in slack.answers()] == ["Added #2: Call mom"]
        assert thinking.running and _posts(slack.fake) == []
    finally:
        gate.set()
    assert thinking.join()["statusCode"] == 200
    assert _posts(slack.fake) == [("C111", THREAD, "Start with the passport.")]
    assert count(engine, "tasks") == 2 and count(engine, "messages") == 6
    assert len(llm.bodies) == 1


def test_a_second_members_add_is_not_delayed_by_the_firsts_llm_turn(
    slack: SlackHarness, llm: FakeOpenAI, engine: Engine
) -> None:
    gate = threading.Event()
    llm.script(gated(gate, says("Here is a plan.")))
    thinking = Background(slack.mention, "plan my week please", user="W111", thread_ts=THREAD)
    try:
        wait_until(lambda: len(llm.bodies) == 1, "W111's LLM turn to be thinking")
        # Another member: a slash command in the channel...
        assert slack.command("add Buy milk", user="W222", channel="C111")["statusCode"] == 200
        assert [m["text"] for m in slack.answers()] == ["Added #1: Buy milk"]
        # ...and a command in the very thread W111's turn is thinking in.
        assert slack.mention("/add Book the room", user="W222",
                             thread_ts=THREAD)["statusCode"] == 200
        assert _posts(slack.fake) == [("C111", THREAD, "Added #2: Book the room")]
        assert thinking.running
    finally:
        gate.set()
    thinking.join()
    assert _posts(slack.fake) == [("C111", THREAD, "Added #2: Book the room"),
                                  ("C111", THREAD, "Here is a plan.")]
    assert count(engine, "tasks", "title IN ('Buy milk', 'Book the room')") == 2
    assert len(llm.bodies) == 1


def _dm_team_and_channel() -> tuple[str, str]:
    """The DM fixture's workspace and IM channel: the same chat as ``slack.dm``'s turns."""
    payload = fixture_json("event_callback_message_im_docs.json")
    return str(payload["team_id"]), str(payload["event"]["channel"])


def test_the_same_members_next_delivery_waits_for_its_turn(
    slack: SlackHarness, llm: FakeOpenAI, engine: Engine
) -> None:
    """Within one member's conversation the order holds: a command typed while the model
    thinks about the previous message is answered after it (Slack shows that answer a moment
    later; it is never answered from a state the previous turn is about to change)."""
    gate = threading.Event()
    llm.script(gated(gate, says("Sure, noted.")))
    team, channel = _dm_team_and_channel()
    thinking = Background(slack.dm, "what is due this week?", user="W111")
    url = slack.fake.hook_url()
    try:
        wait_until(lambda: len(llm.bodies) == 1, "the LLM turn to be thinking")
        waiting = Background(slack.command, "add Buy milk", user="W111", channel=channel,
                             team=team, response_url=url)
        time.sleep(0.3)
        assert waiting.running and slack.fake.summary() == []
    finally:
        gate.set()
    thinking.join()
    assert waiting.join()["statusCode"] == 200
    assert slack.fake.summary() == ["chat.postMessage", "response_url"]
    assert [m["text"] for m in slack.answers(url)] == ["Added #1: Buy milk"]
    assert count(engine, "messages") == 4


def test_slacks_retry_of_a_thinking_turn_makes_no_second_turn(
    slack: SlackHarness, llm: FakeOpenAI, engine: Engine
) -> None:
    """The LLM turn takes longer than Slack's 3 s, so Slack retries the event (http_timeout)
    while it still thinks: the retry waits behind it and then finds the delivery claimed."""
    gate = threading.Event()
    llm.script(gated(gate, says("One moment… done.")))
    retry = fixture_json("retry_headers_example.json")
    thinking = Background(slack.dm, "sort my list", user="W111", event_id="EvSLOW0001")
    try:
        wait_until(lambda: len(llm.bodies) == 1, "the LLM turn to be thinking")
        retried = Background(slack.dm, "sort my list", user="W111", event_id="EvSLOW0001",
                             extra_headers=retry)
        time.sleep(0.2)
    finally:
        gate.set()
    assert thinking.join()["statusCode"] == 200
    assert retried.join()["statusCode"] == 200
    assert [text for _, _, text in _posts(slack.fake)] == ["One moment… done."]
    assert len(llm.bodies) == 1
    assert count(engine, "messages") == 2 and count(engine, "delivery_claims") == 1
