"""The command router: ``/add``, ``/list``, ``/done``... and button presses. No LLM involved."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot_core.inbound import ActionKind, ButtonAction, ListView
from bot_core.reply import Reply, actions_for
from bot_core.tasks import ToolResult, Tools
from bot_core.texts import EMPTY_LIST_TEXTS, HELP_TEXT, LIST_HEADERS, WELCOME_TEXT

_COMMAND = re.compile(r"^/(?P<name>[A-Za-z_]+)(?:@\w+)?(?:\s+(?P<args>.*))?$", re.DOTALL)
_NUMBER = re.compile(r"^#?(\d{1,8})$")

KNOWN_COMMANDS = frozenset(
    {"start", "help", "add", "list", "done", "undo", "delete", "edit", "new"}
)
_LIST_VIEWS: dict[str, ListView] = {
    "": "open", "open": "open", "all": "all", "done": "done", "completed": "done",
}


@dataclass(frozen=True)
class Command:
    """A parsed ``/name args`` (the ``@botname`` suffix Telegram adds in groups removed)."""

    name: str
    args: str


def parse_command(text: str) -> Command | None:
    """The command in ``text``, or None if it is not a slash command."""
    match = _COMMAND.match(text.strip())
    if not match:
        return None
    return Command(name=match["name"].lower(), args=(match["args"] or "").strip())


def list_reply(tools: Tools, view: ListView, headline: str | None = None) -> Reply:
    """The user's tasks for ``view`` with their buttons, under an optional headline."""
    result = tools.call("list_tasks", {"status": view}).result
    tasks = result.tasks or ()
    if not tasks:
        text = EMPTY_LIST_TEXTS[view]
        return Reply(text=f"{headline}\n{text}" if headline else text, view=view)
    header = LIST_HEADERS[view]
    return Reply(
        text=f"{headline}\n{header}" if headline else header,
        tasks=tasks, actions=actions_for(tasks, view), view=view,
    )


def apply_action(tools: Tools, kind: ActionKind, number: int) -> ToolResult:
    """Do one of the button/command actions to task ``number``."""
    if kind == "done":
        return tools.call("complete_task", {"task_number": number}).result
    if kind == "undo":
        return tools.reopen_task(number)
    return tools.call("delete_task", {"task_number": number}).result


class CommandRouter:
    """Runs commands and button actions through the task tools."""

    def run(self, command: Command, tools: Tools, display_name: str | None = None) -> Reply:
        """Answer a command (``/new`` is handled by the service: it changes the conversation)."""
        name, args = command.name, command.args
        if name == "start":
            return Reply(text=WELCOME_TEXT.format(name=f", {display_name}" if display_name else ""))
        if name == "help":
            return Reply(text=HELP_TEXT)
        if name == "add":
            return self._add(tools, args)
        if name == "list":
            view = _LIST_VIEWS.get(args.lower())
            if view is None:
                return Reply(text="Use /list, /list all or /list done.")
            return list_reply(tools, view)
        if name in ("done", "undo", "delete"):
            kind: ActionKind = name  # type: ignore[assignment]
            return self._numbered(tools, kind, args)
        if name == "edit":
            return self._edit(tools, args)
        return Reply(text=f"I don't know /{name}.\n{HELP_TEXT}")

    def press(self, action: ButtonAction, tools: Tools) -> Reply:
        """A button under a list: do it, then redraw that list with the outcome on top."""
        result = apply_action(tools, action.kind, action.number)
        return list_reply(tools, action.view, headline=result.message)

    @staticmethod
    def _add(tools: Tools, args: str) -> Reply:
        if not args:
            return Reply(text="What should I add? For example: /add Buy milk")
        title, _, description = args.partition("\n")
        payload: dict[str, str] = {"title": title}
        if description.strip():
            payload["description"] = description.strip()
        return Reply(text=tools.call("add_task", payload).result.message)

    @staticmethod
    def _numbered(tools: Tools, kind: ActionKind, args: str) -> Reply:
        parts = args.replace(",", " ").split()
        numbers = [_NUMBER.match(p) for p in parts]
        if not parts or not all(numbers):
            return Reply(text=f"Which task? For example: /{kind} 3")
        messages = [
            apply_action(tools, kind, int(m[1])).message for m in numbers if m is not None
        ]
        return Reply(text="\n".join(messages))

    @staticmethod
    def _edit(tools: Tools, args: str) -> Reply:
        number_text, _, title = args.partition(" ")
        number = _NUMBER.match(number_text)
        if number is None or not title.strip():
            return Reply(text="Usage: /edit <n> <new title>, e.g. /edit 3 Call mom tonight")
        result = tools.call(
            "update_task", {"task_number": int(number[1]), "title": title.strip()}
        ).result
        return Reply(text=result.message)
