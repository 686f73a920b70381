"""``/export`` in both apps: the files arrive (Telegram's sendDocument, Slack's
files_upload_v2 into the person's DM), parse back, and match the database field by field;
nothing is exported where others can read it."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from bot_core.export import TASK_FIELDS
from models.tables import Task
from tests.accounts.test_linking_across_apps import SLACK_USER, TEAM, slack_command, telegram
from tests.slack.harness import SlackHarness
from tests.telegram.conftest import TelegramBot, group_text


def stored_tasks(engine: Engine) -> list[Task]:
    with Session(engine) as session:
        tasks = list(session.exec(select(Task).order_by(col(Task.number))).all())
        session.expunge_all()
    return tasks


def same(exported: dict[str, Any], stored: Task) -> None:
    """An exported task equals its row, field by field (times as aware UTC instants)."""
    for field in TASK_FIELDS:
        value, expected = exported[field], getattr(stored, field)
        if isinstance(expected, datetime):
            assert datetime.fromisoformat(value) == expected, field
        else:
            assert value == expected, field


def test_telegram_export_sends_json_and_csv_documents(tg_any_db: TelegramBot,
                                                      engine: Engine) -> None:
    bot = tg_any_db
    telegram(bot, "/add buy milk tomorrow at 5pm")
    telegram(bot, "/add water the plants every day at 9")
    telegram(bot, "/add call mom, high priority")
    telegram(bot, "/done 3")
    telegram(bot, "what's due?")  # a conversation to export on request

    answer = telegram(bot, "/export all")

    assert answer.startswith("Here is your data: 3 task(s) and ")
    documents = {d.filename: d.content for d in bot.api.documents}
    assert set(documents) == {"todobot-export.json", "todobot-tasks.csv"}
    data = json.loads(documents["todobot-export.json"])
    stored = stored_tasks(engine)
    assert len(data["tasks"]) == len(stored) == 3
    for exported, row in zip(data["tasks"], stored, strict=True):
        same(exported, row)
    assert data["accounts"][0]["platform"] == "telegram"
    messages = [m for c in data["conversations"] for m in c["messages"]]
    with engine.connect() as conn:  # all but the /export turn's own two, stored after it
        assert len(messages) == conn.execute(text("SELECT count(*) FROM messages")
                                             ).scalar_one() - 2
    rows = list(csv.DictReader(io.StringIO(documents["todobot-tasks.csv"].decode())))
    assert [r["title"] for r in rows] == [t["title"] for t in data["tasks"]]
    assert list(rows[0]) == list(TASK_FIELDS)


def test_no_export_where_others_can_read_it(tg_any_db: TelegramBot) -> None:
    bot = tg_any_db
    telegram(bot, "/add buy milk")

    assert bot.post(group_text("/export@ai999_bot"))["statusCode"] == 200

    assert bot.api.documents == []
    assert "private chat" in bot.api.sent_texts()[-1]


def test_slack_export_uploads_into_the_persons_dm(slack: SlackHarness, engine: Engine) -> None:
    slack_command(slack, "add pay rent on friday")
    slack_command(slack, "add book flights")

    answer = slack_command(slack, "export")

    assert answer["text"].startswith("Here is your data: 2 task(s)")
    uploads = slack.fake.uploads
    assert {u.filename for u in uploads} == {"todobot-export.json", "todobot-tasks.csv"}
    assert {u.channel for u in uploads} == {f"D{SLACK_USER}"}  # never the command's channel
    (opened,) = slack.fake.calls_to("conversations.open")
    assert opened.params["users"] == SLACK_USER
    data = json.loads(next(u.content for u in uploads if u.filename.endswith(".json")))
    assert data["accounts"] == [{"platform": "slack", "workspace": TEAM,
                                 "user_id": SLACK_USER, "since": data["accounts"][0]["since"]}]
    for exported, row in zip(data["tasks"], stored_tasks(engine), strict=True):
        same(exported, row)
    assert "conversations" not in data


def test_a_refused_document_is_sent_again_and_the_words_come_after_the_files(
        tg_any_db: TelegramBot) -> None:
    bot = tg_any_db
    telegram(bot, "/add buy milk")
    bot.api.fail_next("sendDocument", 429, "Too Many Requests: retry after 1", retry_after=1)

    telegram(bot, "/export")

    assert [d.filename for d in bot.api.documents] == ["todobot-export.json",
                                                       "todobot-tasks.csv"]  # once each
    order = [c.method for c in bot.api.calls if c.method in ("sendDocument", "sendMessage")]
    assert order[-3:] == ["sendDocument", "sendDocument", "sendMessage"]
    assert bot.api.sent_texts()[-1].startswith("Here is your data")
    assert bot.unsent() == 0


def test_a_failed_slack_upload_is_retried_before_anything_is_said(slack: SlackHarness) -> None:
    from tests.fakes.slack_api import ratelimited

    slack_command(slack, "add pay rent")
    slack.fake.script("files.getUploadURLExternal", ratelimited(1))

    answer = slack_command(slack, "export")

    assert answer["text"].startswith("Here is your data")
    assert len(slack.fake.uploads) == 2
    statuses = slack.fake.statuses("files.getUploadURLExternal")
    assert statuses[0] == 429 and set(statuses[1:]) == {200}
    first_words = min(e.at for e in slack.fake.exchanges_with("response_url")
                      if e.hook_post and "Here is your data" in str(e.hook_post.message))
    shared = slack.fake.exchanges_with("files.completeUploadExternal")
    assert shared and all(e.at < first_words for e in shared)
