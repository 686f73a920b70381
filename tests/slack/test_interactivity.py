"""Buttons under lists (block_actions), the App Home tab and the "Add as task" shortcut."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.conftest import count
from tests.slack.harness import SlackHarness, fixture_json, interactivity_body

DEAD_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
HOME_CONTAINER = {"type": "view", "view_id": "V0HOME"}


def _sections(blocks: list[dict[str, Any]]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] == "section"]


def _buttons(blocks: list[dict[str, Any]]) -> list[str]:
    return [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]


def test_done_button_runs_the_command_and_replaces_the_message(
    slack: SlackHarness, engine: Engine
) -> None:
    slack.command("add Buy milk")
    slack.command("add Call mom")
    response = slack.press("todo:done:1:open")
    assert response["statusCode"] == 200
    assert response.get("body", "") == ""
    (post,) = slack.fake.hook_posts_to(slack.last_response_url)
    assert post.message["replace_original"] is True
    assert _sections(post.message["blocks"]) == [
        "Done: #1 Buy milk\nYour open tasks:", "☐ *#2* Call mom"]
    assert _buttons(post.message["blocks"]) == ["todo:done:2:open", "todo:delete:2:open"]
    assert count(engine, "tasks", "completed = :c", c=True) == 1
    assert count(engine, "messages", "role = 'user' AND content = '/done 1'") == 1


def test_reopen_and_delete_buttons(slack: SlackHarness, engine: Engine) -> None:
    slack.command("add Buy milk")
    slack.command("done 1")
    slack.press("todo:undo:1:all")
    assert count(engine, "tasks", "completed = :c", c=False) == 1
    slack.press("todo:delete:1:all")
    assert count(engine, "tasks") == 0
    last = slack.fake.hook_posts[-1].message
    assert last["replace_original"] is True
    assert "Your list is empty" in last["text"]


def test_button_for_someone_elses_task_is_not_found(slack: SlackHarness, engine: Engine) -> None:
    slack.command("add Mine", user="W111")
    slack.press("todo:delete:1:open", user="W999")
    assert count(engine, "tasks") == 1
    assert "can't find task #1" in slack.fake.hook_posts[-1].message["text"]


def test_same_press_delivered_twice_runs_once(slack: SlackHarness, engine: Engine) -> None:
    slack.command("add Buy milk")
    slack.press("todo:done:1:open", trigger="7.7.same")
    assert len(slack.answers()) == 1
    slack.press("todo:undo:1:open", trigger="7.7.same")  # same trigger_id: a redelivery
    assert count(engine, "tasks", "completed = :c", c=True) == 1
    assert slack.fake.hook_posts_to(slack.last_response_url) == []
    assert slack.fake.summary() == ["response_url"] * 2  # the command's and the first press's


def test_unknown_button_is_acknowledged_and_ignored(slack: SlackHarness, engine: Engine) -> None:
    assert slack.press("something_else")["statusCode"] == 200
    assert slack.fake.summary() == [] and count(engine, "users") == 0


def test_button_during_database_outage_tells_the_user(
    slack: SlackHarness, monkeypatch: pytest.MonkeyPatch, reset_slack: object
) -> None:
    monkeypatch.setenv("DATABASE_URL", DEAD_DATABASE)
    reset_slack()  # type: ignore[operator]
    assert slack.press("todo:done:1:open")["statusCode"] == 200
    (post,) = slack.fake.hook_posts
    assert post.message["replace_original"] is False
    assert "nothing was saved" in post.message["text"]


# -- App Home --------------------------------------------------------------------------------


def _home_opened(user: str = "W111", tab: str = "home") -> dict[str, Any]:
    payload = fixture_json("event_callback_app_mention_bolt.json")
    payload["event"] = {"type": "app_home_opened", "user": user, "channel": "D0HOME",
                        "tab": tab, "event_ts": "1595926230.009600"}
    payload["event_id"] = f"EvHOME{tab}{user}"
    return payload


def test_app_home_shows_open_tasks_with_buttons(slack: SlackHarness, engine: Engine) -> None:
    slack.command("add Buy milk")
    slack.command("add Call <mom>")
    slack.command("done 1")
    messages_before = count(engine, "messages")
    assert slack.send_json(_home_opened())["statusCode"] == 200
    (publish,) = slack.fake.calls_to("views.publish")
    assert publish.params["user_id"] == "W111"
    view = publish.params["view"]
    assert view["type"] == "home"
    assert "☐ *#2* Call &lt;mom&gt;" in _sections(view["blocks"])
    assert _buttons(view["blocks"]) == ["todo:done:2:open", "todo:delete:2:open"]
    assert count(engine, "messages") == messages_before  # a glance is not a turn


def test_app_home_first_visit_creates_the_user_and_shows_the_empty_list(
    slack: SlackHarness, engine: Engine
) -> None:
    slack.send_json(_home_opened(user="W555"))
    (publish,) = slack.fake.calls_to("views.publish")
    assert any("Nothing open" in s for s in _sections(publish.params["view"]["blocks"]))
    assert count(engine, "chat_identities", "external_user_id = 'W555'") == 1


def test_messages_tab_does_not_publish(slack: SlackHarness) -> None:
    assert slack.send_json(_home_opened(tab="messages"))["statusCode"] == 200
    assert slack.fake.methods == []


def test_button_in_app_home_republishes_the_home(slack: SlackHarness, engine: Engine) -> None:
    slack.command("add Buy milk")
    slack.command("add Call mom")
    assert slack.press("todo:done:1:open", container=HOME_CONTAINER)["statusCode"] == 200
    assert slack.fake.hook_posts_to(slack.last_response_url) == []
    (publish,) = slack.fake.calls_to("views.publish")
    blocks = publish.params["view"]["blocks"]
    assert _buttons(blocks) == ["todo:done:2:open", "todo:delete:2:open"]
    assert "Done: #1 Buy milk" in _sections(blocks)[0]
    assert count(engine, "tasks", "completed = :c", c=True) == 1


# -- message shortcut -----------------------------------------------------------------------


def _shortcut(slack: SlackHarness, text: str) -> dict[str, Any]:
    """A message_action payload in the shape Slack documents for message shortcuts."""
    return {
        "type": "message_action",
        "token": "verification_token",
        "action_ts": "1607081569.852971",
        "team": {"id": "T111", "domain": "workspace-domain"},
        "user": {"id": "W111", "username": "primary-owner", "name": "primary-owner",
                 "team_id": "T111"},
        "channel": {"id": "C111", "name": "general"},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": "add_as_task",
        "trigger_id": "111.222.shortcut",
        "response_url": slack.fake.hook_url("app/T111/123/xyz"),
        "message_ts": "1607081565.000100",
        "message": {"type": "message", "user": "W222", "ts": "1607081565.000100",
                    "text": text},
    }


def test_add_as_task_shortcut_links_back_to_the_message(
    slack: SlackHarness, engine: Engine
) -> None:
    text = "Please review the <https://example.com/doc|design doc> &amp; reply\nby Friday"
    response = slack.send_form(interactivity_body(_shortcut(slack, text)))
    assert response["statusCode"] == 200
    (permalink,) = slack.fake.calls_to("chat.getPermalink")
    assert permalink.params["channel"] == "C111"
    assert permalink.params["message_ts"] == "1607081565.000100"
    link = "https://example.slack.com/archives/C111/p1607081565000100"
    assert count(engine, "tasks", "title = :t AND description LIKE :d",
                 t="Please review the design doc (https://example.com/doc) & reply",
                 d=f"From Slack: {link}%by Friday") == 1
    (post,) = slack.fake.hook_posts
    assert post.message["response_type"] == "ephemeral"
    assert post.message["text"].startswith("Added #1: Please review")


def test_shortcut_without_permalink_access_uses_the_documented_link_shape(
    slack: SlackHarness, engine: Engine
) -> None:
    slack.fake.fail("chat.getPermalink", "channel_not_found")
    slack.send_form(interactivity_body(_shortcut(slack, "x" * 300)))
    link = "https://workspace-domain.slack.com/archives/C111/p1607081565000100"
    assert count(engine, "tasks", "length(title) = 200 AND description LIKE :d",
                 d=f"From Slack: {link}%") == 1


def test_unknown_shortcut_is_acknowledged(slack: SlackHarness, engine: Engine) -> None:
    payload = _shortcut(slack, "hello")
    payload["callback_id"] = "something_else"
    assert slack.send_form(interactivity_body(payload))["statusCode"] == 200
    assert count(engine, "tasks") == 0


def test_ssl_check_is_answered(slack: SlackHarness) -> None:
    body = "ssl_check=1&token=verification_token"
    assert slack.send_form(body)["statusCode"] == 200
    assert json.dumps(slack.fake.calls) == "[]"


def test_a_button_under_someone_elses_list_is_refused(slack: SlackHarness, engine: Engine) -> None:
    # Alice's list was shown in a channel thread; Bob presses "Delete #1" under it. Without the
    # owner check this deleted Bob's own #1 and replaced Alice's message with Bob's list.
    slack.command("add Alice's task", user="W111")
    slack.command("add Bob's task", user="W999")
    slack.press("todo:delete:1:open", user="W999", owner="W111")
    assert count(engine, "tasks") == 2
    (last,) = slack.answers()  # at the press's own response_url: to Bob only
    assert last["replace_original"] is False
    assert last["response_type"] == "ephemeral"
    assert "belongs to someone else" in last["text"]
    assert count(engine, "messages", "content = '/delete 1'") == 0


def test_a_button_without_an_owner_is_refused(slack: SlackHarness, engine: Engine) -> None:
    slack.command("add Mine", user="W111")
    payload = fixture_json("block_actions.json")
    payload["response_url"] = slack.fake.hook_url(kind="actions")
    payload["user"]["id"] = "W111"
    payload["actions"][0].update(action_id="todo:delete:1:open", value="todo:delete:1:open")
    slack.send_form(interactivity_body(payload))
    assert count(engine, "tasks") == 1
    (refusal,) = [p.message for p in slack.fake.hook_posts_to(payload["response_url"])]
    assert "belongs to someone else" in refusal["text"]
