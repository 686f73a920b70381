"""A command in a chat whose LLM turn is still running says "busy" within Slack's 3 s instead
of hanging (PostgreSQL: the chat lock is an advisory lock)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import Engine

from tests.conftest import count
from tests.fakes.http import FakeResponse
from tests.fakes.openai_server import FakeOpenAI, says
from tests.slack.harness import SlackHarness


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_command_while_the_chats_llm_turn_runs_says_busy(
    slack: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch,
    reset_slack: Callable[[], None],
) -> None:
    release = threading.Event()
    thinking = threading.Event()

    def slow(_request: object) -> FakeResponse:
        thinking.set()
        release.wait(20)
        return says("Here you go.")(_request)  # type: ignore[arg-type]

    with FakeOpenAI() as llm:
        llm.default = slow
        monkeypatch.setenv("OPENAI_BASE_URL", llm.base_url)
        monkeypatch.setenv("LLM_MAX_RETRIES", "0")
        reset_slack()
        dm = threading.Thread(target=slack.dm, args=("what should I do first?",),
                              kwargs={"user": "W111"})
        dm.start()
        try:
            assert thinking.wait(10)
            team, channel = _dm_team_and_channel()
            response = slack.command("add Buy milk", user="W111", channel=channel, team=team)
        finally:
            release.set()
            dm.join(20)
    assert response["statusCode"] == 200
    assert "still working on your previous message" in response["body"]
    assert count(engine, "tasks") == 0


def _dm_team_and_channel() -> tuple[str, str]:
    """The DM fixture's workspace and IM channel: the same chat as the DM turn."""
    from tests.slack.harness import fixture_json

    payload = fixture_json("event_callback_message_im_docs.json")
    return str(payload["team_id"]), str(payload["event"]["channel"])
