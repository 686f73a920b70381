"""Retention: the scheduler's sweep deletes messages older than ``MESSAGE_RETENTION_DAYS``
(default 90), oldest first in bounded batches, and the rate limit's counts of past minutes;
tasks (done or not, however old), users and conversations stay. Through Telegram's
``handler()`` and :func:`handlers.sweep.sweep`, on both databases, with a set clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bot_core.retention import prune_messages
from handlers import composition
from handlers import sweep as sweep_module
from handlers.sweep import SweepReport, sweep
from tests.fakes.clock import SetClock
from tests.telegram import conftest as telegram_kit
from tests.telegram.conftest import TelegramBot, install_root, private_text

# Telegram's fixtures (its conftest is not this directory's): the webhook on each database.
telegram_api = telegram_kit.telegram_api
tg_any_db = telegram_kit.tg_any_db

START = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(tg_any_db: TelegramBot, monkeypatch: pytest.MonkeyPatch) -> SetClock:
    monkeypatch.setenv("MESSAGES_PER_MINUTE_PER_USER", "30")
    fixed = SetClock(START)
    install_root(clock=fixed)
    return fixed


def swept() -> SweepReport:
    return sweep(composition.root())


def said(bot: TelegramBot) -> list[str]:
    return bot.user_messages()


def test_sweep_prunes_old_messages_keeps_new_ones_and_every_task(
        tg_any_db: TelegramBot, clock: SetClock) -> None:
    bot = tg_any_db
    bot.post(private_text("/add file taxes"))          # day 0
    bot.post(private_text("/done 1"))                   # a finished task, 90+ days old later
    clock.advance(days=20)
    bot.post(private_text("/add renew passport"))      # day 20
    clock.advance(days=50)
    bot.post(private_text("/add book dentist"))        # day 70
    assert bot.rows("messages") == 8 and bot.rows("rate_counts") == 3

    clock.set(START + timedelta(days=90, minutes=1))    # day 0's turns are past 90 days
    report = swept()

    assert report.pruned_messages == 4
    assert report.pruned_rate_windows == 3  # every minute counted is long past
    assert said(bot) == ["/add renew passport", "/add book dentist"]
    assert bot.rows("tasks") == 3 and bot.rows("tasks", "completed") == 1
    assert bot.rows("rate_counts") == 0
    assert bot.rows("conversations") == 1 and bot.rows("users") == 1

    clock.set(START + timedelta(days=200))
    assert swept().pruned_messages == 4
    assert bot.rows("messages") == 0
    assert bot.rows("tasks") == 3  # never pruned
    # The bot still works for that person, with their tasks.
    bot.post(private_text("/list"))
    assert "renew passport" in bot.api.sent_texts()[-1]
    assert bot.rows("messages") == 2


def test_retention_days_come_from_the_setting(
        tg_any_db: TelegramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESSAGE_RETENTION_DAYS", "7")
    clock = SetClock(START)
    install_root(clock=clock)
    bot = tg_any_db
    bot.post(private_text("/add a week old"))
    clock.advance(days=6)
    bot.post(private_text("/add six days later"))
    clock.advance(days=1, seconds=1)

    assert swept().pruned_messages == 2
    assert said(bot) == ["/add six days later"]
    assert bot.rows("tasks") == 2


def _fill(bot: TelegramBot, old: int, at: datetime) -> None:
    """``old`` more user messages in the bot's one conversation, a second apart from ``at``."""
    with bot.engine.begin() as conn:
        conversation, user = conn.execute(
            text("SELECT id, user_id FROM conversations")).one()
        conn.execute(text(
            "INSERT INTO messages (conversation_id, user_id, role, content, created_at) "
            "VALUES (:c, :u, 'user', :content, :at)"),
            [{"c": conversation, "u": user, "content": f"old {n}",
              "at": at + timedelta(seconds=n)} for n in range(old)])


def test_a_sweep_prunes_a_bounded_number_oldest_first(
        tg_any_db: TelegramBot, clock: SetClock, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = tg_any_db
    bot.post(private_text("/add keep me"))
    _fill(bot, 10, START - timedelta(days=400))
    monkeypatch.setattr(sweep_module, "PRUNE_BATCH", 3)
    monkeypatch.setattr(sweep_module, "MAX_PRUNE_BATCHES", 2)
    clock.advance(days=30)

    assert swept().pruned_messages == 6  # two batches of three, the rest next time
    assert said(bot)[:4] == ["old 6", "old 7", "old 8", "old 9"]
    assert swept().pruned_messages == 4  # a batch of three, then one: done
    assert said(bot) == ["/add keep me"]
    assert swept().pruned_messages == 0
    assert bot.rows("tasks") == 1


def test_prune_messages_in_a_session_and_batches(tg_any_db: TelegramBot,
                                                 clock: SetClock) -> None:
    from sqlmodel import Session

    bot = tg_any_db
    bot.post(private_text("/add anchor"))
    _fill(bot, 7, START - timedelta(days=100))
    now = START + timedelta(hours=1)

    with Session(bot.engine) as session:
        assert prune_messages(session, now, 90, batch=5) == 5  # one batch by default
        session.rollback()
    assert bot.rows("messages") == 9  # the caller's transaction: rolled back, nothing gone
    assert prune_messages(bot.engine, now, 90, batch=5, batches=5) == 7
    assert said(bot) == ["/add anchor"]
    assert prune_messages(bot.engine, now, 0) == 0  # 0 days: nothing (not everything)
