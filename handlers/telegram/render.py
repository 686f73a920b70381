"""Reply -> Telegram message text (HTML, escaped) and inline keyboard; no Telegram library.

Why pieces: a message may hold at most 4096 characters (counted after entity parsing, in
UTF-16 code units), so long replies are split, and only between lines. Each piece is one line
(or one task with its description) whose HTML tags open and close inside it, so any split
between pieces leaves valid HTML in every message. The same pieces give the plain-text
version used when Telegram refuses our entities.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from bot_core.reply import Action, Reply, TaskView, task_details
from handlers.telegram import buttons

MAX_MESSAGE_UNITS = 4096
MAX_BUTTON_ROWS = 30
"""Buttons for at most this many tasks: a longer keyboard is unusable on a phone (and Telegram
caps the markup); the rest stay reachable by command."""


@dataclass(frozen=True)
class Piece:
    """One unbreakable part of a message, as HTML and as the same text without markup."""

    html: str
    plain: str


@dataclass(frozen=True)
class Button:
    label: str
    data: str


@dataclass(frozen=True)
class Rendered:
    """A reply ready to send: messages (HTML and plain twins) and the keyboard's rows."""

    html: tuple[str, ...]
    plain: tuple[str, ...]
    keyboard: tuple[tuple[Button, ...], ...]
    ask_location: bool = False
    """Offer a "share location" button (the user's timezone is not known yet)."""


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji may count two)."""
    return len(text.encode("utf-16-le")) // 2


def render(reply: Reply, owner: int, *, single_message: bool = False,
           limit: int = MAX_MESSAGE_UNITS) -> Rendered:
    """Render ``reply``; ``owner`` is the user whose list the buttons act on.

    ``single_message`` (editing a list in place) shortens the list to one message instead of
    splitting it, ending with a line that says how many tasks were left out.
    """
    pieces = _pieces(reply, limit)
    chunks = _truncate(pieces, reply, limit) if single_message else _pack(pieces, limit)
    return Rendered(
        html=tuple("\n".join(p.html for p in chunk) for chunk in chunks),
        plain=tuple("\n".join(p.plain for p in chunk) for chunk in chunks),
        keyboard=_keyboard(reply.actions, owner),
        ask_location=reply.ask_zone and not reply.actions,
    )


def task_piece(task: TaskView) -> Piece:
    """``☐ #3 Buy milk`` (done: ``☑`` and struck through), description in italics below."""
    box = "☑" if task.completed else "☐"
    title = _escape(task.title)
    shown = f"<s>{title}</s>" if task.completed else title
    details = task_details(task)
    if task.overdue:
        markup_details = f" · <b>{_escape(task.due_label or '')}</b>" + _escape(
            details.replace(f" · {task.due_label}", "", 1))
    else:
        markup_details = _escape(details)
    markup = f"{box} <b>#{task.number}</b> {shown}<i>{markup_details}</i>" if details else (
        f"{box} <b>#{task.number}</b> {shown}")
    plain = f"{box} #{task.number} {task.title}{details}"
    if task.description:
        markup += f"\n    <i>{_escape(task.description)}</i>"
        plain += f"\n    {task.description}"
    return Piece(markup, plain)


def _escape(text: str) -> str:
    """Telegram's HTML needs only ``<``, ``>`` and ``&`` escaped."""
    return html.escape(text, quote=False)


def _pieces(reply: Reply, limit: int) -> list[Piece]:
    pieces: list[Piece] = []
    for line in reply.text.split("\n"):
        pieces.extend(Piece(_escape(part), part) for part in _split_line(line, limit))
    pieces.extend(task_piece(task) for task in reply.tasks)
    return pieces


def _split_line(line: str, limit: int) -> list[str]:
    """A line short enough as it is, or cut at the last space before each ``limit``."""
    parts: list[str] = []
    while utf16_len(line) > limit:
        cut, units = 0, 0
        for index, char in enumerate(line):
            units += utf16_len(char)
            if units > limit:
                cut = index
                break
        space = line.rfind(" ", 0, cut)
        if space > 0:
            cut = space
        parts.append(line[:cut])
        line = line[cut:].lstrip(" ")
    parts.append(line)
    return parts


def _pack(pieces: list[Piece], limit: int) -> list[list[Piece]]:
    chunks: list[list[Piece]] = [[]]
    size = 0
    for piece in pieces:
        units = utf16_len(piece.plain)
        extra = units + (1 if chunks[-1] else 0)
        if chunks[-1] and size + extra > limit:
            chunks.append([])
            size, extra = 0, units
        chunks[-1].append(piece)
        size += extra
    return chunks


def _truncate(pieces: list[Piece], reply: Reply, limit: int) -> list[list[Piece]]:
    packed = _pack(pieces, limit)
    if len(packed) == 1:
        return packed
    kept: list[Piece] = []
    size = 0
    reserve = 80  # room for the closing line
    for piece in pieces:
        units = utf16_len(piece.plain) + (1 if kept else 0)
        if size + units > limit - reserve:
            break
        kept.append(piece)
        size += units
    text_pieces = len(pieces) - len(reply.tasks)
    left_out = len(reply.tasks) - max(0, len(kept) - text_pieces)
    note = f"… and {left_out} more — /list shows them all."
    kept.append(Piece(_escape(note), note))
    return [kept]


def _keyboard(actions: tuple[Action, ...], owner: int) -> tuple[tuple[Button, ...], ...]:
    """One row per task under a list; under a reminder, Done and Delete, then the snoozes."""
    rows: dict[object, list[Button]] = {}
    for action in actions:
        row_key: object = action.number
        if action.view == "reminder":
            row_key = (action.number, action.kind == "snooze")
        if row_key not in rows and len(rows) >= MAX_BUTTON_ROWS:
            continue
        data = buttons.encode(action.kind, action.number, action.view, owner, action.snooze)
        rows.setdefault(row_key, []).append(Button(action.label, data))
    return tuple(tuple(row) for row in rows.values())
