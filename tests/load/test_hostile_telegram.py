"""Property-based: any Telegram update through ``handlers.telegram.handler`` (API Gateway 2.0
events) is answered 200 or 400, never 500 and never with an escaped exception; every message
we send is one Telegram accepts (valid HTML, at most 4096 characters), no reply is left unsent
in the outbox, every stored turn is answered, and a forged request (missing or wrong secret
token) writes nothing and calls nothing.

2,000 examples on SQLite (the bulk; cheap) and 200 on PostgreSQL (what production runs).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.fakes.telegram_api import ApiCall, EntityError, visible_text
from tests.load.strategies import telegram_update
from tests.telegram.conftest import SECRET, TelegramBot, button_press, private_text

TABLES = ("users", "chat_identities", "conversations", "messages", "tasks", "delivery_claims",
          "outbox")
FORGERIES: list[str | None] = [None, "", "wrong", SECRET + "x", SECRET[:-1], SECRET.upper(),
                               SECRET + "\x00", " " + SECRET]
UNSENT = "sent_at IS NULL AND failed_at IS NULL"
CASES = settings(deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])

EXAMPLES = [("sqlite", 2000), ("postgresql", 200)]
"""Examples per database: the bulk on SQLite (cheap), a sample on PostgreSQL."""
authentic_or_forged = st.one_of(st.just(SECRET), st.just(SECRET), st.just(SECRET),
                                st.sampled_from(FORGERIES))


def _snapshot(bot: TelegramBot) -> dict[str, int]:
    return {table: bot.rows(table) for table in TABLES}


def _unsent(bot: TelegramBot) -> dict[int, str]:
    """The outbox rows still pending: id -> why the last attempt failed. Compared before and
    after each example, so that a row left by one example fails that example (the database
    is shared by all examples)."""
    with bot.engine.connect() as conn:
        rows = conn.execute(text(
            f"SELECT id, coalesce(failure, '') FROM outbox WHERE {UNSENT}")).all()
    return {int(r[0]): str(r[1]) for r in rows}


def assert_acceptable_to_telegram(call: ApiCall) -> None:
    """What Telegram itself would refuse with a 400 (so the user would see nothing)."""
    if call.method in ("sendMessage", "editMessageText"):
        try:
            shown = visible_text(str(call["text"]), call.get("parse_mode"))
        except EntityError as error:
            raise AssertionError(f"invalid HTML sent: {call['text']!r}") from error
        assert shown.strip(), "empty message sent"
        assert len(shown.encode("utf-16-le")) // 2 <= 4096, "message over 4096 sent"
    if call.method == "answerCallbackQuery":
        assert len(str(call.get("text", ""))) <= 200


def deliver_and_check(bot: TelegramBot, update: dict[str, Any], secret: str | None) -> None:
    """One update through handler(), and every property of the module docstring."""
    before = _snapshot(bot)
    calls_before = len(bot.api.calls)
    unsent_before = _unsent(bot)

    response = bot.post(update, secret=secret)

    if secret != SECRET:
        assert response["statusCode"] == 401
        assert _snapshot(bot) == before
        assert len(bot.api.calls) == calls_before
        return
    assert response["statusCode"] == 200, response
    left = {row: why for row, why in _unsent(bot).items() if row not in unsent_before}
    assert left == {}, "replies left unsent (outbox id: the last failure)"
    made = bot.api.calls[calls_before:]
    for call in made:
        assert_acceptable_to_telegram(call)
    if bot.rows("messages") > before["messages"]:  # a turn was stored: the user heard back
        assert {c.method for c in made} & {"sendMessage", "editMessageText",
                                           "answerCallbackQuery"}, made
        event("a turn stored and answered")
    event(f"Bot API calls: {sorted({c.method for c in made})}")


@pytest.mark.parametrize(("db_url", "examples"), EXAMPLES, indirect=["db_url"])
def test_any_update(tg_any_db: TelegramBot, examples: int) -> None:
    ran: list[None] = []  # examples run, counted (at least ``examples``)

    @settings(CASES, max_examples=examples)
    @given(update=telegram_update(), secret=authentic_or_forged)
    def any_update(update: dict[str, Any], secret: str | None) -> None:
        deliver_and_check(tg_any_db, update, secret)
        ran.append(None)

    any_update()
    assert len(ran) >= examples


def _from_nobody_zero(update: dict[str, Any]) -> dict[str, Any]:
    """``update`` sent by user 0 in chat 0 (ids a modified client or a fake may send)."""
    body = update.get("message") or update["callback_query"]
    body["from"]["id"] = 0
    chat = (body.get("message") or body)["chat"]
    chat["id"] = 0
    return update


@pytest.mark.parametrize("update", [
    private_text("/add milk"), private_text("what is due?"),
    button_press("t1:d:1:o:0", message_id=7, user_id=0, chat_id=0)],
    ids=["command", "free-text", "button"])
def test_ids_of_zero_leave_no_reply_unsent(tg: TelegramBot, update: dict[str, Any]) -> None:
    """Found by the hypothesis suite: a reply target whose chat id was 0 lost it when stored
    (``0 in (None, False)`` is true), so its outbox row could never be sent and stayed pending,
    retried by every sweep, until it went stale."""
    response = tg.post(_from_nobody_zero(update))

    assert response["statusCode"] == 200
    assert tg.rows("outbox") == 1
    assert tg.rows("outbox", "sent_at IS NULL AND failed_at IS NULL") == 0
    assert [c.get("chat_id") for c in tg.api.calls if c.method != "answerCallbackQuery"][-1:] \
        == ["0"]


@pytest.mark.parametrize("data", ["t1:d:1:o:714862471", "stale"], ids=["ours", "stale"])
def test_a_callback_id_telegram_could_not_have_sent_is_ignored(tg: TelegramBot,
                                                               data: str) -> None:
    """Found by the hypothesis suite: a callback query id with a lone surrogate (JSON can
    carry it, UTF-8 cannot) is sent back with answerCallbackQuery; every attempt failed in the
    HTTP client, so the reply stayed in the outbox, retried by every sweep for hours."""
    update = button_press(data, message_id=7)
    update["callback_query"]["id"] = "4382\ud8c4"

    assert tg.post(update)["statusCode"] == 200
    assert tg.api.calls == []
    assert tg.nothing_written()
