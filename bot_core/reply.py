"""The platform-neutral reply each platform renders natively (HTML + inline keyboard in
Telegram, Block Kit in Slack, plain text in the terminal)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from bot_core.inbound import ActionKind, ButtonView, ListView, SnoozePreset

Bucket = Literal["overdue", "today", "later", "someday"]

ACTION_LABELS: dict[ActionKind, str] = {
    "done": "Done", "undo": "Reopen", "delete": "Delete", "snooze": "Snooze",
    "purge": "Delete all completed", "link": "Link", "forget": "Delete everything",
    "cancel": "Cancel",
}
UNNUMBERED: frozenset[ActionKind] = frozenset({"purge", "link", "forget", "cancel"})
"""Buttons that answer a question rather than act on one task."""
SNOOZE_LABELS: dict[SnoozePreset, str] = {
    "20m": "20 min", "1h": "1 hour", "3h": "3 hours", "morning": "Tomorrow",
}


class TaskView(BaseModel):
    """A task as users see it: their own number, never the global id."""

    model_config = ConfigDict(frozen=True)

    number: int
    title: str
    description: str | None = None
    completed: bool = False
    due_at: datetime | None = None
    """UTC; with ``due_has_time`` false only its date counts."""
    due_has_time: bool = False
    due_label: str | None = None
    """How the due date reads for the user now: "today 17:00", "Fri 4 Dec", "overdue 2 d"."""
    overdue: bool = False
    remind_at: datetime | None = None
    recurrence: str | None = None
    repeats_label: str | None = None
    """The recurrence in words: "every day at 09:00"."""
    priority: str = "medium"
    bucket: Bucket = "someday"
    """Where the task sits in time for the user now: overdue, due today, due later, no date."""


class Action(BaseModel):
    """A button offered under a listed task."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    number: int
    view: ButtonView = "open"
    snooze: SnoozePreset | None = None

    @property
    def label(self) -> str:
        """Button text, e.g. "Done #3", "Snooze 1 hour"; under a reminder (one task) no number."""
        if self.kind == "snooze" and self.snooze is not None:
            return f"⏰ {SNOOZE_LABELS[self.snooze]}"
        if self.kind in UNNUMBERED:
            return ACTION_LABELS[self.kind]
        if self.view == "reminder":
            return ACTION_LABELS[self.kind]
        return f"{ACTION_LABELS[self.kind]} #{self.number}"


class ReplyFile(BaseModel):
    """A file sent with a reply (``/export``): a name, its media type and its text."""

    model_config = ConfigDict(frozen=True)

    name: str
    mime: str
    content: str


class Reply(BaseModel):
    """What the bot says back: text, optionally a task list and buttons for it, and files."""

    model_config = ConfigDict(frozen=True)

    text: str
    tasks: tuple[TaskView, ...] = ()
    actions: tuple[Action, ...] = ()
    view: ListView | None = None
    ask_zone: bool = False
    """The user's timezone is not known and mattered: a platform that can, offers a way to
    tell it (Telegram: a "share location" button)."""
    files: tuple[ReplyFile, ...] = ()
    """Sent after the text, to the person only (the platforms send them as documents)."""

    def as_plain_text(self) -> str:
        """The reply as plain text, for the terminal and for logs of what was said."""
        lines = [self.text]
        lines.extend(format_task_line(task) for task in self.tasks)
        lines.extend(f"[file: {file.name}]" for file in self.files)
        return "\n".join(lines)


def format_task_line(task: TaskView) -> str:
    """One task as a line of plain text: ``☐ #3 Buy milk · today 17:00 · every day · high``."""
    box = "☑" if task.completed else "☐"
    return f"{box} #{task.number} {task.title}{task_details(task)}"


def task_details(task: TaskView) -> str:
    """What follows a task's title: its due date, recurrence and priority (if not medium)."""
    parts = [p for p in (None if task.completed else task.due_label, task.repeats_label) if p]
    if task.priority != "medium":
        parts.append(f"{task.priority} priority")
    return "".join(f" · {part}" for part in parts)


def home_actions(tasks: tuple[TaskView, ...]) -> tuple[Action, ...]:
    """The buttons in Slack's Home tab: Done, then Snooze (to tomorrow morning) for a task with
    a date, Delete for one without."""
    actions: list[Action] = []
    for task in tasks:
        actions.append(Action(kind="done", number=task.number))
        if task.due_at is not None:
            actions.append(Action(kind="snooze", number=task.number, snooze="morning"))
        else:
            actions.append(Action(kind="delete", number=task.number))
    return tuple(actions)


def reminder_actions(number: int) -> tuple[Action, ...]:
    """The buttons under a reminder: Done, the four snoozes, Delete."""
    snoozes: tuple[SnoozePreset, ...] = ("20m", "1h", "3h", "morning")
    return (
        Action(kind="done", number=number, view="reminder"),
        *(Action(kind="snooze", number=number, view="reminder", snooze=s) for s in snoozes),
        Action(kind="delete", number=number, view="reminder"),
    )


def actions_for(tasks: tuple[TaskView, ...], view: ListView) -> tuple[Action, ...]:
    """The buttons under a list: done + delete for open tasks, reopen + delete for done ones."""
    actions: list[Action] = []
    for task in tasks:
        first: ActionKind = "undo" if task.completed else "done"
        actions.append(Action(kind=first, number=task.number, view=view))
        actions.append(Action(kind="delete", number=task.number, view=view))
    return tuple(actions)
