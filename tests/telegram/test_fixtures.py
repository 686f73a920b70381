"""Every shared Telegram fixture payload through ``handler()``: status, Bot API calls, rows.

Four fixtures are old or partial shapes python-telegram-bot cannot parse; they, and the kinds
the bot does not handle, must be answered 200 with nothing written, so Telegram stops sending
them. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tests.fakes.telegram_api import DEFAULT_USERNAME, FakeTelegram
from tests.telegram.conftest import TelegramBot, _bot, fixture, fixture_names

NOTHING = {"users": 0, "messages": 0, "tasks": 0, "delivery_claims": 0}
TURN = {"users": 1, "messages": 2, "tasks": 0, "delivery_claims": 1}
CLAIM_ONLY = {"users": 0, "messages": 0, "tasks": 0, "delivery_claims": 1}

# fixture -> (Bot API methods called, in order; rows written)
EXPECTED: dict[str, tuple[list[str], dict[str, int]]] = {
    "callback_query_private": (["answerCallbackQuery"], CLAIM_ONLY),  # not our button
    "edited_message_private": ([], NOTHING),  # edits are not re-run
    "group_command_bot_command_entity": ([], NOTHING),  # /report: another bot's command
    "group_message_mentioning_bot": (["sendChatAction", "sendMessage"], TURN),
    "legacy_doc_callback_query": ([], NOTHING),  # PTB cannot parse
    "legacy_doc_edited_message": ([], NOTHING),  # PTB cannot parse
    "legacy_doc_voice_message": ([], NOTHING),  # PTB cannot parse
    "my_chat_member_private_kicked": ([], NOTHING),  # membership: ignored, never answered
    "my_chat_member_supergroup_promoted_admin": ([], NOTHING),  # PTB cannot parse
    "photo_no_text": (["sendMessage"], CLAIM_ONLY),  # fixed friendly answer
    "private_command_start": (["sendMessage"], TURN),
    "private_text_message": (["sendChatAction", "sendMessage"], TURN),  # free text: brain
    "sticker_no_text": (["sendMessage"], CLAIM_ONLY),
}


@pytest.fixture
def bot(monkeypatch: pytest.MonkeyPatch, telegram_api: FakeTelegram, db_url: str,
        engine: Engine) -> Iterator[TelegramBot]:
    yield from _bot(monkeypatch, telegram_api, db_url, engine,
                    TELEGRAM_BOT_USERNAME=DEFAULT_USERNAME)


def test_every_fixture_has_an_expectation() -> None:
    assert set(fixture_names()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_payload(bot: TelegramBot, name: str) -> None:
    methods, rows = EXPECTED[name]

    response = bot.post(fixture(name))

    assert response["statusCode"] == 200
    assert bot.api.methods() == methods
    assert {table: bot.rows(table) for table in rows} == rows
    assert bot.rows("outbox", "sent_at IS NULL AND failed_at IS NULL") == 0


def test_start_greets_by_name(bot: TelegramBot) -> None:
    bot.post(fixture("private_command_start"))
    (sent,) = bot.api.calls_to("sendMessage")
    assert sent["chat_id"] == "714862471"
    assert sent["parse_mode"] == "HTML"
    assert sent["text"].startswith("Hi, Chris! I'm Todobot.")


def test_group_mention_is_answered_in_the_group_as_a_reply(bot: TelegramBot) -> None:
    bot.post(fixture("group_message_mentioning_bot"))
    (sent,) = bot.api.calls_to("sendMessage")
    assert sent["chat_id"] == "-1001914618483"
    assert sent["reply_parameters"]["message_id"] == 10
    assert bot.user_messages() == ["666"]  # the mention is not part of what the user said


def test_stale_button_is_answered_and_nothing_else(bot: TelegramBot) -> None:
    bot.post(fixture("callback_query_private"))
    (answer,) = bot.api.calls_to("answerCallbackQuery")
    assert answer["callback_query_id"] == "2300206505773940939"
    assert "/list" in answer["text"]


@pytest.mark.parametrize("name", ["sticker_no_text", "photo_no_text"])
def test_non_text_gets_a_short_friendly_answer_once(bot: TelegramBot, name: str) -> None:
    bot.post(fixture(name))
    bot.post(fixture(name))  # redelivered
    (sent,) = bot.api.calls_to("sendMessage")
    assert "only read text" in sent["text"]
    assert len(sent["text"]) < 120
