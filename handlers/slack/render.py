"""Reply -> Slack Block Kit: escaped mrkdwn, task lists with buttons, split within Slack limits.

Pure functions, no Slack SDK: what the bot says is decided by the core, how it looks in Slack is
decided here. Slack's limits this module keeps: 3000 characters per section text, 50 blocks per
message, 100 blocks per Home tab view, 75 characters per button label, 255 per action_id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from bot_core.reply import Action, Bucket, Reply, TaskView, home_actions, task_details

Block = dict[str, Any]

MAX_SECTION_CHARS = 3000
MAX_MESSAGE_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_FALLBACK_CHARS = 3000
MAX_MESSAGES = 5
"""A response_url takes at most five messages; more than that would be a flood anyway."""
ACTION_PREFIX = "todo"
SLASH_COMMAND = "/todo"

_COMMAND_MENTION = re.compile(
    r"(?<![\w/])/(add|list|done|undo|edit|delete|new|help|today|upcoming|timezone|digest|usage)\b"
)
_OPEN_MARK = "☐"
_DONE_MARK = "☑"


@dataclass(frozen=True)
class SlackMessage:
    """One Slack message: ``text`` is the notification fallback, ``blocks`` what is shown."""

    text: str
    blocks: list[Block] = field(default_factory=list)


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters.

    Without this, a task titled ``<!channel>`` would ping a whole channel, and ``a<b`` would be
    swallowed as a broken link.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_spelling(text: str) -> str:
    """Core texts name commands as ``/add``; in Slack they are subcommands of ``/todo``."""
    return _COMMAND_MENTION.sub(lambda m: f"{SLASH_COMMAND} {m[1]}", text)


def action_id_for(action: Action) -> str:
    """The button's action_id: ``todo:<kind>:<number>:<view>`` (a snooze adds its preset)."""
    base = f"{ACTION_PREFIX}:{action.kind}:{action.number}:{action.view}"
    return f"{base}:{action.snooze}" if action.kind == "snooze" and action.snooze else base


def button_value(action: Action, owner: str) -> str:
    """The button's value: its action_id plus the Slack user whose list it is, so that a press
    by anybody else (a list shown in a channel thread) is refused instead of acting on the
    presser's own task of the same number."""
    return f"{action_id_for(action)}:{owner}"


def split_escaped(text: str, limit: int = MAX_SECTION_CHARS) -> list[str]:
    """Escape ``text`` and cut it into pieces of at most ``limit`` characters.

    Cuts prefer line breaks, then spaces, and never fall inside an ``&amp;``-style entity.
    """
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        escaped_line = escape_mrkdwn(line)
        candidate = f"{current}\n{escaped_line}" if current else escaped_line
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = ""
        for chunk in _split_long_line(escaped_line, limit):
            if current:
                pieces.append(current)
            current = chunk
    pieces.append(current)
    return [piece for piece in pieces if piece.strip()]


def _split_long_line(escaped: str, limit: int) -> Iterator[str]:
    while len(escaped) > limit:
        cut = escaped.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
            amp = escaped.rfind("&", max(0, cut - 4), cut)
            if amp != -1 and ";" not in escaped[amp:cut]:
                cut = amp  # do not cut an entity in half
        yield escaped[:cut].rstrip()
        escaped = escaped[cut:].lstrip(" ")
    if escaped:
        yield escaped


def fit_escaped(text: str, limit: int) -> str:
    """``text`` escaped and shortened with an ellipsis so that it fits in ``limit``."""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= limit:
        return escaped
    pieces = split_escaped(text.replace("\n", " "), limit - 1)
    return (pieces[0] if pieces else "") + "…"


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _task_text(task: TaskView) -> str:
    mark = _DONE_MARK if task.completed else _OPEN_MARK
    title = fit_escaped(task.title, 400)
    shown = f"~{title}~" if task.completed else title
    line = f"{mark} *#{task.number}* {shown}"
    details = task_details(task)
    if details:
        line += f" _{escape_mrkdwn(details.strip())}_" if not task.overdue else (
            f" *{escape_mrkdwn(details.strip())}*")
    if task.description:
        room = MAX_SECTION_CHARS - len(line) - 1
        line += "\n" + fit_escaped(task.description, room)
    return line


def _button(action: Action, owner: str) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id_for(action),
        "value": button_value(action, owner),
        "text": {"type": "plain_text", "text": action.label[:75], "emoji": True},
    }
    if action.kind == "done":
        button["style"] = "primary"
    if action.kind in ("purge", "forget"):
        button["style"] = "danger"
    if action.kind == "link":
        button["style"] = "primary"
    if action.kind == "forget":
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Delete everything?"},
            "text": {"type": "plain_text",
                     "text": "Your tasks, messages and settings will be gone for good."},
            "confirm": {"type": "plain_text", "text": "Delete everything"},
            "deny": {"type": "plain_text", "text": "Keep it"},
            "style": "danger",
        }
    if action.kind == "delete":
        button["style"] = "danger"
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Delete this task?"},
            "text": {"type": "plain_text", "text": f"Task #{action.number} will be gone for good."},
            "confirm": {"type": "plain_text", "text": "Delete"},
            "deny": {"type": "plain_text", "text": "Keep it"},
            "style": "danger",
        }
    return button


def task_blocks(reply: Reply, owner: str) -> list[list[Block]]:
    """One unit per listed task: its section, then its buttons (kept together when split)."""
    buttons: dict[int, list[Action]] = {}
    for action in reply.actions:
        buttons.setdefault(action.number, []).append(action)
    units: list[list[Block]] = []
    for task in reply.tasks:
        unit = [_section(_task_text(task))]
        if task.number in buttons:
            unit.append({
                "type": "actions",
                "block_id": f"task-{task.number}",
                "elements": [_button(a, owner) for a in buttons[task.number]],
            })
        units.append(unit)
    listed = {task.number for task in reply.tasks}
    loose = [a for a in reply.actions if a.number not in listed]
    if loose:  # a reminder's buttons, a confirmation's: under the text, five to a row
        for start in range(0, len(loose), 5):
            units.append([{"type": "actions", "block_id": f"actions-{start}",
                           "elements": [_button(a, owner) for a in loose[start:start + 5]]}])
    return units


def render_reply(reply: Reply, owner: str, max_messages: int = MAX_MESSAGES
                 ) -> list[SlackMessage]:
    """The reply to ``owner`` as one or more messages (at most ``max_messages``), each within 50
    blocks and 3000 characters a section; what does not fit is summarised at the end."""
    text = slack_spelling(reply.text)
    units = [[_section(piece)] for piece in split_escaped(text)] + task_blocks(reply, owner)
    messages: list[SlackMessage] = []
    current: list[Block] = []
    for index, unit in enumerate(units):
        last_message = len(messages) == max_messages - 1
        room = MAX_MESSAGE_BLOCKS - 1 if last_message else MAX_MESSAGE_BLOCKS
        if current and len(current) + len(unit) > room:
            if last_message:
                hidden = len(units) - index
                only_tasks = hidden <= len(reply.tasks)
                current.append(_context(
                    f"…and {hidden} more tasks not shown here." if only_tasks
                    else "…the rest of this answer did not fit in Slack."))
                break
            messages.append(_message(current, first=not messages, reply_text=text))
            current = []
        current.extend(unit)
    messages.append(_message(current, first=not messages, reply_text=text))
    return messages


def render_single(reply: Reply, owner: str) -> SlackMessage:
    """The reply as exactly one message (a button press replaces the message it was under):
    the tasks that do not fit are summarised with a hint to list them all."""
    text = slack_spelling(reply.text)
    blocks = [_section(piece) for piece in split_escaped(text)][: MAX_MESSAGE_BLOCKS - 1]
    _add_tasks_within(blocks, task_blocks(reply, owner), MAX_MESSAGE_BLOCKS - 1)
    return SlackMessage(text=fit_escaped(text, MAX_FALLBACK_CHARS) or "…", blocks=blocks)


HOME_SECTIONS: tuple[tuple[Bucket, str], ...] = (
    ("overdue", "Overdue"), ("today", "Today"), ("later", "Upcoming"), ("someday", "Someday"),
)


def render_home(reply: Reply, owner: str) -> dict[str, Any]:
    """The App Home tab: the reply (the open tasks, or what a button just did, then the tasks)
    as a view, in sections — Overdue, Today, Upcoming, Someday — each task with Done and Snooze
    (or Delete, for a task without a date)."""
    text = slack_spelling(reply.text)
    blocks: list[Block] = [{"type": "header",
                            "text": {"type": "plain_text", "text": "Your to-do list"}}]
    if reply.view == "open" and reply.tasks:
        headline = text.split("\n")[0] if "\n" in text else ""
        blocks.extend(_section(piece) for piece in split_escaped(headline)[:2] if headline)
        sectioned = Reply(text="", tasks=reply.tasks, actions=home_actions(reply.tasks))
        units = task_blocks(sectioned, owner)
        by_number = dict(zip((t.number for t in reply.tasks), units, strict=False))
        grouped: list[list[Block]] = []
        for bucket, title in HOME_SECTIONS:
            members = [by_number[t.number] for t in reply.tasks if t.bucket == bucket]
            if members:
                grouped.append([{"type": "header",
                                 "text": {"type": "plain_text", "text": title}}, *members[0]])
                grouped.extend(members[1:])
        _add_tasks_within(blocks, grouped, MAX_HOME_BLOCKS - 2)
        blocks.append(_home_footer())
        return {"type": "home", "blocks": blocks}
    blocks.extend(_section(piece) for piece in split_escaped(text)[:5])
    _add_tasks_within(blocks, task_blocks(reply, owner), MAX_HOME_BLOCKS - 2)
    blocks.append(_home_footer())
    return {"type": "home", "blocks": blocks}


def _home_footer() -> Block:
    return {"type": "context", "elements": [{
        "type": "mrkdwn",
        "text": escape_mrkdwn(
            f"Add tasks with {SLASH_COMMAND} add <title>, or just message me in the Messages tab."
        ),
    }]}


def _add_tasks_within(blocks: list[Block], units: list[list[Block]], limit: int) -> None:
    """Append whole task units while ``blocks`` stays within ``limit``; the rest become a
    "…and N more" hint (which the limit leaves room for)."""
    shown = 0
    for unit in units:
        if len(blocks) + len(unit) > limit:
            break
        blocks.extend(unit)
        shown += 1
    if shown < len(units):
        blocks.append(_more_hint(len(units) - shown))


def _more_hint(hidden: int) -> Block:
    return _context(f"…and {hidden} more. {SLASH_COMMAND} list shows them all.")


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _message(blocks: list[Block], *, first: bool, reply_text: str) -> SlackMessage:
    fallback = fit_escaped(reply_text, MAX_FALLBACK_CHARS) if first else "(continued)"
    return SlackMessage(text=fallback or "…", blocks=blocks)
