"""``/forget`` through the real webhooks: the question, the button, every row of the person
gone in every table (both linked accounts), nobody else's touched; a redelivered or replayed
confirmation does nothing more; a later message starts an empty list. And ``/link`` in a
Telegram group shows no code."""

from __future__ import annotations

import re

from sqlalchemy import Engine

from bot_core.forgetting import PERSONAL
from tests.accounts.test_linking_across_apps import (
    CODE,
    SLACK_USER,
    TEAM,
    button,
    slack_command,
    telegram,
)
from tests.conftest import count
from tests.core.test_accounts import person_of, rows_of
from tests.slack.harness import SlackHarness
from tests.telegram.conftest import USER_ID, TelegramBot, button_press, group_text, private_text

OTHER = 5551234


def test_forget_deletes_the_person_everywhere_and_nobody_else(
        tg_any_db: TelegramBot, slack: SlackHarness, engine: Engine) -> None:
    bot = tg_any_db
    telegram(bot, "/add buy milk")
    telegram(bot, "what's open?")
    slack_command(slack, "add pay rent")
    code = CODE.search(telegram(bot, "/link"))
    assert code is not None
    question = slack_command(slack, f"link {code.group(1)}")
    slack.press(button(question, "link"), user=SLACK_USER, team=TEAM,
                container={"type": "message", "is_ephemeral": True, "channel_id": "C111"})
    assert bot.post(private_text("/add not mine", user_id=OTHER))["statusCode"] == 200
    theirs = {name: count(engine, name) for name, *_ in PERSONAL}
    asked = telegram(bot, "/forget")
    assert "2 task(s)" in asked and "2 chat account(s)" in asked
    sent = bot.api.calls_to("sendMessage")[-1]
    keyboard = [b for row in sent["reply_markup"]["inline_keyboard"] for b in row]
    assert [b["text"] for b in keyboard] == ["Delete everything", "Cancel"]
    press = button_press(keyboard[0]["callback_data"], message_id=1000)
    person = person_of(engine, "telegram", str(USER_ID))
    accounts = [("telegram", "", str(USER_ID)), ("slack", TEAM, SLACK_USER)]

    assert bot.post(press)["statusCode"] == 200

    assert bot.api.calls_to("answerCallbackQuery")[-1]["text"].startswith("Done: I deleted 2")
    left = rows_of(engine, person, accounts)
    assert left == dict.fromkeys(left, 0)
    assert count(engine, "tasks") == 1 and count(engine, "chat_identities") == 1
    assert theirs["tasks"] == 3

    assert bot.post(press)["statusCode"] == 200  # Telegram redelivers the same update
    assert count(engine, "users") == 1
    again = button_press(keyboard[0]["callback_data"], message_id=1000)
    bot.post(again)  # the old button pressed once more
    assert bot.api.calls_to("answerCallbackQuery")[-1]["text"] == (
        "There was nothing left to delete.")
    assert count(engine, "users") == 1

    listed = slack_command(slack, "list")["text"]  # the Slack side starts afresh too
    assert listed.startswith("Nothing open")
    assert count(engine, "users") == 2


def test_link_in_a_telegram_group_shows_no_code(tg_any_db: TelegramBot) -> None:
    bot = tg_any_db
    assert bot.post(group_text("/link@ai999_bot"))["statusCode"] == 200
    answer = bot.api.sent_texts()[-1]
    assert "private chat" in answer and re.search(r"[A-Z0-9]{4}-[A-Z0-9]{4}", answer) is None
