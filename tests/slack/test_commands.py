"""``/todo`` and its subcommands through handler(): acknowledged with an empty body, answered
ephemerally through the command's response_url (by the time handler() returns, with the
in-process queue), stored as the core's turns."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from handlers.slack.app import NOT_TAKEN
from tests.conftest import count
from tests.slack.harness import SlackHarness

DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


def _answers(slack: SlackHarness, text: str, **options: Any) -> list[dict[str, Any]]:
    """``/todo <text>``: the ack is empty (nothing to show in it); what the command's
    response_url received, every message ephemeral."""
    response = slack.command(text, **options)
    assert response["statusCode"] == 200
    assert response.get("body", "") == ""
    messages = slack.answers()
    assert messages, f"/todo {text} was not answered"
    assert all(m["response_type"] == "ephemeral" and m["replace_original"] is False
               for m in messages)
    return messages


def _answer(slack: SlackHarness, text: str, **options: Any) -> dict[str, Any]:
    """``/todo <text>`` answered in one message."""
    (message,) = _answers(slack, text, **options)
    return message


def _texts(body: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in body.get("blocks", []) if b["type"] == "section"]


def test_subcommands_run_the_core_commands(slack: SlackHarness, engine: Engine) -> None:
    assert _answer(slack, "add Buy milk")["text"] == "Added #1: Buy milk"
    assert _answer(slack, "add Call mom")["text"] == "Added #2: Call mom"
    listed = _answer(slack, "")  # /todo alone: the open list
    assert _texts(listed) == ["Your open tasks:", "☐ *#1* Buy milk", "☐ *#2* Call mom"]
    assert _answer(slack, "done 1")["text"] == "Done: #1 Buy milk"
    assert "#1" in _answer(slack, "undo 1")["text"]
    assert "Call mom tonight" in _answer(slack, "edit 2 Call mom tonight")["text"]
    assert "#1" in _answer(slack, "delete 1")["text"]
    assert _texts(_answer(slack, "list all"))[1:] == ["☐ *#2* Call mom tonight"]
    assert "/todo add" in _answer(slack, "help")["text"]
    assert "fresh conversation" in _answer(slack, "new")["text"]
    assert count(engine, "conversations") == 2  # /new started a second one
    assert count(engine, "tasks") == 1
    # One ephemeral answer per command, each at its own response_url; nothing else said.
    assert slack.fake.summary() == ["response_url"] * 10
    assert count(engine, "outbox", "sent_at IS NOT NULL") == 10


def test_command_list_has_buttons_encoding_kind_number_and_view(slack: SlackHarness) -> None:
    slack.command("add Buy milk")
    slack.command("add Old thing")
    slack.command("done 2")
    body = _answer(slack, "list all")
    buttons = [e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [
        ("todo:done:1:all", "Done #1"), ("todo:delete:1:all", "Delete #1"),
        ("todo:undo:2:all", "Reopen #2"), ("todo:delete:2:all", "Delete #2"),
    ]
    assert all(b["value"] == f"{b['action_id']}:W111" for b in buttons)


def test_free_text_goes_to_the_brain_and_answers_through_response_url(
    slack: SlackHarness, engine: Engine
) -> None:
    (message,) = _answers(slack, "remind me to renew my passport")
    (post,) = slack.fake.hook_posts
    assert slack.last_response_url.endswith(post.path)
    assert "renew my passport" in message["text"]
    assert count(engine, "tasks", "title = 'renew my passport'") == 1


def test_long_list_is_split_across_messages_in_order(slack: SlackHarness, engine: Engine) -> None:
    for n in range(1, 31):
        slack.command(f"add Task number {n}")
    posts = _answers(slack, "list")
    assert len(posts) == 2
    assert [p["text"] for p in posts][1:] == ["(continued)"]
    assert all(len(p["blocks"]) <= 50 for p in posts)
    numbers = [b["block_id"] for p in posts for b in p["blocks"] if b["type"] == "actions"]
    assert numbers == [f"task-{n}" for n in range(1, 31)]


def test_mrkdwn_is_escaped(slack: SlackHarness, engine: Engine) -> None:
    body = _answer(slack, "add <!channel> pay Tom & Jerry > 5 <https://evil|click>")
    assert body["text"] == (
        "Added #1: &lt;!channel&gt; pay Tom &amp; Jerry &gt; 5 &lt;https://evil|click&gt;"
    )
    assert count(engine, "tasks", "title = :t",
                 t="<!channel> pay Tom & Jerry > 5 <https://evil|click>") == 1


def test_redelivered_trigger_runs_once(slack: SlackHarness, engine: Engine) -> None:
    first = _answer(slack, "add Once", trigger="42.42.same")
    second = slack.command("add Once", trigger="42.42.same")
    assert second["statusCode"] == 200
    assert count(engine, "tasks") == 1
    assert slack.answers() == []  # the redelivery is not answered again
    assert first["text"] == "Added #1: Once"


def test_database_outage_is_told_to_the_user(
    slack: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch, reset_slack: object
) -> None:
    """Slack never retries a slash command: a 5xx would only show "dispatch_failed". With the
    in-process queue the turn runs inside the enqueue, so a database that is down makes the
    enqueue fail and the ack itself tells the user that nothing was saved."""
    monkeypatch.setenv("DATABASE_URL", DEAD_DATABASE)
    reset_slack()  # type: ignore[operator]
    for text in ("add Buy milk", "what is due today?"):  # a command, and a brain turn
        response = slack.command(text)
        assert response["statusCode"] == 200
        body = json.loads(response["body"])
        assert body["response_type"] == "ephemeral"
        assert body["text"] == NOT_TAKEN
        assert "nothing was saved" in body["text"]
    assert slack.fake.summary() == []  # nothing else was said, nothing half-done
    assert count(engine, "tasks") == 0 and count(engine, "messages") == 0
