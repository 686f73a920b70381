"""One person in Telegram and Slack: ``/link`` in Telegram, ``/todo link CODE`` in Slack and
its button, then one list in both apps: a task made in one is listed and completed in the
other, numbers after the merge as the confirmation said, and each reminder in the app its task
was made in. Through the real webhooks (python-telegram-bot, Bolt) and the loopback fakes."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, text

from tests.conftest import count
from tests.slack.harness import SlackHarness
from tests.telegram.conftest import TelegramBot, install_root, private_text

SLACK_USER = "U2147483697"
TEAM = "T123ABC456"  # the DM fixture's workspace
CODE = re.compile(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b")


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def telegram(bot: TelegramBot, said: str) -> str:
    before = len(bot.api.sent_texts())
    assert bot.post(private_text(said))["statusCode"] == 200
    return "\n".join(bot.api.sent_texts()[before:])


def slack_command(harness: SlackHarness, said: str) -> dict[str, Any]:
    assert harness.command(said, user=SLACK_USER, channel="C111", team=TEAM)[
        "statusCode"] == 200
    (answer,) = harness.answers()
    return answer


def words(message: dict[str, Any]) -> str:
    return str(message.get("text") or "") + json.dumps(message.get("blocks") or [])


def button(message: dict[str, Any], kind: str) -> str:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if str(element.get("action_id", "")).startswith(f"todo:{kind}:"):
                return str(element["action_id"])
    raise AssertionError(f"no {kind} button in {message}")


def test_one_list_in_both_apps(tg_any_db: TelegramBot, slack: SlackHarness,
                               engine: Engine) -> None:
    clock = Clock()
    root = install_root(clock=clock)
    bot = tg_any_db
    assert telegram(bot, "/add buy milk at 10am") .startswith("Added #1: buy milk")
    assert slack_command(slack, "add pay rent")["text"] == "Added #1: pay rent"
    assert slack_command(slack, "add book flights at 11am")["text"].startswith(
        "Added #2: book flights")
    assert count(engine, "users") == 2

    offer = telegram(bot, "/link")
    code = CODE.search(offer)
    assert code is not None and "Nothing is linked yet" in offer
    question = slack_command(slack, f"link {code.group(1)}")
    assert "Your 2 tasks here will join it as #2–#3" in question["text"]
    assert count(engine, "users") == 2

    ephemeral = {"type": "message", "is_ephemeral": True, "channel_id": "C111",
                 "message_ts": "1700000000.000001"}
    slack.press(button(question, "link"), user=SLACK_USER, container=ephemeral, team=TEAM)
    (linked,) = slack.answers()
    assert linked["text"].endswith("#1 → #2, #2 → #3.")
    assert count(engine, "users") == 1 and count(engine, "chat_identities") == 2

    listed = telegram(bot, "/list")
    for number, title in ((1, "buy milk"), (2, "pay rent"), (3, "book flights")):
        assert f"<b>#{number}</b> {title}" in listed, listed
    assert telegram(bot, "/done 2") == "Done: #2 pay rent"  # made in Slack, done in Telegram
    assert slack_command(slack, "done 1")["text"] == "Done: #1 buy milk"  # and the reverse
    in_slack = words(slack_command(slack, "list all"))
    assert "book flights" in in_slack and "buy milk" in in_slack and "*#3*" in in_slack
    assert "☑" in telegram(bot, "/list all")

    # Reminders: each in the app its task was made in (book flights from Slack, at 11:00 in
    # Slack's zone for the user; buy milk is done, so no reminder for it).
    slack.fake.reset()
    bot.api.clear()
    clock.now += timedelta(days=1)
    from handlers.sweep import sweep

    report = sweep(root)

    assert report.reminded == 1
    reminders = slack.fake.accepted("chat.postMessage")
    assert len(reminders) == 1 and "book flights" in words(reminders[0].params)
    assert reminders[0].params["channel"] == SLACK_USER  # the app's DM with the person
    assert [t for t in bot.api.sent_texts() if "Reminder" in t] == []
    with engine.connect() as conn:
        owners = conn.execute(text("SELECT DISTINCT user_id FROM tasks")).scalars().all()
    assert len(owners) == 1
