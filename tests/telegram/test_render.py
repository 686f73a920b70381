"""Reply -> Telegram HTML, split and keyboard; callback_data encoding. Pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot_core.inbound import ButtonAction
from bot_core.reply import Reply, TaskView, actions_for
from handlers.telegram import buttons as telegram_buttons
from handlers.telegram.render import MAX_BUTTON_ROWS, render, utf16_len
from tests.fakes.telegram_api import visible_text


def test_html_is_escaped_and_stays_valid_for_telegram() -> None:
    task = TaskView(number=3, title="<b>Fish & chips</b> </i>", description="a < b > c &amp;")
    reply = Reply(text="Your <open> tasks & more:", tasks=(task,))

    rendered = render(reply, owner=1)

    (html,) = rendered.html
    assert "&lt;b&gt;Fish &amp; chips&lt;/b&gt; &lt;/i&gt;" in html
    assert "a &lt; b &gt; c &amp;amp;" in html
    assert visible_text(html, "HTML") == rendered.plain[0]
    assert rendered.plain[0] == ("Your <open> tasks & more:\n☐ #3 <b>Fish & chips</b> </i>\n"
                                 "    a < b > c &amp;")


def test_completed_tasks_are_struck_through() -> None:
    reply = Reply(text="All:", tasks=(TaskView(number=1, title="Done", completed=True),))
    assert render(reply, owner=1).html[0] == "All:\n☑ <b>#1</b> <s>Done</s>"


def test_long_replies_are_split_between_lines_within_4096() -> None:
    tasks = tuple(TaskView(number=n, title=f"{n} " + "x" * 190) for n in range(1, 61))
    reply = Reply(text="Your open tasks:", tasks=tasks, actions=actions_for(tasks, "open"))

    rendered = render(reply, owner=1)

    assert len(rendered.html) == 3
    for html, plain in zip(rendered.html, rendered.plain, strict=True):
        shown = visible_text(html, "HTML")
        assert shown == plain
        assert utf16_len(shown) <= 4096
    lines = "\n".join(rendered.plain).split("\n")
    assert lines == ["Your open tasks:"] + [f"☐ #{n} {n} " + "x" * 190 for n in range(1, 61)]


def test_splitting_counts_utf16_units_like_telegram() -> None:
    line = "🎉" * 1500  # 3000 UTF-16 units, 1500 characters
    reply = Reply(text=f"{line}\n{line}")

    rendered = render(reply, owner=1)

    assert rendered.plain == (line, line)


def test_a_single_line_longer_than_a_message_is_cut_at_spaces() -> None:
    words = " ".join(f"word{n}" for n in range(1500))  # 12,389 characters, one line

    rendered = render(Reply(text=words), owner=1)

    assert len(rendered.plain) == 4
    assert all(utf16_len(chunk) > 4000 for chunk in rendered.plain[:3])
    assert all(utf16_len(chunk) <= 4096 for chunk in rendered.plain)
    assert " ".join(rendered.plain).split() == words.split()


@given(st.text(min_size=1, max_size=9000))
def test_any_text_renders_to_valid_html_within_limits(text: str) -> None:
    rendered = render(Reply(text=text), owner=1)

    for html, plain in zip(rendered.html, rendered.plain, strict=True):
        assert visible_text(html, "HTML") == plain
        assert utf16_len(plain) <= 4096
    assert "".join(rendered.plain).replace("\n", "").replace(" ", "") == \
        text.replace("\n", "").replace(" ", "")


def test_editing_in_place_shortens_the_list_to_one_message() -> None:
    tasks = tuple(TaskView(number=n, title="y" * 190) for n in range(1, 61))
    reply = Reply(text="Done: #61 z\nYour open tasks:", tasks=tasks)

    rendered = render(reply, owner=1, single_message=True)

    (plain,) = rendered.plain
    assert utf16_len(plain) <= 4096
    shown = plain.count("☐")
    assert plain.endswith(f"… and {60 - shown} more — /list shows them all.")


def test_keyboard_done_and_delete_for_open_reopen_for_done_one_row_per_task() -> None:
    tasks = (TaskView(number=1, title="a"), TaskView(number=2, title="b", completed=True))
    reply = Reply(text="All:", tasks=tasks, actions=actions_for(tasks, "all"))

    keyboard = render(reply, owner=42).keyboard

    assert [[b.label for b in row] for row in keyboard] == [["Done #1", "Delete #1"],
                                                          ["Reopen #2", "Delete #2"]]
    assert telegram_buttons.decode(keyboard[1][0].data) == telegram_buttons.ButtonPress(
        action=ButtonAction(kind="undo", number=2, view="all"), owner=42)


def test_keyboard_is_capped() -> None:
    tasks = tuple(TaskView(number=n, title="t") for n in range(1, 100))
    keyboard = render(Reply(text="x", tasks=tasks, actions=actions_for(tasks, "open")),
                      owner=1).keyboard
    assert len(keyboard) == MAX_BUTTON_ROWS


@pytest.mark.parametrize("kind", ["done", "undo", "delete"])
@pytest.mark.parametrize("view", ["open", "done", "all"])
def test_callback_data_fits_64_bytes_at_the_extremes(kind: str, view: str) -> None:
    data = telegram_buttons.encode(kind, 99_999_999, view, -1_009_999_999_999)  # type: ignore[arg-type]
    assert len(data.encode()) <= 64
    press = telegram_buttons.decode(data)
    assert press is not None
    assert (press.action.kind, press.action.number, press.action.view, press.owner) == (
        kind, 99_999_999, view, -1_009_999_999_999)


@pytest.mark.parametrize("data", [None, "", "2", "t1:d:3:o", "t1:q:3:o:1", "t1:d:x:o:1",
                                  "t1:d:0:o:1", "t1:d:3:z:1", "t2:d:3:o:1", "t1:d:123456789:o:1",
                                  "t1:d:3:o:abc"])
def test_foreign_or_forged_callback_data_is_not_a_press(data: str | None) -> None:
    assert telegram_buttons.decode(data) is None
