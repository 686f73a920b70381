"""Replies the Bot API would not take at first: 429 with retry_after, 5xx, timeouts, refusals,
a reply in several parts or a button press failing half-way, a worker dying between the commit
and the send. Through ``handler()`` as the platform calls it, then the scheduler's sweep with
the root's clock moved forward instead of waiting.

What every test counts is what took effect at the fake Bot API (:attr:`FakeTelegram.sent`, the
messages that were created; :meth:`FakeTelegram.succeeded`): each reply arrives exactly once,
except in the two crash windows named in their tests (a request that timed out after Telegram
had acted on it, a worker dying after the send and before recording it), where the outbox
delivers at least once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import telegram.request

from bot_core.outbox import LEASE, Outbox
from handlers import composition
from handlers.delivery import Deliverer
from handlers.sweep import SweepReport, sweep
from tests.fakes.telegram_api import BLOCKED, CHAT_NOT_FOUND
from tests.telegram.conftest import (
    MovableClock,
    TelegramBot,
    button_press,
    install_root,
    private_text,
)

MILK = "Added #1: Buy milk"


@pytest.fixture
def clock(tg_any_db: TelegramBot) -> MovableClock:
    """The process's root with a clock the test moves (on each database)."""
    moved = MovableClock()
    install_root(clock=moved)
    return moved


@pytest.fixture
def bot(tg_any_db: TelegramBot, clock: MovableClock) -> TelegramBot:
    return tg_any_db


def delivered(bot: TelegramBot, text: str) -> int:
    """How many times ``text`` reached the chat (messages the Bot API created)."""
    return [message["text"] for message in bot.api.sent].count(text)


def swept() -> SweepReport:
    return sweep(composition.root())


def seconds_until_retry(bot: TelegramBot, clock: MovableClock) -> float:
    (row,) = bot.outbox()
    return (row.next_attempt_at - clock()).total_seconds()


# -- 429 and 5xx ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "html"), [(502, True), (500, False)],
                         ids=["502-html", "500-json"])
def test_429_then_5xx_then_ok_is_delivered_once_honouring_retry_after(
        bot: TelegramBot, clock: MovableClock, status: int, html: bool) -> None:
    bot.api.fail_next("sendMessage", 429, retry_after=1)
    bot.api.fail_next("sendMessage", status, html=html)
    update = private_text("/add Buy milk")

    assert bot.post(update)["statusCode"] == 200

    first, second = bot.api.calls_to("sendMessage")
    assert (bot.api.status_of(first), bot.api.status_of(second)) == (429, status)
    assert second.at - first.at >= 0.9  # retried inline, not before retry_after (1 s)
    (row,) = bot.outbox()
    assert (row.sent_at, row.failed_at, row.attempts) == (None, None, 2)
    assert row.failure is not None and row.failure.startswith("NetworkError")
    assert 5 < seconds_until_retry(bot, clock) <= 10  # a backoff: 5xx give no hint
    assert delivered(bot, MILK) == 0

    assert swept().retried == 0  # not due yet
    assert len(bot.api.calls_to("sendMessage")) == 2
    clock.advance(11)
    report = swept()

    assert (report.retried, report.still_unsent) == (1, 0)
    assert delivered(bot, MILK) == 1
    (row,) = bot.outbox()
    assert row.sent_at is not None and row.attempts == 3 and row.failure is None
    clock.advance(3600)
    assert swept().retried == 0
    assert bot.post(update)["statusCode"] == 200  # Telegram delivering it again: no effect
    assert len(bot.api.calls_to("sendMessage")) == 3
    assert delivered(bot, MILK) == 1


def test_a_free_text_reply_retried_inline_shows_typing_once(bot: TelegramBot) -> None:
    """The retry after a short 429 sends the stored reply; the model is not asked again and
    "typing…" is not shown again for an answer that is already written."""
    bot.api.fail_next("sendMessage", 429, retry_after=1)

    assert bot.post(private_text("add buy milk"))["statusCode"] == 200  # the offline brain

    assert bot.api.methods() == ["sendChatAction", "sendMessage", "sendMessage"]
    assert delivered(bot, "Added #1: buy milk") == 1
    assert bot.unsent() == 0


def test_a_long_retry_after_is_left_to_the_scheduler(bot: TelegramBot,
                                                      clock: MovableClock) -> None:
    """A 429 asking for 30 s is not sat out by the webhook (nor by Telegram's connection):
    the row waits with its next attempt 30 s ahead, and the scheduler function sends it once
    that time has come, exactly once."""
    from handlers import scheduler

    bot.api.fail_next("sendMessage", 429, retry_after=30)
    started = time.monotonic()

    assert bot.post(private_text("/add Buy milk"))["statusCode"] == 200

    assert time.monotonic() - started < 20  # it did not wait the 30 s
    assert len(bot.api.calls_to("sendMessage")) == 1
    (row,) = bot.outbox()
    assert (row.sent_at, row.failed_at, row.attempts) == (None, None, 1)
    assert row.failure == "429 flood control"
    assert 25 < seconds_until_retry(bot, clock) <= 30

    clock.advance(20)
    assert scheduler.handler({"source": "aws.events"}, None)["retried"] == 0
    assert len(bot.api.calls_to("sendMessage")) == 1  # retry_after honoured
    clock.advance(11)
    answer = scheduler.handler({"source": "aws.events"}, None)

    assert (answer["retried"], answer["still_unsent"]) == (1, 0)
    assert delivered(bot, MILK) == 1
    clock.advance(600)
    assert scheduler.handler({"source": "aws.events"}, None)["retried"] == 0
    assert len(bot.api.calls_to("sendMessage")) == 2
    assert bot.unsent() == 0


# -- timeouts --------------------------------------------------------------------------------


@pytest.fixture
def short_read_timeout(monkeypatch: pytest.MonkeyPatch) -> float:
    """python-telegram-bot's read timeout (10 s in handlers/telegram/client.py) lowered for
    the Bot it builds next, so that a held answer times out quickly."""
    real = telegram.request.HTTPXRequest
    seconds = 0.5

    def quick(*args: Any, **kwargs: Any) -> telegram.request.HTTPXRequest:
        kwargs["read_timeout"] = seconds
        return real(*args, **kwargs)

    monkeypatch.setattr(telegram.request, "HTTPXRequest", quick)
    return seconds


@pytest.mark.parametrize("processed", [True, False],
                         ids=["telegram-sent-it-answer-late", "nothing-happened"])
def test_a_timed_out_send_is_retried(bot: TelegramBot, clock: MovableClock,
                                     short_read_timeout: float, processed: bool) -> None:
    """The first sendMessage gets no answer within the read timeout; the scheduler sends it
    again after the backoff.

    Whether the user then sees the reply once or twice depends on what the timed-out request
    did, which the bot cannot know: if Telegram had already created the message and only its
    answer was late (``processed``), the retry is a second copy — the one duplicate the outbox
    cannot rule out (at-least-once, like any sender that cannot ask whether a request took
    effect). If nothing happened, the retry is the only copy."""
    bot.api.stall_next("sendMessage", 3.0, processed=processed)

    assert bot.post(private_text("/add Buy milk"))["statusCode"] == 200

    (row,) = bot.outbox()
    assert (row.sent_at, row.attempts) == (None, 1)
    assert row.failure is not None and row.failure.startswith("TimedOut")
    assert delivered(bot, MILK) == (1 if processed else 0)
    clock.advance(6)
    assert swept().still_unsent == 0

    assert len(bot.api.calls_to("sendMessage")) == 2
    assert delivered(bot, MILK) == (2 if processed else 1)
    clock.advance(3600)
    assert swept().retried == 0
    assert len(bot.api.calls_to("sendMessage")) == 2


# -- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(("refusal", "recorded"), [
    (BLOCKED, "forbidden: Forbidden: bot was blocked by the user"),
    (CHAT_NOT_FOUND, "bad request: Chat not found"),
], ids=["403-blocked", "400-chat-not-found"])
def test_a_refusal_is_recorded_and_never_retried(bot: TelegramBot, clock: MovableClock,
                                                 refusal: tuple[int, str], recorded: str) -> None:
    bot.api.fail_next("sendMessage", *refusal)
    update = private_text("/add Buy milk")

    assert bot.post(update)["statusCode"] == 200  # no redelivery asked for: the turn is stored

    (row,) = bot.outbox()
    assert row.failed_at is not None and row.sent_at is None
    assert (row.failure, row.attempts) == (recorded, 1)
    assert bot.rows("tasks") == 1
    for _ in range(3):
        clock.advance(3600)
        assert swept().retried == 0
    assert bot.post(update)["statusCode"] == 200
    assert len(bot.api.calls_to("sendMessage")) == 1
    assert bot.api.sent == []


# -- replies in several steps ----------------------------------------------------------------


def _three_part_list(bot: TelegramBot) -> None:
    """Enough long tasks that /list needs three messages (the fake refuses over 4096)."""
    for n in range(1, 46):
        bot.post(private_text(f"/add {n:02d} " + "long title " * 17))
    bot.api.clear()


@pytest.mark.parametrize(("failing_part", "status", "wait"), [
    (2, 429, 0.0), (3, 502, 11.0)], ids=["part-2-429-inline", "part-3-502-by-the-scheduler"])
def test_a_reply_in_three_parts_goes_on_where_it_stopped(
        bot: TelegramBot, clock: MovableClock, failing_part: int, status: int,
        wait: float) -> None:
    _three_part_list(bot)
    if status == 429:
        bot.api.fail_next("sendMessage", 429, retry_after=1, after=failing_part - 1)
    else:
        bot.api.fail_next("sendMessage", status, html=True, after=failing_part - 1)

    assert bot.post(private_text("/list"))["statusCode"] == 200
    if wait:
        assert bot.unsent() == 1
        row = bot.outbox()[-1]
        assert row.progress == failing_part - 1
        clock.advance(wait)
        assert swept().still_unsent == 0

    calls = bot.api.calls_to("sendMessage")
    assert [bot.api.status_of(c) for c in calls] == (
        [200] * (failing_part - 1) + [status] + [200] * (4 - failing_part))
    texts = [c["text"] for c in calls]
    assert texts[failing_part - 1] == texts[failing_part]  # the failed part, sent again
    parts = [m["text"] for m in bot.api.sent]
    assert len(parts) == len(set(parts)) == 3  # each part once, none repeated
    assert parts[0].startswith("Your open tasks:")
    lines = "\n".join(parts).split("\n")
    assert [line.split(" ", 2)[1] for line in lines[1:]] == [f"#{n}" for n in range(1, 46)]
    keyboards = ["reply_markup" in c.params for c in bot.api.succeeded("sendMessage")]
    assert keyboards == [False, False, True]
    row = bot.outbox()[-1]
    assert row.sent_at is not None and row.attempts == 2


@pytest.mark.parametrize(("status", "wait"), [(429, 0.0), (502, 6.0)],
                         ids=["429-inline", "502-by-the-scheduler"])
def test_a_button_press_whose_edit_fails_is_answered_once_and_edited_on_retry(
        bot: TelegramBot, clock: MovableClock, status: int, wait: float) -> None:
    bot.post(private_text("/add Buy milk"))
    bot.post(private_text("/add Call mom"))
    bot.post(private_text("/list"))
    listed = bot.api.sent[-1]
    press = button_press(listed["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
                         message_id=listed["message_id"])
    bot.api.clear()
    if status == 429:
        bot.api.fail_next("editMessageText", 429, retry_after=1)
    else:
        bot.api.fail_next("editMessageText", status, html=True)

    assert bot.post(press)["statusCode"] == 200
    if wait:
        assert bot.api.methods() == ["answerCallbackQuery", "editMessageText"]
        row = bot.outbox()[-1]
        assert row.sent_at is None and row.progress == 1  # the toast is done
        clock.advance(wait)
        assert swept().still_unsent == 0

    assert bot.api.methods() == ["answerCallbackQuery", "editMessageText", "editMessageText"]
    first, retried = bot.api.calls_to("editMessageText")
    assert (bot.api.status_of(first), bot.api.status_of(retried)) == (status, 200)
    assert int(retried["message_id"]) == listed["message_id"]
    assert retried["text"].startswith("Done: #1 Buy milk\nYour open tasks:")
    assert bot.rows("tasks", "completed = true") == 1
    assert bot.unsent() == 0


# -- a worker that dies ----------------------------------------------------------------------


class WorkerKilled(BaseException):
    """The process dying (Lambda's timeout, an OOM kill): not an Exception anybody catches."""


@pytest.fixture
def killed_before_sending(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The first delivery attempt dies after the turn committed, before anything is sent."""
    real = Deliverer.deliver
    deaths: list[int] = []

    def deliver(self: Deliverer, row_ids: Any) -> float | None:
        if not deaths:
            deaths.append(len(row_ids))
            raise WorkerKilled
        return real(self, row_ids)

    monkeypatch.setattr(Deliverer, "deliver", deliver)
    yield deaths


@pytest.mark.parametrize("then", ["sweep-first", "redelivery-first"])
def test_a_worker_killed_between_commit_and_send(bot: TelegramBot, clock: MovableClock,
                                                 killed_before_sending: list[int],
                                                 then: str) -> None:
    update = private_text("/add Buy milk")

    died = bot.post(update)

    assert killed_before_sending == [1]
    assert died["statusCode"] == 500  # Telegram never got its 200: it will deliver again
    assert bot.rows("tasks") == bot.rows("delivery_claims") == 1  # the turn is stored...
    (row,) = bot.outbox()
    assert (row.sent_at, row.attempts) == (None, 0)  # ...and its reply waits in the outbox
    assert bot.api.calls == []

    if then == "sweep-first":
        assert swept().retried == 0  # a fresh row is its worker's for a lease's time
        clock.advance(LEASE.total_seconds() + 1)
        assert swept().retried == 1
        assert bot.post(update)["statusCode"] == 200
    else:
        assert bot.post(update)["statusCode"] == 200
        assert swept().retried == 0

    assert delivered(bot, MILK) == 1
    assert bot.api.methods() == ["sendMessage"]
    assert bot.rows("tasks") == 1
    assert bot.unsent() == 0


def test_a_worker_killed_after_the_send_before_recording_it(
        bot: TelegramBot, clock: MovableClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """The crash window: Telegram took the message, the worker died before marking the row
    sent. The row stays leased, so neither a redelivery nor a sweep sends it again while the
    lease runs; once it has run out the sweep sends it again — the one duplicate the outbox
    allows (at-least-once), and only after a process died at that exact point."""
    real = Outbox.record
    deaths: list[str] = []

    def record(self: Outbox, item: Any, outcome: Any) -> float | None:
        if not deaths:
            deaths.append(type(outcome).__name__)
            raise WorkerKilled
        return real(self, item, outcome)

    monkeypatch.setattr(Outbox, "record", record)
    update = private_text("/add Buy milk")

    assert bot.post(update)["statusCode"] == 500
    assert deaths == ["Sent"]
    assert delivered(bot, MILK) == 1
    (row,) = bot.outbox()
    assert row.sent_at is None and row.lease_until is not None

    assert bot.post(update)["statusCode"] == 200  # Telegram's redelivery: leased, not resent
    assert swept().retried == 0
    assert delivered(bot, MILK) == 1
    clock.advance((LEASE + timedelta(seconds=1)).total_seconds())
    assert swept().retried == 1

    assert delivered(bot, MILK) == 2
    assert bot.unsent() == 0
    clock.advance(3600)
    assert swept().retried == 0
    assert delivered(bot, MILK) == 2
