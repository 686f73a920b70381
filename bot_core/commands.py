"""The command router: ``/add``, ``/list``, ``/done``... and button presses. No LLM involved."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot_core.inbound import ActionKind, ButtonAction, ButtonView, ListView, SnoozePreset
from bot_core.profile import SettingsStore
from bot_core.reply import Reply, actions_for
from bot_core.tasks import ToolResult, Tools
from bot_core.texts import (
    DIGEST_USAGE,
    EMPTY_LIST_TEXTS,
    HELP_TEXT,
    LIST_HEADERS,
    TIMEZONE_USAGE,
    WELCOME_TEXT,
)
from bot_core.timing.local import Profile, format_moment, parse_clock, wall

_COMMAND = re.compile(r"^/(?P<name>[A-Za-z_]+)(?:@\w+)?(?:\s+(?P<args>.*))?$", re.DOTALL)
_NUMBER = re.compile(r"^#?(\d{1,8})$")

KNOWN_COMMANDS = frozenset(
    {"start", "help", "add", "list", "done", "undo", "delete", "edit", "new", "today",
     "upcoming", "timezone", "digest", "usage", "link", "unlink", "forget",
     "export"}
)
SNOOZES: dict[SnoozePreset, timedelta] = {
    "20m": timedelta(minutes=20), "1h": timedelta(hours=1), "3h": timedelta(hours=3),
}
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


def list_arguments(view: ListView) -> dict[str, str]:
    """``list_tasks`` arguments for a view (today and upcoming are open tasks by due date)."""
    if view in ("today", "upcoming"):
        return {"status": "open", "due": view}
    return {"status": view}


def snooze_until(preset: SnoozePreset, now: datetime, profile: Profile) -> datetime:
    """When a snooze preset ends: 20 min, 1 h or 3 h from now, or tomorrow at the user's
    morning hour."""
    if preset == "morning":
        tomorrow = now.astimezone(profile.zone).date() + timedelta(days=1)
        return wall(tomorrow, profile.day_reminder, profile.zone)
    return (now + SNOOZES[preset]).astimezone(profile.zone)


def snooze(tools: Tools, number: int, until: datetime) -> ToolResult:
    """Move task ``number``'s reminder to ``until`` (``update_task`` with remind_at)."""
    local = until.astimezone(tools.profile.zone).replace(tzinfo=None)
    result = tools.call("update_task", {"task_number": number,
                                        "remind_at": local.isoformat(timespec="minutes")}).result
    if not result.ok or result.task is None:
        return result
    moment = format_moment(until, tools.now, tools.profile.zone)
    return ToolResult(ok=True, message=f"Snoozed #{number} {result.task.title} until {moment}",
                      task=result.task)


def add_with_dates(tools: Tools, text: str, description: str | None = None) -> Reply:
    """Add a task, reading its due date, recurrence and priority out of the title."""
    from bot_core.timing.phrases import parse_when

    if not text:
        return Reply(text="What should I add? For example: add buy milk")
    parsed = parse_when(text, tools.now.astimezone(tools.profile.zone))
    title = parsed.title.strip()
    if not title:
        return Reply(text="What should I remind you of? For example: remind me to call mom "
                          "tomorrow at 5pm")
    arguments: dict[str, Any] = {"title": title}
    if description:
        arguments["description"] = description
    if parsed.when is not None:
        arguments["due"] = local_iso(parsed.when.due)
        if parsed.when.recurrence:
            arguments["recurrence"] = parsed.when.recurrence
        if parsed.when.remind_at is not None:
            arguments["remind_at"] = local_iso(parsed.when.remind_at)
    if parsed.priority:
        arguments["priority"] = parsed.priority
    return Reply(text=tools.call("add_task", arguments).result.message)


def local_iso(value: datetime | date) -> str:
    """A local date or aware datetime as the tools' local ISO 8601 text. A wall time that
    happens twice (the hour the clocks go back) keeps its UTC offset, or 02:30 CET would be read
    back as the earlier 02:30 CEST (the tools read a bare wall time as its first occurrence)."""
    if isinstance(value, datetime):
        if (value.tzinfo is not None and value.fold == 1
                and value.replace(fold=0).utcoffset() != value.utcoffset()):
            return value.isoformat(timespec="minutes")
        return value.replace(tzinfo=None).isoformat(timespec="minutes")
    return value.isoformat()


def list_reply(tools: Tools, view: ListView, headline: str | None = None) -> Reply:
    """The user's tasks for ``view`` with their buttons, under an optional headline."""
    result = tools.call("list_tasks", list_arguments(view)).result
    tasks = result.tasks or ()
    if not tasks:
        text = EMPTY_LIST_TEXTS[view]
        return Reply(text=f"{headline}\n{text}" if headline else text, view=view)
    header = LIST_HEADERS[view]
    return Reply(
        text=f"{headline}\n{header}" if headline else header,
        tasks=tasks, actions=actions_for(tasks, view), view=view,
    )


def apply_action(tools: Tools, kind: ActionKind, number: int,
                 preset: SnoozePreset | None = None) -> ToolResult:
    """Do one of the button/command actions to task ``number``."""
    if kind == "done":
        return tools.call("complete_task", {"task_number": number}).result
    if kind == "undo":
        return tools.reopen_task(number)
    if kind == "snooze":
        return snooze(tools, number, snooze_until(preset or "1h", tools.now, tools.profile))
    return tools.call("delete_task", {"task_number": number}).result


def purge(tools: Tools, view: ButtonView) -> ToolResult:
    """Delete every completed task (view "done") or every task ("all"): the confirmed bulk
    delete, one ``delete_task`` call per task so each is recorded."""
    status = "done" if view == "done" else "all"
    doomed = tools.call("list_tasks", {"status": status}).result.tasks or ()
    tools.calls.pop()  # a lookup, not something the user asked for
    for task in doomed:
        tools.call("delete_task", {"task_number": task.number})
    what = "completed task" if status == "done" else "task"
    noun = what if len(doomed) == 1 else f"{what}s"
    return ToolResult(ok=True, message=f"Deleted {len(doomed)} {noun}.")


class CommandRouter:
    """Runs commands and button actions through the task tools. ``daily_tokens``: the
    per-person daily model allowance ``/usage`` shows (0: none; None: not known, not shown)."""

    def __init__(self, *, daily_tokens: int | None = None) -> None:
        self._daily_tokens = daily_tokens

    def run(self, command: Command, tools: Tools, display_name: str | None = None,
            settings: SettingsStore | None = None) -> Reply:
        """Answer a command (``/new`` is handled by the service: it changes the conversation)."""
        name, args = command.name, command.args
        if name in ("today", "upcoming"):
            return list_reply(tools, name)  # type: ignore[arg-type]
        if name == "timezone" and settings is not None:
            return self._timezone(tools, settings, args)
        if name == "digest" and settings is not None:
            return self._digest(tools, settings, args)
        if name == "usage" and settings is not None:
            return self._usage(tools, settings)
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
        """A button under a list: do it, then redraw that list with the outcome on top. Under a
        reminder the outcome replaces the reminder."""
        if action.kind == "purge":
            outcome = purge(tools, action.view)
            return list_reply(tools, "all", headline=outcome.message)
        result = apply_action(tools, action.kind, action.number, action.snooze)
        if action.view == "reminder":
            return Reply(text=("✅ " if result.ok and action.kind == "done" else "")
                         + result.message)
        return list_reply(tools, action.view, headline=result.message)

    @staticmethod
    def _timezone(tools: Tools, settings: SettingsStore, args: str) -> Reply:
        from bot_core.timing.zones import zone_from_text  # its city data loads only here

        if not args:
            current = settings.read().profile
            known = (f"Your timezone is {current.zone_name}." if current.zone_known
                     else "I don't know your timezone yet (I use UTC).")
            return Reply(text=f"{known}\n{TIMEZONE_USAGE}")
        zone = zone_from_text(args)
        if zone is None:
            return Reply(text=f"I don't know the timezone of \"{args[:60]}\".\n{TIMEZONE_USAGE}")
        settings.set_timezone(zone)
        local = tools.now.astimezone(Profile(zone_name=zone).zone)
        return Reply(text=f"Your timezone is now {zone} (it's {local:%H:%M} there).")

    @staticmethod
    def _digest(tools: Tools, settings: SettingsStore, args: str) -> Reply:
        word = args.strip().lower()
        if not word:
            current = settings.read().digest
            state = (f"Your morning digest comes at {current:%H:%M}." if current
                     else "The morning digest is off.")
            return Reply(text=f"{state}\n{DIGEST_USAGE}")
        if word in ("off", "stop", "no", "none"):
            settings.set_digest(None)
            return Reply(text="Morning digest off.")
        at = parse_clock(word if ":" in word else f"{word}:00")
        if at is None:
            return Reply(text=DIGEST_USAGE)
        if not settings.set_digest(at):
            return Reply(text="I can only send a digest to a chat; try this in a chat with me.")
        profile = settings.read().profile
        zone_note = "" if profile.zone_known else " UTC (tell me yours with /timezone)"
        return Reply(text=f"Every day at {at:%H:%M}{zone_note} I'll send what is due that day "
                          "(only when there is something).")

    def _usage(self, tools: Tools, settings: SettingsStore) -> Reply:
        """The person's own model tokens today (their local day) and this month."""
        from bot_core.usage_report import usage_summary, usage_text

        today = tools.now.astimezone(tools.profile.zone).date()
        summary = usage_summary(settings.session, settings.user_id, today)
        return Reply(text=usage_text(summary, self._daily_tokens))

    @staticmethod
    def _add(tools: Tools, args: str) -> Reply:
        if not args:
            return Reply(text="What should I add? For example: /add Buy milk")
        title, _, description = args.partition("\n")
        return add_with_dates(tools, title.strip(), description.strip() or None)

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
