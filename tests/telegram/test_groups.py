"""Groups: only what is addressed to the bot — its commands, replies to it, mentions of it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import pg_engine
from tests.fakes.telegram_api import DEFAULT_USERNAME, FakeTelegram
from tests.telegram.conftest import (
    GROUP_ID,
    TelegramBot,
    _bot,
    button_press,
    group_text,
    private_text,
)

ALICE, BOB = 1001, 1002


@pytest.fixture
def named(monkeypatch: pytest.MonkeyPatch, telegram_api: FakeTelegram, pg_url: str
          ) -> Iterator[TelegramBot]:
    """The bot with TELEGRAM_BOT_USERNAME configured (no getMe ever)."""
    yield from _bot(monkeypatch, telegram_api, pg_url, pg_engine(pg_url),
                    TELEGRAM_BOT_USERNAME=DEFAULT_USERNAME)


def _mention() -> list[dict[str, object]]:
    """The entity Telegram sets for "@username" at the start of a text."""
    return [{"type": "mention", "offset": 0, "length": len(DEFAULT_USERNAME) + 1}]


@pytest.mark.parametrize("update", [
    group_text("let's get lunch"),
    group_text("/report", entities=[{"type": "bot_command", "offset": 0, "length": 7}]),
    group_text("/add@other_bot milk"),
    group_text("ask @other_bot", entities=[{"type": "mention", "offset": 4, "length": 10}]),
], ids=["chatter", "someone-elses-command", "command-for-another-bot", "other-mention"])
def test_group_chatter_is_ignored(named: TelegramBot, update: dict[str, object]) -> None:
    assert named.post(update)["statusCode"] == 200
    assert named.api.calls == []
    assert named.nothing_written()


@pytest.mark.parametrize(("update", "stored"), [
    (group_text(f"/add@{DEFAULT_USERNAME} Milk"), f"/add@{DEFAULT_USERNAME} Milk"),
    (group_text(f"/add@{DEFAULT_USERNAME.upper()} Milk"), f"/add@{DEFAULT_USERNAME.upper()} Milk"),
    (group_text("/add Milk"), "/add Milk"),
    (group_text(f"@{DEFAULT_USERNAME} add milk", entities=_mention()), "add milk"),
    (group_text("add milk", reply_to_bot=True), "add milk"),
], ids=["addressed-command", "username-any-case", "bare-command-of-ours", "mention", "reply"])
def test_what_is_addressed_to_the_bot_is_answered_in_the_group(
        named: TelegramBot, update: dict[str, object], stored: str) -> None:
    assert named.post(update)["statusCode"] == 200

    assert named.user_messages() == [stored]
    assert named.rows("tasks") == 1
    (sent,) = named.api.calls_to("sendMessage")
    assert sent["chat_id"] == str(GROUP_ID)
    assert sent["text"].lower() == "added #1: milk"
    assert "reply_parameters" in sent.params
    assert "getMe" not in named.api.methods()


def test_each_member_has_their_own_list_in_the_group(named: TelegramBot) -> None:
    named.post(group_text("/add Alice's task", user_id=ALICE))
    named.post(group_text("/add Bob's task", user_id=BOB))

    assert named.api.sent_texts() == ["Added #1: Alice's task", "Added #1: Bob's task"]


def test_a_button_under_someone_elses_list_does_nothing(named: TelegramBot) -> None:
    named.post(group_text("/add Alice's task", user_id=ALICE))
    named.post(group_text("/add Bob's task", user_id=BOB))
    named.post(group_text("/list", user_id=ALICE))
    alices_list = named.api.sent[-1]
    done = alices_list["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    named.api.clear()
    before = named.rows("messages")

    named.post(button_press(done, message_id=alices_list["message_id"], user_id=BOB,
                            chat_id=GROUP_ID))

    (answer,) = named.api.calls_to("answerCallbackQuery")
    assert "someone else" in answer["text"]
    assert named.api.methods() == ["answerCallbackQuery"]
    assert named.rows("tasks", "completed = true") == 0
    assert named.rows("messages") == before


def test_without_a_configured_username_getme_is_called_once_per_process(
        tg: TelegramBot) -> None:
    for n in range(3):
        tg.post(group_text(f"@{DEFAULT_USERNAME} add task {n}", entities=_mention()))
    tg.post(private_text("/list"))

    assert tg.api.methods().count("getMe") == 1
    assert tg.rows("tasks") == 3


def test_private_chats_never_need_getme(tg: TelegramBot) -> None:
    for text in ("/add Milk", "add bread", "/list"):
        tg.post(private_text(text))
    assert "getMe" not in tg.api.methods()
