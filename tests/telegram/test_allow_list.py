"""TELEGRAM_ALLOWED_USERS through ``handler()``, on both databases: a stranger gets one short
answer however often they write, and nothing else is stored about them; allowed people (by id,
by @username, in any group; anyone in a group an allowed user added the bot to) are served."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from bot_core.strangers import STRANGER_TEXT
from tests.fakes.openai_server import FakeOpenAI, says
from tests.fakes.telegram_api import DEFAULT_USERNAME, FakeTelegram
from tests.telegram.conftest import (
    BOT_ID,
    GROUP_ID,
    TelegramBot,
    _bot,
    button_press,
    group_text,
    next_update_id,
    private_text,
)

ALICE, BOB, CAROL = 1001, 1002, 1003
OTHER_GROUP = -1002000000001
LISTED_GROUP = -1002000000002
PEOPLE_TABLES = ("users", "chat_identities", "conversations", "messages", "tasks",
                 "delivery_claims", "rate_counts")


@pytest.fixture
def model() -> Iterator[FakeOpenAI]:
    """The fake OpenAI server as the brain: every request it gets is a model call."""
    with FakeOpenAI() as fake:
        fake.default = says("Sure.")
        yield fake


@pytest.fixture
def bot(monkeypatch: pytest.MonkeyPatch, telegram_api: FakeTelegram, db_url: str,
        engine: Engine, model: FakeOpenAI) -> Iterator[TelegramBot]:
    """The webhook with an allow-list: Alice by id, Carol by @username (listed in another
    case), and one group by id."""
    yield from _bot(monkeypatch, telegram_api, db_url, engine,
                    TELEGRAM_ALLOWED_USERS=f"{ALICE}, @carol_T  {LISTED_GROUP}",
                    OPENAI_BASE_URL=model.base_url, OPENAI_API_KEY="test-key",
                    LLM_MAX_RETRIES="0")


def _named(update: dict[str, Any], username: str) -> dict[str, Any]:
    update["message"]["from"]["username"] = username
    return update


def _mentioning(text: str, *, user_id: int, chat_id: int = GROUP_ID) -> dict[str, Any]:
    return group_text(f"/add@{DEFAULT_USERNAME} {text}", user_id=user_id, chat_id=chat_id)


def _bot_added(*, by: int, chat_id: int = GROUP_ID) -> dict[str, Any]:
    """The service message Telegram sends when ``by`` adds the bot to a group."""
    return {"update_id": next_update_id(), "message": {
        "message_id": 7, "date": int(time.time()),
        "from": {"id": by, "is_bot": False, "first_name": "Alice"},
        "chat": {"id": chat_id, "title": "Team", "type": "supergroup"},
        "new_chat_members": [{"id": BOT_ID, "is_bot": True, "first_name": "Todobot",
                              "username": DEFAULT_USERNAME}],
        "new_chat_member": {"id": BOT_ID, "is_bot": True, "first_name": "Todobot",
                            "username": DEFAULT_USERNAME},
        "new_chat_participant": {"id": BOT_ID, "is_bot": True, "first_name": "Todobot",
                                 "username": DEFAULT_USERNAME},
    }}


def _nothing_about_people(bot: TelegramBot) -> None:
    for table in PEOPLE_TABLES:
        assert bot.rows(table) == 0, table


def test_a_stranger_is_answered_once_and_nothing_else_is_stored(
        bot: TelegramBot, model: FakeOpenAI) -> None:
    updates = [private_text("remind me to call mom", user_id=BOB),
               private_text("/add milk", user_id=BOB),
               private_text("what's still open?", user_id=BOB),
               private_text("/start", user_id=BOB),
               private_text("hello??", user_id=BOB)]
    for update in updates:
        assert bot.post(update)["statusCode"] == 200

    assert bot.api.sent_texts() == [STRANGER_TEXT]
    assert bot.api.calls_to("sendMessage")[0]["chat_id"] == str(BOB)
    assert bot.rows("strangers") == 1
    assert bot.rows("strangers", "platform = 'telegram' AND external_id = :id",
                    id=str(BOB)) == 1
    assert bot.rows("outbox") == 1
    assert bot.unsent() == 0
    _nothing_about_people(bot)
    assert model.requests == 0
    assert "sendChatAction" not in bot.api.methods()  # no "typing…" either


def test_a_strangers_button_press_gets_a_toast_at_most_once(bot: TelegramBot) -> None:
    for _ in range(2):
        bot.post(button_press(f"d:1:o:{BOB}", message_id=55, user_id=BOB))

    toasts = bot.api.calls_to("answerCallbackQuery")
    assert [call.get("text") for call in toasts] == [STRANGER_TEXT]
    assert "editMessageText" not in bot.api.methods()
    assert bot.rows("strangers") == 1 and bot.rows("outbox") == 1
    _nothing_about_people(bot)


def test_allowed_by_id_works(bot: TelegramBot, model: FakeOpenAI) -> None:
    bot.post(private_text("/add milk", user_id=ALICE))
    bot.post(private_text("anything else?", user_id=ALICE))

    assert bot.rows("tasks") == 1
    assert STRANGER_TEXT not in bot.api.sent_texts()
    assert len(bot.api.sent_texts()) == 2
    assert model.requests == 1
    assert bot.rows("strangers") == 0


def test_allowed_by_username_in_any_case(bot: TelegramBot) -> None:
    bot.post(_named(private_text("/add milk", user_id=CAROL), "Carol_t"))

    assert bot.rows("tasks") == 1
    assert bot.rows("strangers") == 0
    # The same person without the listed username is a stranger.
    bot.post(_named(private_text("/add eggs", user_id=CAROL + 1), "carol_t2"))
    assert bot.rows("tasks") == 1 and bot.rows("strangers") == 1


def test_an_allowed_user_is_served_in_any_group(bot: TelegramBot) -> None:
    bot.post(_mentioning("milk", user_id=ALICE, chat_id=OTHER_GROUP))

    assert bot.rows("tasks") == 1 and bot.rows("strangers") == 0


def test_anyone_in_a_listed_group_is_served(bot: TelegramBot) -> None:
    bot.post(_mentioning("milk", user_id=BOB, chat_id=LISTED_GROUP))

    assert bot.rows("tasks") == 1 and bot.rows("strangers") == 0


def test_a_group_an_allowed_user_added_the_bot_to_admits_everyone_in_it(
        bot: TelegramBot) -> None:
    bot.post(_bot_added(by=ALICE))

    assert bot.rows("allowed_chats", "chat_id = :chat AND added_by = :by",
                    chat=str(GROUP_ID), by=str(ALICE)) == 1
    assert len(bot.api.sent_texts()) == 1  # hello, once
    assert "Alice added me" in bot.api.sent_texts()[0]

    bot.post(_mentioning("milk", user_id=BOB))
    bot.post(_mentioning("eggs", user_id=BOB))

    assert bot.rows("tasks") == 2
    assert bot.rows("strangers") == 0
    # Redelivered: nothing new.
    bot.post(_bot_added(by=ALICE))
    assert bot.rows("allowed_chats") == 1
    assert sum("added me" in text for text in bot.api.sent_texts()) == 1


def test_a_stranger_adding_the_bot_admits_nobody(bot: TelegramBot) -> None:
    bot.post(_bot_added(by=BOB, chat_id=OTHER_GROUP))

    assert bot.rows("allowed_chats") == 0
    assert bot.api.sent_texts() == []


def test_a_stranger_in_another_group_is_answered_once(
        bot: TelegramBot, model: FakeOpenAI) -> None:
    bot.post(_bot_added(by=ALICE))  # GROUP_ID is admitted, OTHER_GROUP is not
    bot.api.clear()
    for text in ("milk", "eggs", "bread", "jam", "tea"):
        bot.post(_mentioning(text, user_id=BOB, chat_id=OTHER_GROUP))
    bot.post(group_text("just chatting", user_id=BOB, chat_id=OTHER_GROUP))  # not for the bot

    assert bot.api.sent_texts() == [STRANGER_TEXT]
    answer = bot.api.calls_to("sendMessage")[0]
    assert answer["chat_id"] == str(OTHER_GROUP)
    assert bot.rows("strangers") == 1
    assert bot.rows("outbox") == 2  # the hello in GROUP_ID, the one answer in OTHER_GROUP
    _nothing_about_people(bot)
    assert model.requests == 0


def test_unset_list_lets_everyone_in(monkeypatch: pytest.MonkeyPatch,
                                     telegram_api: FakeTelegram, db_url: str,
                                     engine: Engine) -> None:
    monkeypatch.delenv("TELEGRAM_ALLOWED_USERS", raising=False)
    for bot in _bot(monkeypatch, telegram_api, db_url, engine):
        bot.post(private_text("/add milk", user_id=BOB))
        bot.post(_bot_added(by=BOB))  # nothing to record without a list

        assert bot.rows("tasks") == 1
        assert bot.rows("strangers") == 0 and bot.rows("allowed_chats") == 0


def test_what_travels_for_a_stranger(bot: TelegramBot) -> None:
    """Through the queue (SQS on AWS) a private stranger's delivery carries who to answer and
    where, not what they wrote; a group's keeps the turn for the worker's check."""
    from handlers import composition
    from handlers.delivery import QueuedDelivery

    webhook = composition.root().telegram_webhook
    private = webhook.delivery_of(private_text("my secret plans", user_id=BOB))
    assert private is not None and private.kind == "stranger"
    assert private.inbound is None and "secret" not in private.model_dump_json()
    assert private.admission is not None and private.admission.external_id == str(BOB)
    assert QueuedDelivery.model_validate_json(private.model_dump_json()) == private

    grouped = webhook.delivery_of(_mentioning("milk", user_id=BOB))
    assert grouped is not None and grouped.kind == "turn" and grouped.inbound is not None
    assert grouped.admission is not None and grouped.admission.chat_id == str(GROUP_ID)
    assert QueuedDelivery.model_validate_json(grouped.model_dump_json()) == grouped

    allowed = webhook.delivery_of(private_text("/add milk", user_id=ALICE))
    assert allowed is not None and allowed.admission is None
