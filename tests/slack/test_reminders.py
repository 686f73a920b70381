"""Reminders in Slack: the person's zone comes from users.info; a task made in a DM reminds in
that DM, one made by slash command in the user's DM with the app, with Done / Snooze / Delete
buttons that only its owner can use; a chat that is gone stops the reminders. Through
``handler()`` and the scheduler's sweep with a clock the test sets."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from handlers import composition
from handlers.slack.inbound import decode_action
from handlers.sweep import SweepReport, sweep
from tests.slack.harness import SlackHarness

BERLIN = ZoneInfo("Europe/Berlin")
DM_USER, DM_CHANNEL = "U2147483697", "D024BE91L"
START = datetime(2027, 3, 4, 10, 0, tzinfo=BERLIN)


class SetClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(slack: SlackHarness, install_root: Any) -> SetClock:
    fixed = SetClock(START)
    install_root(clock=fixed)
    slack.fake.zones[DM_USER] = "Europe/Berlin"
    slack.fake.zones["W111"] = "Europe/Berlin"
    return fixed


def at(clock: SetClock, hour: int, minute: int = 0, *, day: int = 4) -> None:
    clock.now = datetime(2027, 3, day, hour, minute, tzinfo=BERLIN)


def swept() -> SweepReport:
    return sweep(composition.root())


def posts(slack: SlackHarness) -> list[dict[str, Any]]:
    return [c.params for c in slack.fake.accepted("chat.postMessage")]


def reminders(slack: SlackHarness) -> list[dict[str, Any]]:
    return [p for p in posts(slack) if str(p.get("text", "")).startswith("⏰")]


def buttons_of(message: dict[str, Any]) -> list[str]:
    blocks = message.get("blocks")
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return [element["action_id"] for block in blocks or [] if block["type"] == "actions"
            for element in block["elements"]]


def zone_of(slack: SlackHarness, external: str) -> str | None:
    engine = composition.root().engine
    with engine.connect() as conn:
        return conn.execute(text(
            "SELECT u.timezone FROM users u JOIN chat_identities c ON c.user_id = u.id "
            "WHERE c.external_user_id = :e"), {"e": external}).scalar_one_or_none()


def test_the_zone_comes_from_users_info_and_the_reminder_lands_in_the_dm(
        slack: SlackHarness, clock: SetClock) -> None:
    slack.dm("remind me to call mom tomorrow at 5pm", user=DM_USER)

    assert posts(slack)[-1]["text"] == "Added #1: call mom — due tomorrow 17:00"
    assert zone_of(slack, DM_USER) == "Europe/Berlin"
    assert [c.params.get("user") for c in slack.fake.calls_to("users.info")] == [DM_USER]

    at(clock, 17, 0, day=5)
    assert swept().reminded == 1
    assert swept().reminded == 0
    (reminder,) = reminders(slack)
    assert reminder["channel"] == DM_CHANNEL
    assert reminder["text"] == "⏰ Reminder: #1 call mom — due today 17:00"
    assert buttons_of(reminder) == [
        "todo:done:1:reminder", "todo:snooze:1:reminder:20m", "todo:snooze:1:reminder:1h",
        "todo:snooze:1:reminder:3h", "todo:snooze:1:reminder:morning",
        "todo:delete:1:reminder"]
    for action_id in buttons_of(reminder):
        assert decode_action(action_id) is not None


def test_a_slash_command_task_reminds_in_the_apps_dm_and_snooze_works(
        slack: SlackHarness, clock: SetClock) -> None:
    slack.command("add pay invoices today at 15:30", user="W111")
    assert slack.answers()[-1]["text"] == "Added #1: pay invoices — due today 15:30"

    at(clock, 15, 30)
    assert swept().reminded == 1
    (reminder,) = reminders(slack)
    assert reminder["channel"] == "W111"  # chat.postMessage to a user id: the app's DM

    slack.press("todo:snooze:1:reminder:20m", user="W111")
    assert slack.answers()[-1]["text"] == "Snoozed #1 pay invoices until 15:50"
    at(clock, 15, 49)
    assert swept().reminded == 0
    at(clock, 15, 50)
    assert swept().reminded == 1

    slack.press("todo:done:1:reminder", user="W111")
    assert slack.answers()[-1]["text"] == "✅ Done: #1 pay invoices"
    at(clock, 9, 0, day=9)
    assert swept().reminded == 0


def test_someone_elses_reminder_button_does_nothing(slack: SlackHarness,
                                                    clock: SetClock) -> None:
    slack.command("add ship release today at 12:00", user="W111")
    slack.press("todo:snooze:1:reminder:3h", user="W222", owner="W111")
    slack.press("todo:done:1:reminder", user="W222", owner="W111")

    assert [a["text"] for a in slack.answers()] == [
        "That list belongs to someone else — `/todo list` shows yours."]
    engine = composition.root().engine
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tasks WHERE completed = :no AND "
                                 "remind_at IS NOT NULL"), {"no": False}).scalar_one() == 1


def test_a_chat_that_is_gone_stops_the_reminders(slack: SlackHarness, clock: SetClock) -> None:
    slack.dm("stand up and stretch every day at 11", user=DM_USER)
    slack.fake.fail("chat.postMessage", "channel_not_found")
    at(clock, 11, 0)

    assert swept().reminded == 1
    engine = composition.root().engine
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tasks WHERE remind_at IS NOT NULL")
                            ).scalar_one() == 0
    tries = len(slack.fake.calls_to("chat.postMessage"))
    at(clock, 11, 0, day=5)
    assert swept().reminded == 0
    assert len(slack.fake.calls_to("chat.postMessage")) == tries
