"""``/todo`` and its subcommands through handler(): answered ephemerally in the ack (one
message) or through response_url (longer lists, LLM turns), stored as the core's turns."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.conftest import count
from tests.slack.harness import SlackHarness

DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


def _ack(response: dict[str, Any]) -> dict[str, Any]:
    assert response["statusCode"] == 200
    body: dict[str, Any] = json.loads(response["body"])
    assert body.get("response_type") == "ephemeral"
    return body


def _texts(body: dict[str, Any]) -> list[str]:
    return [b["text"]["text"] for b in body.get("blocks", []) if b["type"] == "section"]


def test_subcommands_run_the_core_commands(slack: SlackHarness, engine: Engine) -> None:
    assert _ack(slack.command("add Buy milk"))["text"] == "Added #1: Buy milk"
    assert _ack(slack.command("add Call mom"))["text"] == "Added #2: Call mom"
    listed = _ack(slack.command(""))  # /todo alone: the open list
    assert _texts(listed) == ["Your open tasks:", "☐ *#1* Buy milk", "☐ *#2* Call mom"]
    assert _ack(slack.command("done 1"))["text"] == "Done: #1 Buy milk"
    assert "#1" in _ack(slack.command("undo 1"))["text"]
    assert "Call mom tonight" in _ack(slack.command("edit 2 Call mom tonight"))["text"]
    assert "#1" in _ack(slack.command("delete 1"))["text"]
    assert _texts(_ack(slack.command("list all")))[1:] == ["☐ *#2* Call mom tonight"]
    assert "/todo add" in _ack(slack.command("help"))["text"]
    assert "fresh conversation" in _ack(slack.command("new"))["text"]
    assert count(engine, "conversations") == 2  # /new started a second one
    assert count(engine, "tasks") == 1
    assert slack.fake.summary() == []  # all answered in the acks


def test_command_list_has_buttons_encoding_kind_number_and_view(slack: SlackHarness) -> None:
    slack.command("add Buy milk")
    slack.command("add Old thing")
    slack.command("done 2")
    body = _ack(slack.command("list all"))
    buttons = [e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [(b["action_id"], b["text"]["text"]) for b in buttons] == [
        ("todo:done:1:all", "Done #1"), ("todo:delete:1:all", "Delete #1"),
        ("todo:undo:2:all", "Reopen #2"), ("todo:delete:2:all", "Delete #2"),
    ]
    assert all(b["value"] == f"{b['action_id']}:W111" for b in buttons)


def test_free_text_goes_to_the_brain_and_answers_through_response_url(
    slack: SlackHarness, engine: Engine
) -> None:
    response = slack.command("remind me to renew my passport")
    assert response["statusCode"] == 200
    assert response["body"] == ""  # acknowledged; the answer follows via response_url
    (post,) = slack.fake.hook_posts
    assert post.path == "/hooks/commands/T111/111/xxxxx"
    assert post.message["response_type"] == "ephemeral"
    assert "renew my passport" in post.message["text"]
    assert count(engine, "tasks", "title = 'renew my passport'") == 1


def test_long_list_is_split_across_messages_in_order(slack: SlackHarness, engine: Engine) -> None:
    for n in range(1, 31):
        slack.command(f"add Task number {n}")
    response = slack.command("list")
    assert response["statusCode"] == 200 and response["body"] == ""
    posts = [p.message for p in slack.fake.hook_posts]
    assert len(posts) == 2
    assert all(len(p["blocks"]) <= 50 for p in posts)
    numbers = [b["block_id"] for p in posts for b in p["blocks"] if b["type"] == "actions"]
    assert numbers == [f"task-{n}" for n in range(1, 31)]


def test_mrkdwn_is_escaped(slack: SlackHarness, engine: Engine) -> None:
    body = _ack(slack.command("add <!channel> pay Tom & Jerry > 5 <https://evil|click>"))
    assert body["text"] == (
        "Added #1: &lt;!channel&gt; pay Tom &amp; Jerry &gt; 5 &lt;https://evil|click&gt;"
    )
    assert count(engine, "tasks", "title = :t",
                 t="<!channel> pay Tom & Jerry > 5 <https://evil|click>") == 1


def test_redelivered_trigger_runs_once(slack: SlackHarness, engine: Engine) -> None:
    slack.command("add Once", trigger="42.42.same")
    second = slack.command("add Once", trigger="42.42.same")
    assert second["statusCode"] == 200
    assert count(engine, "tasks") == 1


def test_database_outage_is_told_to_the_user(
    slack: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch, reset_slack: object
) -> None:
    """Slack never retries a slash command: a 5xx would only show "dispatch_failed", so the
    user is told that nothing was saved and can try again."""
    monkeypatch.setenv("DATABASE_URL", DEAD_DATABASE)
    reset_slack()  # type: ignore[operator]
    body = _ack(slack.command("add Buy milk"))
    assert "nothing was saved" in body["text"]
    response = slack.command("what is due today?")  # deferred turn, inline here
    assert response["statusCode"] == 200
    (post,) = slack.fake.hook_posts
    assert "nothing was saved" in post.message["text"]
    assert count(engine, "tasks") == 0
