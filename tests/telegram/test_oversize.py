"""Oversized input: a message is read and stored up to ``MAX_INPUT_CHARS`` (4,096, Telegram's
own maximum for a text message) and the reply says when it was cut. Through Telegram's
``handler()`` (and Slack's, whose messages may be ten times longer), on both databases: a
4,096-character message is stored whole, 10,000 characters and 1 MB are stored as their first
4,096 with the notice in the reply."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from bot_core.service import CUT_TEXT, MAX_INPUT_CHARS
from tests.slack import conftest as slack_kit
from tests.slack.harness import SlackHarness
from tests.telegram.conftest import TelegramBot, private_text

# Slack's fixtures (its conftest is not this directory's).
_session_slack = slack_kit._session_slack
fake_slack = slack_kit.fake_slack
slack = slack_kit.slack

SIZES = [MAX_INPUT_CHARS, 10_000, 1_000_000]


def long_text(size: int) -> str:
    """``size`` characters of words (a note, not a command), ending in a marker that must not
    survive the cut."""
    words = ("note about the garden shed and what to buy for it " * (size // 40 + 2))
    return (words[: size - 4] + " END")[:size]


def stored_user_texts(engine: Engine) -> list[str]:
    return _contents(engine, "user")


def stored_assistant_texts(engine: Engine) -> list[str]:
    return _contents(engine, "assistant")


def _contents(engine: Engine, role: str) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(text(
            "SELECT content FROM messages WHERE role = :role ORDER BY id"), {"role": role})]


@pytest.mark.parametrize("size", SIZES)
def test_telegram_message_is_stored_up_to_the_cap_and_the_cut_is_said(
        tg_any_db: TelegramBot, size: int) -> None:
    bot = tg_any_db
    sent = long_text(size)
    assert len(sent) == size

    response = bot.post(private_text(sent))

    assert response["statusCode"] == 200
    (stored,) = stored_user_texts(bot.engine)
    assert stored == sent[:MAX_INPUT_CHARS].strip()
    (reply,) = bot.api.sent_texts()
    (assistant,) = stored_assistant_texts(bot.engine)
    if size <= MAX_INPUT_CHARS:
        assert stored.endswith("END")
        assert CUT_TEXT not in reply and CUT_TEXT not in assistant
    else:
        assert len(stored) <= MAX_INPUT_CHARS and not stored.endswith("END")
        assert reply.endswith(CUT_TEXT)  # the answer says the message was cut
        assert assistant.endswith(CUT_TEXT)
    assert bot.rows("messages") == 2 and bot.unsent() == 0


def test_a_long_command_is_cut_too(tg_any_db: TelegramBot) -> None:
    bot = tg_any_db
    bot.post(private_text("/add " + long_text(9_000)))

    (stored,) = stored_user_texts(bot.engine)
    assert len(stored) <= MAX_INPUT_CHARS
    (reply,) = bot.api.sent_texts()
    assert reply.endswith(CUT_TEXT)
    assert bot.rows("tasks") <= 1  # a title too long is refused or shortened, never stored whole
    with bot.engine.connect() as conn:
        titles = [r[0] for r in conn.execute(text("SELECT title FROM tasks"))]
    assert all(len(title) <= 200 for title in titles)


@pytest.mark.parametrize("size", SIZES)
def test_slack_dm_is_stored_up_to_the_cap_and_the_cut_is_said(
        slack: SlackHarness, engine: Engine, size: int) -> None:
    sent = long_text(size)
    response = slack.dm(sent)

    assert response["statusCode"] == 200
    (stored,) = stored_user_texts(engine)
    (assistant,) = stored_assistant_texts(engine)
    assert stored == sent[:MAX_INPUT_CHARS].strip()
    posted = [str(c.params.get("text")) for c in slack.fake.accepted("chat.postMessage")]
    assert posted, "the DM was answered"
    if size <= MAX_INPUT_CHARS:
        assert not any(CUT_TEXT in text for text in posted)
        assert CUT_TEXT not in assistant
    else:
        assert CUT_TEXT in posted[-1]
        assert assistant.endswith(CUT_TEXT)
