"""The morning digest in Telegram: ``/digest 08:00`` sends, at 08:00 in the user's zone, one
message with what is due that day and what is overdue; nothing on a day with nothing due;
once however many sweeps run; never after ``/digest off``; at 08:00 in the new zone after
``/timezone``; once after an outage. Through ``handler()`` and the scheduler's sweep, on both
databases, with a clock the test sets (never the machine's time)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from handlers import composition
from handlers.sweep import SweepReport, sweep
from tests.fakes.clock import SetClock
from tests.telegram.conftest import (
    USER_ID,
    TelegramBot,
    install_root,
    private_text,
    run_concurrently,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
START = datetime(2027, 3, 2, 12, 0, tzinfo=BERLIN)  # a Tuesday
OTHER_USER = 5519214459


@pytest.fixture
def clock(tg_any_db: TelegramBot) -> SetClock:
    fixed = SetClock(START)
    install_root(clock=fixed)
    return fixed


@pytest.fixture
def bot(tg_any_db: TelegramBot, clock: SetClock) -> TelegramBot:
    tg_any_db.post(private_text("/timezone Berlin"))
    return tg_any_db


def at(clock: SetClock, day: int, hour: int, minute: int = 0, zone: ZoneInfo = BERLIN) -> None:
    clock.set(datetime(2027, 3, day, hour, minute, tzinfo=zone))


def swept() -> SweepReport:
    return sweep(composition.root())


def say(bot: TelegramBot, text: str, *, user_id: int = USER_ID) -> str:
    bot.post(private_text(text, user_id=user_id))
    return str(bot.api.sent[-1]["text"])


def digests(bot: TelegramBot, *, chat: int = USER_ID) -> list[dict[str, Any]]:
    return [m for m in bot.api.sent
            if str(m["text"]).startswith("☀️") and m["chat"]["id"] == chat]


def test_the_digest_comes_at_8_with_what_is_due_today_and_overdue(bot: TelegramBot,
                                                                  clock: SetClock) -> None:
    say(bot, "/add file report tomorrow")       # due Wednesday: overdue by Thursday
    say(bot, "/add someday thing")               # no date: not in a digest
    at(clock, 4, 7, 0)
    assert say(bot, "/digest 08:00") == ("Every day at 08:00 I'll send what is due that day "
                                         "(only when there is something).")
    say(bot, "/add pay rent today")
    say(bot, "/add dentist today at 17:00")
    say(bot, "/add book club on friday")         # later: not in today's digest
    say(bot, "/add paid already today")
    say(bot, "/done 6")

    at(clock, 4, 7, 59)
    assert swept().digests == 0
    assert digests(bot) == []
    at(clock, 4, 8, 0)
    assert swept().digests == 1
    (digest,) = digests(bot)
    assert digest["text"] == ("☀️ Good morning! 3 tasks are due today:\n"
                              "☐ #1 file report · overdue 1 d\n"
                              "☐ #3 pay rent · today\n"
                              "☐ #4 dentist · today 17:00")
    at(clock, 4, 8, 1)
    assert swept().digests == 0
    at(clock, 5, 8, 0)  # Friday: the overdue ones and the book club
    assert swept().digests == 1
    assert digests(bot)[-1]["text"].startswith("☀️ Good morning! 4 tasks are due today:")
    assert "#5 book club · today" in digests(bot)[-1]["text"]


def test_a_day_with_nothing_due_sends_nothing(bot: TelegramBot, clock: SetClock) -> None:
    say(bot, "/digest 8")
    say(bot, "/add someday thing")
    say(bot, "/add next month thing on april 20")
    at(clock, 3, 8, 0)
    assert swept().digests == 0
    at(clock, 4, 8, 0)
    assert swept().digests == 0
    assert digests(bot) == []
    # Still on: the next one is tomorrow at 08:00.
    assert bot.rows("users", "digest_time = '08:00' AND digest_next_at IS NOT NULL") == 1


def test_overdue_alone_is_worth_a_digest(bot: TelegramBot, clock: SetClock) -> None:
    say(bot, "/digest 08:00")
    say(bot, "/add call mom today at 18:00")
    at(clock, 3, 8, 0)
    assert swept().digests == 1
    assert digests(bot)[-1]["text"] == ("☀️ Good morning! 1 task is due today:\n"
                                        "☐ #1 call mom · overdue 14 h")


def test_two_sweeps_at_once_send_one_digest(bot: TelegramBot, clock: SetClock) -> None:
    say(bot, "/digest 08:00")
    say(bot, "/add pay rent on thursday")
    at(clock, 4, 8, 0)
    reports = run_concurrently([swept, swept])
    assert sum(r.digests for r in reports) == 1
    assert len(digests(bot)) == 1
    assert swept().digests == 0


def test_digest_off_stops_it(bot: TelegramBot, clock: SetClock) -> None:
    say(bot, "/digest 08:00")
    say(bot, "/add pay rent on thursday")
    say(bot, "/add water plants on friday")
    at(clock, 4, 8, 0)
    assert swept().digests == 1
    at(clock, 4, 12, 0)
    assert say(bot, "/digest off") == "Morning digest off."
    assert bot.rows("users", "digest_next_at IS NOT NULL") == 0
    at(clock, 5, 8, 0)
    assert swept().digests == 0
    at(clock, 9, 8, 0)
    assert swept().digests == 0
    assert len(digests(bot)) == 1
    assert say(bot, "/digest").startswith("The morning digest is off.")


def test_a_new_timezone_moves_the_digest_to_8_there(bot: TelegramBot, clock: SetClock) -> None:
    say(bot, "/digest 08:00")
    say(bot, "/add pay rent on friday")
    at(clock, 4, 12, 0)
    assert say(bot, "/timezone America/New_York").startswith(
        "Your timezone is now America/New_York (it's 06:00 there)")
    at(clock, 4, 8, 0, NEW_YORK)
    assert swept().digests == 0  # nothing due on Thursday
    at(clock, 5, 8, 0)  # 08:00 in Berlin, 02:00 in New York
    assert swept().digests == 0
    at(clock, 5, 7, 59, NEW_YORK)
    assert swept().digests == 0
    at(clock, 5, 8, 0, NEW_YORK)
    assert swept().digests == 1
    assert digests(bot)[-1]["text"].startswith("☀️ Good morning! 1 task is due today:")
    at(clock, 6, 8, 0, NEW_YORK)
    assert swept().digests == 1  # Saturday: rent is overdue now


def test_after_a_three_day_outage_one_digest_not_three(bot: TelegramBot,
                                                       clock: SetClock) -> None:
    say(bot, "/digest 08:00")
    say(bot, "/add pay rent on wednesday")
    at(clock, 6, 12, 0)  # no sweep ran on Wednesday, Thursday, Friday or this morning
    assert swept().digests == 1
    assert swept().digests == 0
    (late,) = digests(bot)
    assert late["text"] == ("☀️ Good morning! 1 task is due today:\n"
                            "☐ #1 pay rent · overdue 3 d")
    at(clock, 7, 7, 59)
    assert swept().digests == 0
    at(clock, 7, 8, 0)
    assert swept().digests == 1  # and back on time the next morning
    assert len(digests(bot)) == 2


def test_each_user_gets_their_own_digest_in_their_own_chat(bot: TelegramBot,
                                                           clock: SetClock) -> None:
    at(clock, 4, 7, 0)
    say(bot, "/digest 08:00")
    say(bot, "/add mine on thursday")
    say(bot, "/timezone Berlin", user_id=OTHER_USER)
    say(bot, "/digest 09:30", user_id=OTHER_USER)
    say(bot, "/add theirs on thursday", user_id=OTHER_USER)
    at(clock, 4, 8, 0)
    assert swept().digests == 1
    at(clock, 4, 9, 30)
    assert swept().digests == 1
    (mine,) = digests(bot)
    (theirs,) = digests(bot, chat=OTHER_USER)
    assert "#1 mine" in mine["text"] and "theirs" not in mine["text"]
    assert "#1 theirs" in theirs["text"] and "mine" not in theirs["text"]
