"""The task tools: the only way either brain or the command router touches tasks.

Each tool has a pydantic argument model that validates input and generates the JSON schema sent
to the LLM. ``user_id`` is never an argument: a :class:`TaskTools` is bound to one user by the
service, so a task number that user does not own is simply "not found".
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)
from sqlalchemy import insert, select, update
from sqlmodel import Session, col

from bot_core.reply import TaskView
from bot_core.safe_text import replace_surrogates, without_surrogates
from bot_core.task_schedule import (
    ListWindow,
    ScheduleChange,
    apply_change,
    complete_occurrence,
    in_window,
    parse_local,
    sort_key_in,
    view_of,
)
from bot_core.timing.local import Profile, format_moment, local_due, reminder_for
from bot_core.timing.recurrence import InvalidRule, validate_rule
from models.tables import DESCRIPTION_MAX, TITLE_MAX, Task, User
from models.types import utcnow


def strip_control_characters(text: str) -> str:
    """Drop control characters (NUL, escape sequences...) and lone surrogates, but keep
    newlines and tabs.

    PostgreSQL refuses NUL in text, SQLite's length() stops at it, and terminals and chat
    clients misrender the rest; none of them belongs in a task or a message. A lone surrogate
    (model output with a ``\\udXXX`` escape) cannot be encoded at all.
    """
    return "".join(ch for ch in text
                   if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))


def _clean_title(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(strip_control_characters(value).split())
    return value


def _clean_description(value: Any) -> Any:
    if isinstance(value, str):
        return strip_control_characters(value).strip()
    return value


Title = Annotated[str, BeforeValidator(_clean_title), Field(min_length=1, max_length=TITLE_MAX)]
Description = Annotated[
    str, BeforeValidator(_clean_description), Field(max_length=DESCRIPTION_MAX)
]
TaskNumber = Annotated[int, Field(ge=1, le=10_000_000, description="The task's number, as shown")]
Priority = Literal["high", "medium", "low"]


def _check_local(value: str) -> str:
    parse_local(value)  # raises ValueError with a reason the model can read
    return value


def _check_rule(value: str) -> str:
    try:
        return validate_rule(value)
    except InvalidRule as error:
        raise ValueError(str(error)) from None


LocalTime = Annotated[str, Field(max_length=40), AfterValidator(_check_local)]
Rule = Annotated[str, Field(max_length=300), AfterValidator(_check_rule)]
_DUE_HELP = ("In the user's local time, ISO 8601: 2027-03-05 (a date) or 2027-03-05T17:00 "
             "(a date and time)")
_REMIND_HELP = "When to remind, local ISO 8601 date-time, e.g. 2027-03-05T16:30"
_RULE_HELP = ("RFC 5545 RRULE in local time, no DTSTART, e.g. FREQ=WEEKLY;BYDAY=MO or "
              "FREQ=DAILY;BYHOUR=9;BYMINUTE=0")


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddTaskArgs(_Args):
    """Add a new task to the user's list."""

    title: Title = Field(description="Short title of the task, 1-200 characters, without the "
                                     "date or time")
    description: Description | None = Field(default=None, description="Optional details")
    due: LocalTime | None = Field(default=None, description=_DUE_HELP)
    remind_at: LocalTime | None = Field(
        default=None, description=_REMIND_HELP + " (default: at the due time, or 09:00 on a "
                                                  "due date)")
    recurrence: Rule | None = Field(default=None, description=_RULE_HELP)
    priority: Priority = "medium"


class ListTasksArgs(_Args):
    """List the user's tasks."""

    status: Literal["open", "done", "all"] = Field(
        default="open", description="open (not completed), done (completed) or all"
    )
    due: ListWindow = Field(
        default="any", description="any; today (overdue and due today); upcoming (the next 7 "
                                   "days); overdue; none (no due date)")


class CompleteTaskArgs(_Args):
    """Mark one of the user's tasks as completed."""

    task_number: TaskNumber


class DeleteTaskArgs(_Args):
    """Delete one of the user's tasks for good."""

    task_number: TaskNumber


class UpdateTaskArgs(_Args):
    """Change a task's title, description, due date, reminder (snooze), recurrence or priority,
    or reopen it (completed=false). Give null for due, remind_at or recurrence to remove it."""

    task_number: TaskNumber
    title: Title | None = None
    description: Description | None = None
    completed: bool | None = None
    due: LocalTime | None = Field(default=None, description=_DUE_HELP + "; null removes it")
    remind_at: LocalTime | None = Field(default=None, description=_REMIND_HELP + "; null: none")
    recurrence: Rule | None = Field(default=None, description=_RULE_HELP + "; null: stop")
    priority: Priority | None = None

    def given(self, name: str) -> bool:
        """True when the argument was sent (null included), as opposed to left out."""
        return name in self.model_fields_set


class ToolResult(BaseModel):
    """What a tool call did, as stored in ``messages.tool_calls`` and sent back to the model."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    message: str
    task: TaskView | None = None
    tasks: tuple[TaskView, ...] | None = None
    zone_assumed: bool = False
    """A time was read in the assumed zone (the user has not told theirs yet)."""


class ToolCall(BaseModel):
    """One tool call with its arguments and result: one element of ``messages.tool_calls``."""

    model_config = ConfigDict(frozen=True)

    id: str | None = None
    name: str
    arguments: Any
    result: ToolResult


TOOL_ARGUMENTS: dict[str, type[_Args]] = {
    "add_task": AddTaskArgs,
    "list_tasks": ListTasksArgs,
    "complete_task": CompleteTaskArgs,
    "delete_task": DeleteTaskArgs,
    "update_task": UpdateTaskArgs,
}


def tool_schemas() -> list[dict[str, Any]]:
    """The tools in the OpenAI Chat Completions ``tools`` format, generated from the models."""
    schemas = []
    for name, model in TOOL_ARGUMENTS.items():
        parameters = model.model_json_schema()
        parameters.pop("title", None)
        parameters.pop("description", None)
        schemas.append({
            "type": "function",
            "function": {
                "name": name,
                "description": (model.__doc__ or name).strip(),
                "parameters": parameters,
            },
        })
    return schemas


def describe_validation_error(error: ValidationError) -> str:
    """A short human sentence for the first problem pydantic found."""
    first = error.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or "arguments"
    kind = first["type"]
    if field == "title" and kind in ("string_too_short", "too_short"):
        return "A task needs a title."
    if field == "title" and kind in ("string_too_long", "too_long"):
        return f"That title is too long: at most {TITLE_MAX} characters, please."
    if field == "description" and kind in ("string_too_long", "too_long"):
        return f"That description is too long: at most {DESCRIPTION_MAX} characters, please."
    if kind == "extra_forbidden":
        return f"Unknown argument '{field}'."
    if field == "task_number":
        return "Task numbers are whole numbers like 3."
    if field in ("due", "remind_at", "recurrence") and kind == "value_error":
        return f"Invalid {field}: {first['msg'].removeprefix('Value error, ')}."
    return f"Invalid {field}: {first['msg']}."


def to_view(task: Task, now: datetime | None = None, profile: Profile | None = None) -> TaskView:
    """The user-facing view of a task row (its due date as it reads at ``now``)."""
    return view_of(task, now or utcnow(), profile or Profile())


@dataclass(frozen=True)
class Origin:
    """The chat a task is made in, where its reminders go: the platform's target JSON."""

    platform: str
    workspace: str
    target: str


class Tools(Protocol):
    """What brains and the command router act through: the tools, already bound to a user."""

    calls: list[ToolCall]
    now: datetime
    """The turn's instant: every call of one turn (and its replays) sees the same."""
    profile: Profile
    """The user's zone and day-reminder hour."""

    def call(self, name: str, arguments: Any, call_id: str | None = None) -> ToolCall:
        """Run one tool call, recording it in :attr:`calls`."""
        ...

    def reopen_task(self, number: int) -> ToolResult:
        """Mark a completed task open again."""
        ...


class TaskTools:
    """The five task tools, bound to one user inside one unit of work.

    ``now`` is the turn's instant (every call of a turn, and its replays, see the same one),
    ``profile`` the user's zone and day-reminder hour, ``origin`` the chat reminders go to.
    """

    def __init__(self, session: Session, user_id: str, *, now: datetime | None = None,
                 profile: Profile | None = None, origin: Origin | None = None) -> None:
        self._session = session
        self._user_id = user_id
        self.now = now or utcnow()
        self.profile = profile or Profile()
        self._origin = origin
        self.calls: list[ToolCall] = []

    # -- dispatch -------------------------------------------------------------------------

    def call(self, name: str, arguments: Any, call_id: str | None = None) -> ToolCall:
        """Run tool ``name`` with raw ``arguments`` (a JSON string or a dict), recording the call.

        Unknown tools and invalid arguments are not exceptions: they become error results, which
        the LLM reads and can correct.
        """
        # A model may send lone surrogates (JSON escapes): they would fail the turn's insert
        # and the tool result's serialisation, so they go before anything else happens.
        name = replace_surrogates(name)
        call_id = replace_surrogates(call_id) if call_id is not None else None
        parsed_arguments: Any = without_surrogates(arguments)
        result: ToolResult
        if isinstance(arguments, str):
            try:
                parsed_arguments = (without_surrogates(json.loads(arguments))
                                    if arguments.strip() else {})
            except json.JSONDecodeError:
                result = ToolResult(ok=False, message="Arguments were not valid JSON.")
                return self._record(call_id, name, replace_surrogates(arguments), result)
        model = TOOL_ARGUMENTS.get(name)
        if model is None:
            result = ToolResult(ok=False, message=f"There is no tool called '{name}'.")
        elif not isinstance(parsed_arguments, dict):
            result = ToolResult(ok=False, message="Arguments must be a JSON object.")
        else:
            try:
                validated = model.model_validate(parsed_arguments)
            except ValidationError as error:
                result = ToolResult(ok=False, message=describe_validation_error(error))
            else:
                result = self._handlers()[name](validated)
        return self._record(call_id, name, parsed_arguments, result)

    def _record(
        self, call_id: str | None, name: str, arguments: Any, result: ToolResult
    ) -> ToolCall:
        call = ToolCall(id=call_id, name=name, arguments=arguments, result=result)
        self.calls.append(call)
        return call

    def _handlers(self) -> dict[str, Callable[[Any], ToolResult]]:
        return {
            "add_task": self.add_task,
            "list_tasks": self.list_tasks,
            "complete_task": self.complete_task,
            "delete_task": self.delete_task,
            "update_task": self.update_task,
        }

    # -- the tools ----------------------------------------------------------------------

    def add_task(self, args: AddTaskArgs) -> ToolResult:
        """Create a task with the user's next number (numbers are never reused)."""
        schedule = ScheduleChange.for_new(args.due, args.remind_at, args.recurrence)
        task = Task(user_id=self._user_id, number=0, title=args.title,
                    description=args.description or None, priority=args.priority)
        problem = apply_change(task, schedule, self.now, self.profile)
        if problem is not None:
            return ToolResult(ok=False, message=problem)
        number = self._session.execute(
            update(User)
            .where(col(User.id) == self._user_id)
            .values(last_task_number=col(User.last_task_number) + 1)
            .returning(col(User.last_task_number))
        ).scalar_one()
        task.number = number
        self._place(task)
        # A Core INSERT: nothing in the turn needs the row as an ORM object, and the unit of
        # work's flush cost more than the statement itself.
        self._session.execute(insert(Task.__table__).values(  # type: ignore[attr-defined]
            user_id=self._user_id, number=number, title=task.title,
            description=task.description, completed=False, created_at=self.now,
            updated_at=self.now, due_date=task.due_date, due_has_time=task.due_has_time,
            remind_at=task.remind_at, recurrence=task.recurrence, priority=task.priority,
            origin_platform=task.origin_platform, origin_workspace=task.origin_workspace,
            origin_target=task.origin_target,
        ))
        view = self._view(task)
        return self._confirm(f"Added #{number}: {view.title}", view)

    def list_tasks(self, args: ListTasksArgs) -> ToolResult:
        """The user's tasks, soonest due first (then priority, then number), filtered."""
        query = select(Task).where(col(Task.user_id) == self._user_id)
        if args.status != "all":
            query = query.where(col(Task.completed) == (args.status == "done"))
        rows = self._session.execute(query).scalars().all()
        views = sorted((self._view(t) for t in rows), key=sort_key_in(self.profile))
        views = [v for v in views if in_window(v, args.due, self.now, self.profile)]
        label = {"open": "open", "done": "completed", "all": ""}[args.status]
        noun = "task" if len(views) == 1 else "tasks"
        window = {"any": "", "today": " due today or overdue", "upcoming": " due in the next 7 "
                  "days", "overdue": " overdue", "none": " without a due date"}[args.due]
        message = f"{len(views)} {label} {noun}{window}".replace("  ", " ")
        return ToolResult(ok=True, message=message, tasks=tuple(views))

    def complete_task(self, args: CompleteTaskArgs) -> ToolResult:
        """Mark a task done; a recurring one moves to its next occurrence instead."""
        task = self._find(args.task_number)
        if task is None:
            return self._not_found(args.task_number)
        if (task.recurrence and not task.completed and task.due_date is not None
                and complete_occurrence(task, self.now, self.profile)):
            self._save(task)
            view = self._view(task)
            return ToolResult(ok=True, message=f"Done: #{task.number} {task.title} — next: "
                                               f"{view.due_label}", task=view)
        return self._set_completed(task, True)

    def delete_task(self, args: DeleteTaskArgs) -> ToolResult:
        """Delete a task; its number is not given out again."""
        task = self._find(args.task_number)
        if task is None:
            return self._not_found(args.task_number)
        view = self._view(task)
        self._session.delete(task)
        self._session.flush()
        return ToolResult(ok=True, message=f"Deleted #{view.number}: {view.title}", task=view)

    def update_task(self, args: UpdateTaskArgs) -> ToolResult:
        """Edit fields, or set completed."""
        schedule = ScheduleChange.from_update(args)
        if (args.title is None and args.description is None and args.completed is None
                and args.priority is None and schedule.empty):
            return ToolResult(ok=False, message="Nothing to change: give a title, description, "
                                                "due, remind_at, recurrence, priority or "
                                                "completed.")
        task = self._find(args.task_number)
        if task is None:
            return self._not_found(args.task_number)
        verb = "Updated"
        if args.completed is not None and args.completed != task.completed:
            if args.completed:
                return self.complete_task(CompleteTaskArgs(task_number=task.number))
            task.completed = False
            verb = "Reopened"
        if not schedule.empty:
            problem = apply_change(task, schedule, self.now, self.profile)
            if problem is not None:
                return ToolResult(ok=False, message=problem)
            self._place(task)
        if args.title is not None:
            task.title = args.title
        if args.description is not None:
            task.description = args.description or None
        if args.priority is not None:
            task.priority = args.priority
        self._save(task)
        view = self._view(task)
        return self._confirm(f"{verb} #{task.number}: {task.title}", view)

    # -- helpers ------------------------------------------------------------------------

    def _set_completed(self, task: Task, completed: bool) -> ToolResult:
        number = task.number
        if task.completed == completed:
            state = "already done" if completed else "already open"
            return ToolResult(ok=True, message=f"#{number} is {state}: {task.title}",
                              task=self._view(task))
        task.completed = completed
        if completed:
            task.remind_at = None
        self._save(task)
        verb = "Done" if completed else "Reopened"
        return ToolResult(ok=True, message=f"{verb}: #{number} {task.title}",
                          task=self._view(task))

    def reopen_task(self, number: int) -> ToolResult:
        """Mark a completed task open again (``update_task`` with completed=false)."""
        return self.call("update_task", {"task_number": number, "completed": False}).result

    def _place(self, task: Task) -> None:
        """A task with a reminder and no chat to remind in gets this turn's chat."""
        if task.remind_at is not None and task.origin_target is None and self._origin:
            task.origin_platform = self._origin.platform
            task.origin_workspace = self._origin.workspace
            task.origin_target = self._origin.target

    def _save(self, task: Task) -> None:
        task.updated_at = self.now
        self._session.add(task)
        self._session.flush()

    def _view(self, task: Task) -> TaskView:
        return view_of(task, self.now, self.profile)

    def _confirm(self, message: str, view: TaskView) -> ToolResult:
        """A confirmation with the task's dates, and the zone they were read in if assumed."""
        due = view.due_label
        details = [p for p in ((due if due.startswith("overdue") else f"due {due}")
                               if due else None, view.repeats_label) if p]
        if view.remind_at is not None and view.remind_at != self._default_reminder(view):
            details.append(f"reminder {self._moment(view.remind_at)}")
        if view.priority != "medium":
            details.append(f"{view.priority} priority")
        assumed = False
        if details:
            message += " — " + ", ".join(details)
            if not self.profile.zone_known and (view.due_has_time or view.remind_at):
                assumed = True
                message += (f"\n(Times are {self.profile.zone.key} until you tell me your zone:"
                            " /timezone Berlin, or share a location.)")
        return ToolResult(ok=True, message=message, task=view, zone_assumed=assumed)

    def _default_reminder(self, view: TaskView) -> datetime | None:
        if view.due_at is None:
            return None
        return reminder_for(local_due(view.due_at, view.due_has_time, self.profile.zone),
                            self.profile)

    def _moment(self, instant: datetime) -> str:
        return format_moment(instant, self.now, self.profile.zone)

    def _find(self, number: int) -> Task | None:
        return self._session.execute(
            select(Task).where(col(Task.user_id) == self._user_id, col(Task.number) == number)
        ).scalar_one_or_none()

    @staticmethod
    def _not_found(number: int) -> ToolResult:
        return ToolResult(ok=False, message=f"I can't find task #{number}.")
