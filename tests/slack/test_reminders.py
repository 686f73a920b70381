"""Reminders in Slack: the person's zone comes from users.info; a task made in a DM reminds in
that DM, one made by slash command in the user's DM with the app, with Done / Snooze / Delete
buttons that only its owner can use; a chat that is gone stops the reminders. Through
``handler()`` and the scheduler's sweep with a clock the test sets."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from handlers import composition
from handlers.slack.inbound import decode_action
from handlers.sweep import SweepReport, sweep
from tests.fakes.clock import SetClock
from tests.slack.harness import SlackHarness

BERLIN = ZoneInfo("Europe/Berlin")
DM_USER, DM_CHANNEL = "U2147483697", "D024BE91L"
START = datetime(2027, 3, 4, 10, 0, tzinfo=BERLIN)


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


def _home_opened(user: str) -> dict[str, Any]:
    from tests.slack.harness import fixture_json

    payload = fixture_json("event_callback_app_mention_bolt.json")
    payload["event"] = {"type": "app_home_opened", "user": user, "channel": "D0HOME",
                        "tab": "home", "event_ts": "1595926230.009600"}
    payload["event_id"] = f"EvHOME{user}{datetime.now().timestamp()}"
    return payload


def test_app_home_shows_overdue_today_upcoming_and_someday_with_done_and_snooze(
        slack: SlackHarness, clock: SetClock) -> None:
    for said in ("add water plants today at 11:00", "add call mom today at 18:00",
                 "add dentist friday 3pm", "add read a book", "add file taxes today at 09:00"):
        slack.command(said, user="W111")
    slack.send_json(_home_opened("W111"))

    publish = slack.fake.calls_to("views.publish")[-1]
    blocks = publish.params["view"]["blocks"]
    headers = [b["text"]["text"] for b in blocks if b["type"] == "header"]
    assert headers == ["Your to-do list", "Overdue", "Today", "Upcoming", "Someday"]
    order = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    assert [re.split(r" [_*]", line.split("* ", 1)[1])[0] for line in order] == [
        "file taxes", "water plants", "call mom", "dentist", "read a book"]
    assert "_· today 11:00_" in order[1] and "*· overdue 1 h*" in order[0]
    assert buttons_of({"blocks": blocks}) == [
        "todo:done:5:open", "todo:snooze:5:open:morning", "todo:done:1:open",
        "todo:snooze:1:open:morning", "todo:done:2:open", "todo:snooze:2:open:morning",
        "todo:done:3:open", "todo:snooze:3:open:morning", "todo:done:4:open",
        "todo:delete:4:open"]


def test_slack_people_keeps_the_zone_current_and_survives_failures(slack: SlackHarness) -> None:
    from slack_sdk import WebClient

    from handlers.slack.people import KEEP_SECONDS, SlackPeople
    from tests.conftest import inbound
    from tests.slack.harness import BOT_TOKEN

    ticks = [0.0]
    client = WebClient(token=BOT_TOKEN, base_url=slack.fake.base_url)
    people = SlackPeople(lambda _workspace, _team, _org: client, monotonic=lambda: ticks[0])
    slack.fake.zones["W9"] = "Asia/Tokyo"
    said = inbound("hi", user="W9", platform="slack")

    assert people.with_timezone(said, {}).timezone == "Asia/Tokyo"
    slack.fake.zones["W9"] = "America/Chicago"  # travelled
    assert people.with_timezone(said, {}).timezone == "Asia/Tokyo"  # asked once an hour
    ticks[0] += KEEP_SECONDS + 1
    assert people.with_timezone(said, {}).timezone == "America/Chicago"
    assert len(slack.fake.calls_to("users.info")) == 2
    slack.fake.fail("users.info", "user_not_found")
    ticks[0] += KEEP_SECONDS + 1
    assert people.with_timezone(said, {}).timezone is None  # the stored zone stays
