"""The platform-neutral reply each platform renders natively (HTML + inline keyboard in
Telegram, Block Kit in Slack, plain text in the terminal)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from bot_core.inbound import ActionKind, ListView

ACTION_LABELS: dict[ActionKind, str] = {"done": "Done", "undo": "Reopen", "delete": "Delete"}


class TaskView(BaseModel):
    """A task as users see it: their own number, never the global id."""

    model_config = ConfigDict(frozen=True)

    number: int
    title: str
    description: str | None = None
    completed: bool = False


class Action(BaseModel):
    """A button offered under a listed task."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    number: int
    view: ListView = "open"

    @property
    def label(self) -> str:
        """Button text, e.g. "Done #3"."""
        return f"{ACTION_LABELS[self.kind]} #{self.number}"


class Reply(BaseModel):
    """What the bot says back: text, optionally a task list and buttons for it."""

    model_config = ConfigDict(frozen=True)

    text: str
    tasks: tuple[TaskView, ...] = ()
    actions: tuple[Action, ...] = ()
    view: ListView | None = None

    def as_plain_text(self) -> str:
        """The reply as plain text, for the terminal and for logs of what was said."""
        lines = [self.text]
        lines.extend(format_task_line(task) for task in self.tasks)
        return "\n".join(lines)


def format_task_line(task: TaskView) -> str:
    """One task as a line of plain text: ``☐ #3 Buy milk``."""
    box = "☑" if task.completed else "☐"
    return f"{box} #{task.number} {task.title}"


def actions_for(tasks: tuple[TaskView, ...], view: ListView) -> tuple[Action, ...]:
    """The buttons under a list: done + delete for open tasks, reopen + delete for done ones."""
    actions: list[Action] = []
    for task in tasks:
        first: ActionKind = "undo" if task.completed else "done"
        actions.append(Action(kind=first, number=task.number, view=view))
        actions.append(Action(kind="delete", number=task.number, view=view))
    return tuple(actions)
