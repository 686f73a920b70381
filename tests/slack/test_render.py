"""Reply -> Block Kit: escaping, command spelling, splitting within Slack's limits."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bot_core.reply import Reply, TaskView, actions_for
from handlers.slack.inbound import decode_action
from handlers.slack.render import (
    MAX_HOME_BLOCKS,
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_CHARS,
    action_id_for,
    escape_mrkdwn,
    render_home,
    render_reply,
    render_single,
    slack_spelling,
    split_escaped,
)

OWNER = "U0OWNER"


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _list(n: int, view: str = "open") -> Reply:
    tasks = tuple(TaskView(number=i, title=f"Task {i}") for i in range(1, n + 1))
    return Reply(text="Your open tasks:", tasks=tasks, actions=actions_for(tasks, "open"),
                 view="open")


def test_escape_the_three_control_characters() -> None:
    assert escape_mrkdwn("a & b < c > d <!here> &amp;") == (
        "a &amp; b &lt; c &gt; d &lt;!here&gt; &amp;amp;")


def test_core_command_names_are_spelled_as_todo_subcommands() -> None:
    assert slack_spelling("Use /add <title>, /list all or /done 3. Not a/b or http://x/list") == (
        "Use /todo add <title>, /todo list all or /todo done 3. Not a/b or http://x/list")


def test_long_text_splits_into_sections_within_3000_chars_without_losing_a_character() -> None:
    text = ("word & <tag> " * 700) + "\n" + ("x" * 7000) + "\nend"
    pieces = split_escaped(text)
    assert len(pieces) > 3
    assert all(0 < len(p) <= MAX_SECTION_CHARS for p in pieces)
    assert "".join(_unescape(p) for p in pieces).replace(" ", "").replace("\n", "") == (
        text.replace(" ", "").replace("\n", ""))


@given(st.text(alphabet="ab &<>\n", max_size=8000))
def test_split_never_breaks_an_entity(text: str) -> None:
    pieces = split_escaped(text, limit=50)
    for piece in pieces:
        assert 0 < len(piece) <= 50
        assert re.fullmatch(r"([^&]|&amp;|&lt;|&gt;)*", piece, re.DOTALL), piece
    kept = "".join(_unescape(p) for p in pieces)
    assert re.sub(r"\s", "", kept) == re.sub(r"\s", "", text)


def test_messages_stay_within_50_blocks_and_keep_a_tasks_buttons_with_it() -> None:
    messages = render_reply(_list(60), OWNER)
    assert len(messages) == 3
    for message in messages:
        assert len(message.blocks) <= MAX_MESSAGE_BLOCKS
        assert message.blocks[-1]["type"] == "actions"
        assert message.text
    numbers = [b["block_id"] for m in messages for b in m.blocks if b["type"] == "actions"]
    assert numbers == [f"task-{n}" for n in range(1, 61)]


def test_a_long_answer_splits_into_several_messages() -> None:
    messages = render_reply(Reply(text="y" * (MAX_SECTION_CHARS * 60)), OWNER)
    assert len(messages) == 2
    assert [len(m.blocks) for m in messages] == [50, 10]


def test_single_message_for_a_button_press_summarises_what_does_not_fit() -> None:
    message = render_single(_list(40), OWNER)
    assert len(message.blocks) <= MAX_MESSAGE_BLOCKS
    assert "16 more" in message.blocks[-1]["elements"][0]["text"]


def test_home_view_within_100_blocks() -> None:
    view = render_home(_list(80), OWNER)
    assert view["type"] == "home"
    assert len(view["blocks"]) <= MAX_HOME_BLOCKS
    assert any("more" in str(b) for b in view["blocks"][-2:])


def test_task_titles_are_escaped_and_completed_ones_struck() -> None:
    tasks = (TaskView(number=1, title="<@U1> & co", completed=True,
                      description="see <https://x>"),)
    (message,) = render_reply(Reply(text="All your tasks:", tasks=tasks,
                                    actions=actions_for(tasks, "all"), view="all"), OWNER)
    assert message.blocks[1]["text"]["text"] == "☑ *#1* ~&lt;@U1&gt; &amp; co~\nsee &lt;https://x&gt;"


def test_action_ids_round_trip() -> None:
    for action in actions_for((TaskView(number=12, title="t"),
                               TaskView(number=3, title="u", completed=True)), "done"):
        decoded = decode_action(action_id_for(action))
        assert decoded is not None
        assert (decoded.kind, decoded.number, decoded.view) == (
            action.kind, action.number, action.view)
    assert decode_action("todo:explode:1:open") is None
    assert decode_action("a") is None


def test_at_most_five_messages_then_a_summary() -> None:
    messages = render_reply(_list(200), OWNER)
    assert len(messages) == 5
    assert all(len(m.blocks) <= MAX_MESSAGE_BLOCKS for m in messages)
    shown = sum(1 for m in messages for b in m.blocks if b["type"] == "actions")
    hint = messages[-1].blocks[-1]["elements"][0]["text"]
    assert hint == f"…and {200 - shown} more tasks not shown here."
