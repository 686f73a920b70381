"""The terminal as a platform: ``todobot chat`` gives its tasks the terminal as their origin,
sweeps in the background while the prompt waits and prints each reminder once, above the
prompt, with its buttons as phrases to type; ``todobot scheduler run`` prints them too.

The root's clock is fixed and moved by the tests (never the machine's time); the chat runs on
its own thread, reading lines the test hands it one at a time.
"""

from __future__ import annotations

import io
import json
import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot_core.inbound import Inbound
from bot_core.outbox import OutboxItem, Refused, RetryLater, Sent
from bot_core.reply import Reply, reminder_actions
from bot_core.settings import Settings
from handlers import composition
from handlers.cli import main
from handlers.composition import Root
from handlers.sweep import SweepReport
from handlers.terminal.console import Console
from handlers.terminal.sender import (
    PLATFORM,
    TerminalSender,
    chat_target,
    hint,
    registered,
    render,
)
from handlers.terminal.sweeper import BackgroundSweep
from tests.fakes.clock import SetClock

REMINDER = "⏰ Reminder: #1 stretch"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.005)


class ScriptedStdin(io.TextIOBase):
    """``sys.stdin`` for ``input()``: each line waits until the test hands it over."""

    def __init__(self) -> None:
        self._lines: queue.Queue[str] = queue.Queue()
        self.reads = 0

    def type(self, line: str) -> None:
        self._lines.put(line + "\n")

    def close_input(self) -> None:
        """Ctrl-D."""
        self._lines.put("")

    def readline(self, size: int | None = -1) -> str:
        line = self._lines.get(timeout=60)
        self.reads += 1
        return line


@dataclass
class Chat:
    """``todobot chat --user tester`` running on its own thread against the installed root."""

    root: Root
    clock: SetClock
    stdin: ScriptedStdin
    out: io.StringIO
    sweeps: list[SweepReport]
    thread: threading.Thread
    result: list[int]

    @property
    def transcript(self) -> str:
        return self.out.getvalue()

    def say(self, line: str, expect: str) -> None:
        """Type a line and wait for the bot's answer (containing ``expect``) and the prompt."""
        before = len(self.transcript)
        self.stdin.type(line)
        wait_until(lambda: expect in self.transcript[before:]
                   and self.transcript.endswith("you> "), f"the answer to {line!r}")

    def sweeps_after(self, count: int) -> None:
        """Wait until ``count`` more background sweeps have finished."""
        target = len(self.sweeps) + count
        wait_until(lambda: len(self.sweeps) >= target, f"{count} more sweeps")

    def quit(self) -> int:
        self.stdin.close_input()
        self.thread.join(30)
        assert not self.thread.is_alive(), "the chat did not end on Ctrl-D"
        return self.result[0]


@pytest.fixture
def clock() -> SetClock:
    return SetClock(START)


@pytest.fixture
def root(db_url: str, engine: Engine, clock: SetClock) -> Iterator[Root]:
    installed = Root(Settings(database_url=db_url), engine=engine, clock=clock)
    composition.install(installed)
    try:
        yield installed
    finally:
        composition.reset()


@pytest.fixture
def chat(root: Root, clock: SetClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Chat]:
    import handlers.sweep
    import handlers.terminal.sweeper

    sweeps: list[SweepReport] = []
    real_sweep = handlers.sweep.sweep

    def counted(swept: Root) -> SweepReport:
        report = real_sweep(swept)
        sweeps.append(report)
        return report

    monkeypatch.setattr(handlers.sweep, "sweep", counted)
    monkeypatch.setattr(handlers.terminal.sweeper, "EVERY_SECONDS", 0.02)
    stdin, out = ScriptedStdin(), io.StringIO()
    monkeypatch.setattr(sys, "stdin", stdin)
    monkeypatch.setattr(sys, "stdout", out)
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(main(["chat", "--user", "tester"])),
                              daemon=True)
    thread.start()
    running = Chat(root, clock, stdin, out, sweeps, thread, result)
    wait_until(lambda: running.transcript.endswith("you> "), "the first prompt")
    yield running
    if thread.is_alive():
        running.quit()


def _sweeper_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "todobot-sweep" and t.is_alive()]


# -- todobot chat ----------------------------------------------------------------------------


def test_the_chat_prints_a_reminder_once_when_it_falls_due(chat: Chat, engine: Engine) -> None:
    chat.say("remind me to stretch in 2 hours", "Added #1: stretch")
    with engine.connect() as conn:
        origin = conn.execute(text("SELECT origin_platform, origin_target, remind_at "
                                   "FROM tasks")).one()
    assert origin[0] == PLATFORM
    assert json.loads(origin[1]) == {"terminal": "tester"}
    assert origin[2] is not None

    chat.sweeps_after(3)
    assert REMINDER not in chat.transcript  # not due yet

    chat.clock.advance(hours=2)
    wait_until(lambda: REMINDER in chat.transcript, "the reminder to be printed")
    chat.sweeps_after(5)  # later sweeps must not print it again
    assert chat.transcript.count(REMINDER) == 1
    assert chat.transcript.endswith("you> ")  # the prompt is back under it

    # Printed on its own line above the waiting prompt, its buttons as phrases to type.
    block = chat.transcript[chat.transcript.index(REMINDER) - len("\nbot> "):]
    assert block.startswith(f"\nbot> {REMINDER} — due today 11:00\n     [done 1] "
                            "[snooze 1 for 20 minutes] [snooze 1 for an hour]")
    assert "[delete 1]\nyou> " in block
    assert sum(r.reminded for r in chat.sweeps) == 1

    chat.say("done 1", "Done: #1 stretch")
    assert chat.quit() == 0
    assert _sweeper_threads() == []
    assert chat.root.senders.get(PLATFORM) is None  # the terminal's sender left with it


def test_the_chat_keeps_its_transcript_and_answers_while_sweeping(chat: Chat) -> None:
    chat.say("add buy milk", "Added #1: buy milk")
    chat.say("/list", "Your open tasks:\n     ☐ #1 buy milk")
    chat.say("done 1", "Done: #1 buy milk")
    chat.say("what's pending?", "Nothing open")
    assert chat.quit() == 0
    assert chat.transcript.startswith(
        "Todobot (offline rules). Type /help for commands, Ctrl-D to quit.\n"
        "you> bot> Added #1: buy milk\nyou> bot> Your open tasks:\n     ☐ #1 buy milk\n"
        "you> bot> Done: #1 buy milk\nyou> bot> Nothing open")
    assert chat.transcript.endswith("you> \n")
    assert "Reminder" not in chat.transcript


def test_a_snoozed_reminder_comes_back_once_per_due_time(chat: Chat) -> None:
    chat.say("remind me to stretch in 2 hours", "Added #1: stretch")
    chat.clock.advance(hours=2, seconds=1)
    wait_until(lambda: chat.transcript.count(REMINDER) == 1, "the first reminder")
    chat.say("snooze 1 for an hour", "Updated #1: stretch")
    chat.sweeps_after(3)
    assert chat.transcript.count(REMINDER) == 1

    chat.clock.advance(hours=1)
    wait_until(lambda: chat.transcript.count(REMINDER) == 2, "the snoozed reminder")
    chat.sweeps_after(3)
    assert chat.transcript.count(REMINDER) == 2
    chat.say("delete 1", "Deleted #1: stretch")
    assert chat.quit() == 0


def test_reminders_of_another_terminal_wait_for_it(chat: Chat, root: Root) -> None:
    other = Inbound(platform=PLATFORM, chat_id="terminal", external_user_id="bob",
                    display_name="bob", text="remind me to water the plants in 1 hour")
    reply = root.service.handle(other, chat_target=chat_target("bob")).reply
    assert reply is not None and reply.text.startswith("Added #1: water the plants")
    chat.clock.advance(hours=1)
    chat.sweeps_after(3)
    assert "water the plants" not in chat.transcript
    assert chat.quit() == 0


# -- the hints are what the brain understands -----------------------------------------------


def test_every_reminder_hint_works_when_typed(root: Root, clock: SetClock) -> None:
    def say(line: str) -> str:
        turn = Inbound(platform=PLATFORM, chat_id="terminal", external_user_id="tester",
                       display_name="tester", text=line)
        reply = root.service.handle(turn, chat_target=chat_target("tester")).reply
        assert reply is not None
        return reply.text

    assert say("remind me to stretch in 2 hours").startswith("Added #1: stretch")
    hints = [hint(action) for action in reminder_actions(1)]
    assert hints == ["done 1", "snooze 1 for 20 minutes", "snooze 1 for an hour",
                     "snooze 1 for 3 hours", "snooze 1 until tomorrow", "delete 1"]
    expected = {"done 1": "Done: #1", "delete 1": "Deleted #1"}
    for typed, moved_to in zip(hints[1:5], ("09:20", "10:00", "12:00", "tomorrow 09:00"),
                               strict=True):
        answer = say(typed)
        assert answer.startswith("Updated #1") and f"reminder {moved_to}" in answer, answer
    assert say("done 1").startswith(expected["done 1"])
    assert say("reopen 1").startswith("Reopened #1")
    assert say("delete 1").startswith(expected["delete 1"])


def test_render_wraps_the_hints_under_the_text() -> None:
    reply = Reply(text="⏰ Reminder: #12 a long title", actions=reminder_actions(12))
    lines = render(reply).split("\n")
    assert lines[0] == "⏰ Reminder: #12 a long title"
    assert all(len(line) <= 71 for line in lines[1:])
    assert " ".join(lines[1:]) == ("[done 12] [snooze 12 for 20 minutes] [snooze 12 for an "
                                   "hour] [snooze 12 for 3 hours] [snooze 12 until tomorrow] "
                                   "[delete 12]")
    assert render(Reply(text="plain")) == "plain"


# -- the sender and the console --------------------------------------------------------------


def _item(target: str, words: str = "⏰ Reminder: #1 x") -> OutboxItem:
    return OutboxItem(id=1, platform=PLATFORM, workspace="", delivery_key="remind:1:x",
                      target=target, reply=Reply(text=words), attempts=1,
                      created_at=START)


def test_the_sender_prints_only_its_users_terminal_rows() -> None:
    out = io.StringIO()
    mine = TerminalSender(out, user="alice")
    assert isinstance(mine.send(_item(chat_target("bob"))), RetryLater)
    assert out.getvalue() == ""
    assert isinstance(mine.send(_item('{"chat_id": 5}')), Refused)
    assert isinstance(mine.send(_item("not json")), Refused)
    assert isinstance(mine.send(_item(chat_target("alice"))), Sent)
    assert out.getvalue() == "bot> ⏰ Reminder: #1 x\n"
    anyone = TerminalSender(out)
    assert isinstance(anyone.send(_item(chat_target("bob"), "hi bob")), Sent)
    assert out.getvalue().endswith("bot> hi bob\n")
    with anyone.thinking({}):
        pass


def test_the_console_prints_above_a_waiting_prompt() -> None:
    out = io.StringIO()
    typed = threading.Event()
    release = threading.Event()

    def read() -> str:
        typed.set()
        release.wait(10)
        return "add tea"

    console = Console(out, read)
    asking = threading.Thread(target=lambda: console.ask("you> "))
    asking.start()
    typed.wait(10)
    console.say("⏰ Reminder: #1 x\n[done 1]")
    release.set()
    asking.join(10)
    console.say("Added #2: tea")
    assert out.getvalue() == ("you> \nbot> ⏰ Reminder: #1 x\n     [done 1]\nyou> "
                              "bot> Added #2: tea\n")


def test_registering_restores_the_previous_sender(root: Root) -> None:
    first, second = TerminalSender(io.StringIO()), TerminalSender(io.StringIO())
    with registered(root, first):
        with registered(root, second):
            assert root.deliverer.sender(PLATFORM) is second
        assert root.deliverer.sender(PLATFORM) is first
    assert root.deliverer.sender(PLATFORM) is None


# -- the background sweep --------------------------------------------------------------------


def test_the_background_sweep_stops_cleanly_and_outlives_failures(
        caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []

    def flaky(_root: Any) -> None:
        calls.append(time.monotonic())
        if len(calls) <= 3:
            raise RuntimeError("database away")

    with caplog.at_level(logging.WARNING, logger="handlers.terminal.sweeper"):
        with BackgroundSweep(Any, every=0.01, sweep=flaky) as sweeper:  # type: ignore[arg-type]
            assert sweeper.wait_for(6, timeout=10)
        stopped_at = len(calls)
        time.sleep(0.05)
    assert len(calls) == stopped_at  # no sweep after stop
    assert _sweeper_threads() == []
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 1  # logged once per run of failures
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_the_background_sweep_runs_at_once_then_at_its_tick() -> None:
    calls: list[float] = []
    started = time.monotonic()
    with BackgroundSweep(Any, every=0.2, sweep=lambda _r: calls.append(time.monotonic())  # type: ignore[arg-type]
                         ) as sweeper:
        assert sweeper.wait_for(3, timeout=10)
    offsets = [at - started for at in calls]
    assert offsets[0] < 0.15, offsets  # the first sweep at once
    # A fixed rate: sweep i never before i ticks (and not drifting later by the sweeps' time).
    assert all(offset >= i * 0.2 for i, offset in enumerate(offsets)), offsets
    assert offsets[2] < 0.4 + 1.0, offsets
    with pytest.raises(ValueError):
        BackgroundSweep(Any, every=0)  # type: ignore[arg-type]


# -- todobot scheduler run -------------------------------------------------------------------


def test_scheduler_run_prints_the_terminals_reminders_and_the_counts(
        root: Root, clock: SetClock, capsys: pytest.CaptureFixture[str]) -> None:
    turn = Inbound(platform=PLATFORM, chat_id="terminal", external_user_id="tester",
                   display_name="tester", text="remind me to stretch in 2 hours")
    root.service.handle(turn, chat_target=chat_target("tester"))
    capsys.readouterr()
    assert main(["scheduler", "run"]) == 0
    assert capsys.readouterr().out.startswith(
        "Sweep done: 0 replies retried (0 still unsent), 0 reminders and 0 digests due, ")

    clock.advance(hours=2)
    assert main(["scheduler", "run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"bot> {REMINDER} — due today 11:00\n     [done 1] ")
    assert ("Sweep done: 0 replies retried (0 still unsent), 1 reminders and 0 digests due, "
            "0 stale dropped") in out
    assert out.count(REMINDER) == 1
    assert root.senders.get(PLATFORM) is None

    assert main(["scheduler", "run"]) == 0
    assert REMINDER not in capsys.readouterr().out
