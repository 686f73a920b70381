"""SLACK_ALLOWED_TEAMS through ``handler()``, on both databases: an allowed team (or Enterprise
Grid org) is served; a person from any other team gets one short answer — ephemeral through the
command's response_url, or in the DM / thread for a message — however often they write, and
nothing else is stored about them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from bot_core.strangers import STRANGER_TEXT
from tests.conftest import count
from tests.fakes.openai_server import FakeOpenAI, says
from tests.slack.harness import SlackHarness, fixture_json

ALLOWED = "T0ALLOWED"
PEOPLE_TABLES = ("users", "chat_identities", "conversations", "messages", "tasks",
                 "delivery_claims", "rate_counts")


@pytest.fixture
def limited(slack: SlackHarness, llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
            reset_slack: Callable[[], None]) -> SlackHarness:
    """Only ``ALLOWED`` and the DM fixture's team (T123ABC456) may talk; the fake model is the
    brain (every request it gets is a model call)."""
    monkeypatch.setenv("SLACK_ALLOWED_TEAMS", f"{ALLOWED},T123ABC456")
    llm.default = says("Sure.")
    reset_slack()
    return slack


def _nothing_about_people(engine: Engine) -> None:
    for table in PEOPLE_TABLES:
        assert count(engine, table) == 0, table


def test_a_command_from_another_team_is_answered_once_ephemerally(
        limited: SlackHarness, engine: Engine, llm: FakeOpenAI) -> None:
    for text in ("add milk", "list", "remind me to call mom", "help", "what's open?"):
        response = limited.command(text, team="T0OTHER")
        assert response["statusCode"] == 200
        assert response.get("body", "") == ""

    first, *later = limited.response_urls
    (answer,) = limited.answers(first)
    assert answer["text"] == STRANGER_TEXT
    assert answer["response_type"] == "ephemeral"
    assert all(limited.fake.hook_posts_to(url) == [] for url in later)
    assert limited.fake.calls_to("chat.postMessage") == []
    assert count(engine, "strangers") == 1
    assert count(engine, "strangers", "platform = 'slack' AND workspace = 'T0OTHER' "
                 "AND external_id = 'W111'") == 1
    assert count(engine, "outbox") == 1
    _nothing_about_people(engine)
    assert llm.requests == 0


def test_a_message_from_another_team_gets_at_most_one_answer(
        limited: SlackHarness, engine: Engine, llm: FakeOpenAI) -> None:
    for text in ("add milk", "hello?", "anyone?"):  # the mention fixture's org: E111 / T111
        assert limited.mention(text, user="W222")["statusCode"] == 200
    limited.press("todo:done:1:open", user="W222")  # same person: already answered

    posts = limited.fake.accepted("chat.postMessage")
    assert [post.params.get("text") for post in posts] == [STRANGER_TEXT]
    assert limited.fake.hook_posts == []
    assert count(engine, "strangers") == 1 and count(engine, "outbox") == 1
    _nothing_about_people(engine)
    assert llm.requests == 0


def test_a_strangers_button_press_is_answered_to_them_only_and_home_is_not_drawn(
        limited: SlackHarness, engine: Engine) -> None:
    limited.press("todo:done:1:open", user="W333")  # the fixture's org: E111 / T111
    (answer,) = limited.answers()
    assert answer["text"] == STRANGER_TEXT
    assert answer.get("replace_original") is not True  # the list it was under stays

    home = fixture_json("event_callback_app_mention_bolt.json")  # E111 / T111 again
    home["event"] = {"type": "app_home_opened", "user": "W444", "channel": "D0HOME",
                     "tab": "home", "event_ts": "1595926230.009600"}
    home["event_id"] = "EvHOMESTRANGER"
    assert limited.send_json(home)["statusCode"] == 200
    assert limited.fake.calls_to("views.publish") == []
    assert count(engine, "strangers") == 1 and count(engine, "outbox") == 1
    _nothing_about_people(engine)


def test_an_allowed_team_is_served(limited: SlackHarness, engine: Engine,
                                   llm: FakeOpenAI) -> None:
    limited.command("add milk", team=ALLOWED)
    (answer,) = limited.answers()
    assert STRANGER_TEXT not in str(answer)
    assert count(engine, "tasks") == 1

    limited.dm("what's open?")  # T123ABC456
    assert llm.requests == 1
    assert count(engine, "strangers") == 0


def test_an_allowed_enterprise_org_is_served(slack: SlackHarness, engine: Engine,
                                             monkeypatch: pytest.MonkeyPatch,
                                             reset_slack: Callable[[], None]) -> None:
    monkeypatch.setenv("SLACK_ALLOWED_TEAMS", "E111")
    reset_slack()
    slack.command("add milk")  # the fixture's Enterprise Grid org E111, team T111
    slack.mention("add eggs")

    assert count(engine, "tasks") == 2
    assert count(engine, "strangers") == 0


def test_unset_list_lets_every_team_in(slack: SlackHarness, engine: Engine) -> None:
    slack.command("add milk", team="T0ANY")

    assert count(engine, "tasks") == 1
    assert count(engine, "strangers") == 0
