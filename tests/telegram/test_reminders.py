"""Reminders in Telegram: a task with a time reminds in the chat it was made in, once, with
Done / Snooze / Delete buttons that work and that only its owner can use; an outage's missed
reminders come once; a blocked bot stops trying. Through ``handler()`` and the scheduler's
sweep, on both databases, with a clock the test sets (never the machine's time)."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from handlers import composition
from handlers.sweep import SweepReport, sweep
from handlers.telegram import buttons
from tests.fakes.clock import SetClock
from tests.fakes.telegram_api import BLOCKED, DEFAULT_USERNAME
from tests.telegram.conftest import (
    GROUP_ID,
    USER_ID,
    TelegramBot,
    button_press,
    group_text,
    install_root,
    private_text,
)

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2027, 3, 4, 10, 0, tzinfo=BERLIN)  # a Thursday


@pytest.fixture
def clock(tg_any_db: TelegramBot) -> SetClock:
    fixed = SetClock(START)
    install_root(clock=fixed)
    return fixed


@pytest.fixture
def bot(tg_any_db: TelegramBot, clock: SetClock) -> TelegramBot:
    bot = tg_any_db
    bot.post(private_text("/timezone Berlin"))
    return bot


def at(clock: SetClock, hour: int, minute: int = 0, *, day: int = 4) -> None:
    clock.set(datetime(2027, 3, day, hour, minute, tzinfo=BERLIN))


def swept() -> SweepReport:
    return sweep(composition.root())


def reminders(bot: TelegramBot) -> list[dict[str, Any]]:
    return [m for m in bot.api.sent if str(m["text"]).startswith("⏰")]


def keyboard(message: dict[str, Any]) -> list[list[tuple[str, str]]]:
    markup = message.get("reply_markup") or {}
    return [[(b["text"], b["callback_data"]) for b in row]
            for row in markup.get("inline_keyboard", [])]


def last_text(bot: TelegramBot) -> str:
    return str(bot.api.sent[-1]["text"])


def edited_texts(bot: TelegramBot) -> list[str]:
    return [str(c.params.get("text")) for c in bot.api.succeeded("editMessageText")]


def press(bot: TelegramBot, message: dict[str, Any], label: str, *,
          user_id: int = USER_ID) -> None:
    (data,) = [d for row in keyboard(message) for text, d in row if text == label]
    chat_id = int(message["chat"]["id"])
    bot.post(button_press(data, message_id=int(message["message_id"]), user_id=user_id,
                          chat_id=chat_id))


def test_a_due_task_reminds_once_in_its_chat_with_buttons(bot: TelegramBot,
                                                          clock: SetClock) -> None:
    bot.post(private_text("remind me to call mom tomorrow at 5pm"))
    assert last_text(bot) == "Added #1: call mom — due tomorrow 17:00"

    at(clock, 16, 59, day=5)
    assert swept().reminded == 0
    at(clock, 17, 0, day=5)
    assert swept().reminded == 1
    at(clock, 17, 1, day=5)
    assert swept().reminded == 0

    (reminder,) = reminders(bot)
    assert reminder["chat"]["id"] == USER_ID
    assert reminder["text"] == "⏰ Reminder: #1 call mom — due today 17:00"
    assert [[label for label, _ in row] for row in keyboard(reminder)] == [
        ["Done", "Delete"], ["⏰ 20 min", "⏰ 1 hour", "⏰ 3 hours", "⏰ Tomorrow"]]
    for row in keyboard(reminder):
        for _, data in row:
            decoded = buttons.decode(data)
            assert decoded is not None and decoded.owner == USER_ID
            assert decoded.action.view == "reminder"


def test_snooze_brings_the_reminder_back_and_done_ends_it(bot: TelegramBot,
                                                          clock: SetClock) -> None:
    bot.post(private_text("call the bank today at 14:00"))
    at(clock, 14, 0)
    swept()
    (reminder,) = reminders(bot)

    press(bot, reminder, "⏰ 1 hour")
    assert edited_texts(bot)[-1] == "Snoozed #1 call the bank until 15:00"
    at(clock, 14, 59)
    assert swept().reminded == 0
    at(clock, 15, 0)
    assert swept().reminded == 1
    _first, again = reminders(bot)
    assert again["text"] == "⏰ Reminder: #1 call the bank — due today 14:00"

    press(bot, again, "Done")
    assert edited_texts(bot)[-1] == "✅ Done: #1 call the bank"
    at(clock, 18, 0, day=6)
    assert swept().reminded == 0
    assert bot.rows("tasks", "completed = :yes AND remind_at IS NULL", yes=True) == 1


def test_snooze_until_tomorrow_morning_uses_the_users_morning(bot: TelegramBot,
                                                               clock: SetClock) -> None:
    bot.post(private_text("renew passport today at 18:30"))
    at(clock, 18, 30)
    swept()
    press(bot, reminders(bot)[0], "⏰ Tomorrow")
    assert edited_texts(bot)[-1] == "Snoozed #1 renew passport until tomorrow 09:00"
    at(clock, 9, 0, day=5)
    assert swept().reminded == 1


def test_done_on_a_recurring_reminder_moves_it_to_the_next_occurrence(
        bot: TelegramBot, clock: SetClock) -> None:
    bot.post(private_text("water the plants every day at 9"))
    assert last_text(bot) == ("Added #1: water the plants — due tomorrow 09:00, every day "
                              "at 09:00")
    at(clock, 9, 0, day=5)
    assert swept().reminded == 1
    press(bot, reminders(bot)[0], "Done")
    assert edited_texts(bot)[-1] == "✅ Done: #1 water the plants — next: tomorrow 09:00"
    assert bot.rows("tasks", "completed = :no", no=False) == 1
    at(clock, 9, 0, day=6)
    assert swept().reminded == 1


def test_an_outage_sends_each_missed_reminder_once_and_a_recurring_one_once(
        bot: TelegramBot, clock: SetClock) -> None:
    for said in ("a at 12:00", "b at 12:20", "c at 12:40", "pills every day at 8am and 8pm"):
        bot.post(private_text(said))
    at(clock, 20, 0, day=7)  # down from Thursday noon to Sunday evening: no sweep ran

    assert swept().reminded == 4
    assert swept().reminded == 0
    texts = sorted(m["text"].split("\n")[0] for m in reminders(bot))
    assert texts == ["⏰ Reminder: #1 a — due Thu 4 Mar 12:00",
                     "⏰ Reminder: #2 b — due Thu 4 Mar 12:20",
                     "⏰ Reminder: #3 c — due Thu 4 Mar 12:40",
                     "⏰ Reminder: #4 pills — due today 20:00"]
    at(clock, 7, 59, day=8)
    assert swept().reminded == 0
    at(clock, 8, 0, day=8)
    assert swept().reminded == 1


def test_two_sweeps_at_once_send_each_reminder_once(bot: TelegramBot, clock: SetClock) -> None:
    for n in range(12):
        bot.post(private_text(f"task {n} today at 15:00"))
    at(clock, 15, 1)
    reports: list[SweepReport] = []
    gate = threading.Barrier(2)

    def run() -> None:
        gate.wait()
        reports.append(swept())

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sum(r.reminded for r in reports) == 12
    assert len(reminders(bot)) == 12
    assert len({m["text"] for m in reminders(bot)}) == 12


def test_a_bot_blocked_by_the_user_stops_reminding(bot: TelegramBot, clock: SetClock) -> None:
    bot.post(private_text("stretch every day at 11"))
    bot.post(private_text("/digest 07:00"))
    bot.api.fail_next("sendMessage", *BLOCKED)
    at(clock, 11, 0)

    assert swept().reminded == 1
    refused = bot.api.calls_to("sendMessage")[-1]
    assert bot.api.status_of(refused) == 403
    assert bot.rows("tasks", "remind_at IS NOT NULL") == 0
    assert bot.rows("users", "digest_next_at IS NOT NULL") == 0
    calls = len(bot.api.calls_to("sendMessage"))
    clock.advance(3 * 86400)
    assert swept().reminded == 0
    assert len(bot.api.calls_to("sendMessage")) == calls


def test_nobody_else_can_press_a_reminder_in_a_group(bot: TelegramBot, clock: SetClock) -> None:
    said = f"@{DEFAULT_USERNAME} standup notes today at 12:00"
    bot.post(group_text(said, user_id=USER_ID, entities=[
        {"offset": 0, "length": len(DEFAULT_USERNAME) + 1, "type": "mention"}]))
    at(clock, 12, 0)
    swept()
    (reminder,) = reminders(bot)
    assert reminder["chat"]["id"] == GROUP_ID

    press(bot, reminder, "Done", user_id=5519214459)
    press(bot, reminder, "⏰ 20 min", user_id=5519214459)

    assert bot.rows("tasks", "completed = :no AND remind_at IS NULL", no=False) == 1
    toasts = [c.params.get("text") for c in bot.api.calls_to("answerCallbackQuery")]
    assert toasts == ["That list belongs to someone else — send /list for yours."] * 2


def test_until_the_zone_is_known_confirmations_say_which_was_assumed(
        tg_any_db: TelegramBot, clock: SetClock) -> None:
    tg_any_db.post(private_text("dentist tomorrow at 9am"))
    answer = str(tg_any_db.api.sent[-1]["text"])
    assert answer.startswith("Added #1: dentist — due tomorrow 09:00")
    assert "Times are UTC until you tell me your zone" in answer
    tg_any_db.post(private_text("/timezone Europe/Berlin"))
    assert str(tg_any_db.api.sent[-1]["text"]).startswith(
        "Your timezone is now Europe/Berlin (it's 10:00 there)")



def shared_location(latitude: float, longitude: float) -> dict[str, Any]:
    """A private message that shares a location (what the location button sends)."""
    update = private_text("x")
    message = update["message"]
    del message["text"]
    message["location"] = {"latitude": latitude, "longitude": longitude}
    return update


def test_telegram_offers_a_location_button_and_a_shared_location_sets_the_zone(
        tg_any_db: TelegramBot, clock: SetClock) -> None:
    bot = tg_any_db
    bot.post(private_text("dentist tomorrow at 9am"))
    (asked,) = bot.api.calls_to("sendMessage")
    assert bot.api.status_of(asked) == 200 and bot.unsent() == 0  # sent once, not retried
    markup = asked["reply_markup"]
    assert markup["keyboard"] == [[{"text": "📍 Share my location (sets my timezone)",
                                    "request_location": True}]]
    assert markup["one_time_keyboard"] is True

    bot.post(shared_location(40.7128, -74.0060))
    assert last_text(bot) == "Your timezone is now America/New_York (it's 04:00 there)."
    bot.post(private_text("call mom tomorrow at 5pm"))
    assert last_text(bot) == "Added #2: call mom — due tomorrow 17:00"
    assert "reply_markup" not in bot.api.calls_to("sendMessage")[-1].params

    bot.post(shared_location(0.0, -30.0))  # the middle of the Atlantic
    assert last_text(bot).startswith("I couldn't find a timezone at that spot")


def test_a_busy_minute_takes_several_batches_but_stops_before_the_deadline(
        bot: TelegramBot, clock: SetClock) -> None:
    from handlers import scheduler
    from handlers.sweep import BATCH
    from tests.fakes.lambda_context import FakeLambdaContext

    bot.post(private_text("/add standup today at 11:30"))
    engine = composition.root().engine
    with engine.begin() as conn:  # 2.5 batches of reminders due in the same minute
        row = conn.execute(text("SELECT user_id, origin_platform, origin_target, due_date, "
                                "remind_at FROM tasks")).one()
        conn.execute(text(
            "INSERT INTO tasks (user_id, number, title, completed, created_at, updated_at, "
            "due_date, due_has_time, remind_at, priority, origin_platform, "
            "origin_workspace, origin_target) VALUES (:u, :n, :t, :no, :d, :d, :d, :yes, "
            ":r, 'medium', :p, '', :o)"),
            [{"u": row[0], "n": number, "t": f"standup {number}", "no": False, "yes": True,
              "d": row[3], "r": row[4], "p": row[1], "o": row[2]}
             for number in range(2, int(BATCH * 2.5) + 1)])
    at(clock, 11, 31)

    short = FakeLambdaContext(function_name="todobot-dev-scheduler", remaining_ms=15_000)
    assert scheduler.handler({"source": "aws.events"}, short)["reminded"] == BATCH
    roomy = FakeLambdaContext(function_name="todobot-dev-scheduler")
    assert scheduler.handler({"source": "aws.events"}, roomy)["reminded"] == int(BATCH * 1.5)
    assert len(reminders(bot)) == int(BATCH * 2.5)


def test_a_forged_reminder_button_acts_only_on_the_pressers_own_tasks(
        bot: TelegramBot, clock: SetClock) -> None:
    """Callback data is whatever a modified client sends: naming yourself as the owner of
    someone else's reminder reaches only your own task of that number (here: none)."""
    bot.post(private_text("pay rent today at 12:00"))
    at(clock, 12, 0)
    swept()
    (reminder,) = reminders(bot)
    intruder = 5519214459
    for kind, preset in (("done", None), ("snooze", "1h"), ("delete", None)):
        forged = buttons.encode(kind, 1, "reminder", intruder, preset)  # type: ignore[arg-type]
        bot.post(button_press(forged, message_id=int(reminder["message_id"]),
                              user_id=intruder, chat_id=intruder))

    assert bot.rows("tasks", "completed = :no", no=False) == 1
    assert [c.params.get("text") for c in bot.api.succeeded("editMessageText")] == [
        "I can't find task #1."] * 3
