"""Property-based: any Telegram update through ``handlers.telegram.handler`` (API Gateway 2.0
events) is answered 200 or 400, never 500 and never with an escaped exception; every message
we send is one Telegram accepts (valid HTML, at most 4096 characters), nothing is left waiting
in the turn queue, every stored turn is answered, and a forged request (missing or wrong
secret token) writes nothing and calls nothing.

2,000 examples on SQLite (the bulk; cheap) and 200 on PostgreSQL (what production runs).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.fakes.telegram_api import ApiCall, EntityError, visible_text
from tests.load.strategies import telegram_update
from tests.telegram.conftest import SECRET, TelegramBot

TABLES = ("users", "chat_identities", "conversations", "messages", "tasks", "delivery_claims",
          "outbox")
FORGERIES: list[str | None] = [None, "", "wrong", SECRET + "x", SECRET[:-1], SECRET.upper(),
                               SECRET + "\x00", " " + SECRET]
CASES = settings(deadline=None, suppress_health_check=[
    HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])

EXAMPLES = [("sqlite", 2000), ("postgresql", 200)]
"""Examples per database: the bulk on SQLite (cheap), a sample on PostgreSQL."""
authentic_or_forged = st.one_of(st.just(SECRET), st.just(SECRET), st.just(SECRET),
                                st.sampled_from(FORGERIES))


def _snapshot(bot: TelegramBot) -> dict[str, int]:
    return {table: bot.rows(table) for table in TABLES}


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

    response = bot.post(update, secret=secret)

    if secret != SECRET:
        assert response["statusCode"] == 401
        assert _snapshot(bot) == before
        assert len(bot.api.calls) == calls_before
        return
    assert response["statusCode"] == 200, response
    assert bot.rows("outbox", "sent_at IS NULL AND failed_at IS NULL") == 0
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
