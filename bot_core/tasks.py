"""The task tools: the only way either brain or the command router touches tasks.

Each tool has a pydantic argument model that validates input and generates the JSON schema sent
to the LLM. ``user_id`` is never an argument: a :class:`TaskTools` is bound to one user by the
service, so a task number that user does not own is simply "not found".
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from sqlalchemy import insert, select, update
from sqlmodel import Session, col

from bot_core.reply import TaskView
from bot_core.safe_text import replace_surrogates, without_surrogates
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


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AddTaskArgs(_Args):
    """Add a new task to the user's list."""

    title: Title = Field(description="Short title of the task, 1-200 characters")
    description: Description | None = Field(default=None, description="Optional details")


class ListTasksArgs(_Args):
    """List the user's tasks."""

    status: Literal["open", "done", "all"] = Field(
        default="open", description="open (not completed), done (completed) or all"
    )


class CompleteTaskArgs(_Args):
    """Mark one of the user's tasks as completed."""

    task_number: TaskNumber


class DeleteTaskArgs(_Args):
    """Delete one of the user's tasks for good."""

    task_number: TaskNumber


class UpdateTaskArgs(_Args):
    """Change a task's title or description, or reopen it (completed=false)."""

    task_number: TaskNumber
    title: Title | None = None
    description: Description | None = None
    completed: bool | None = None


class ToolResult(BaseModel):
    """What a tool call did, as stored in ``messages.tool_calls`` and sent back to the model."""

    model_config = ConfigDict(frozen=True)

    ok: bool
    message: str
    task: TaskView | None = None
    tasks: tuple[TaskView, ...] | None = None


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
    return f"Invalid {field}: {first['msg']}."


def to_view(task: Task) -> TaskView:
    """The user-facing view of a task row."""
    return TaskView(
        number=task.number, title=task.title, description=task.description,
        completed=task.completed,
    )


class Tools(Protocol):
    """What brains and the command router act through: the tools, already bound to a user."""

    calls: list[ToolCall]

    def call(self, name: str, arguments: Any, call_id: str | None = None) -> ToolCall:
        """Run one tool call, recording it in :attr:`calls`."""
        ...

    def reopen_task(self, number: int) -> ToolResult:
        """Mark a completed task open again."""
        ...


class TaskTools:
    """The five task tools, bound to one user inside one unit of work."""

    def __init__(self, session: Session, user_id: str) -> None:
        self._session = session
        self._user_id = user_id
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
        number = self._session.execute(
            update(User)
            .where(col(User.id) == self._user_id)
            .values(last_task_number=col(User.last_task_number) + 1)
            .returning(col(User.last_task_number))
        ).scalar_one()
        now = utcnow()
        # A Core INSERT: nothing in the turn needs the row as an ORM object, and the unit of
        # work's flush cost more than the statement itself.
        view = TaskView(number=number, title=args.title, description=args.description or None,
                        completed=False)
        self._session.execute(insert(Task.__table__).values(  # type: ignore[attr-defined]
            user_id=self._user_id, number=number, title=view.title,
            description=view.description, completed=False, created_at=now, updated_at=now,
        ))
        return ToolResult(ok=True, message=f"Added #{number}: {view.title}", task=view)

    def list_tasks(self, args: ListTasksArgs) -> ToolResult:
        """The user's tasks in number order, filtered by status."""
        query = select(Task).where(col(Task.user_id) == self._user_id)
        if args.status != "all":
            query = query.where(col(Task.completed) == (args.status == "done"))
        rows = self._session.execute(query.order_by(col(Task.number))).scalars().all()
        views = tuple(to_view(t) for t in rows)
        label = {"open": "open", "done": "completed", "all": ""}[args.status]
        noun = "task" if len(views) == 1 else "tasks"
        message = f"{len(views)} {label} {noun}".replace("  ", " ")
        return ToolResult(ok=True, message=message, tasks=views)

    def complete_task(self, args: CompleteTaskArgs) -> ToolResult:
        """Mark a task done."""
        return self._set_completed(args.task_number, True)

    def delete_task(self, args: DeleteTaskArgs) -> ToolResult:
        """Delete a task; its number is not given out again."""
        task = self._find(args.task_number)
        if task is None:
            return self._not_found(args.task_number)
        view = to_view(task)
        self._session.delete(task)
        self._session.flush()
        return ToolResult(ok=True, message=f"Deleted #{view.number}: {view.title}", task=view)

    def update_task(self, args: UpdateTaskArgs) -> ToolResult:
        """Edit title/description, or set completed."""
        if args.title is None and args.description is None and args.completed is None:
            return ToolResult(ok=False, message="Nothing to change: give a title, description "
                                                "or completed.")
        task = self._find(args.task_number)
        if task is None:
            return self._not_found(args.task_number)
        if args.title is not None:
            task.title = args.title
        if args.description is not None:
            task.description = args.description or None
        if args.completed is not None:
            task.completed = args.completed
        task.updated_at = utcnow()
        self._session.add(task)
        self._session.flush()
        return ToolResult(ok=True, message=f"Updated #{task.number}: {task.title}",
                          task=to_view(task))

    # -- helpers ------------------------------------------------------------------------

    def _set_completed(self, number: int, completed: bool) -> ToolResult:
        task = self._find(number)
        if task is None:
            return self._not_found(number)
        if task.completed == completed:
            state = "already done" if completed else "already open"
            return ToolResult(ok=True, message=f"#{number} is {state}: {task.title}",
                              task=to_view(task))
        task.completed = completed
        task.updated_at = utcnow()
        self._session.add(task)
        self._session.flush()
        verb = "Done" if completed else "Reopened"
        return ToolResult(ok=True, message=f"{verb}: #{number} {task.title}", task=to_view(task))

    def reopen_task(self, number: int) -> ToolResult:
        """Mark a completed task open again (``update_task`` with completed=false)."""
        return self.call("update_task", {"task_number": number, "completed": False}).result

    def _find(self, number: int) -> Task | None:
        return self._session.execute(
            select(Task).where(col(Task.user_id) == self._user_id, col(Task.number) == number)
        ).scalar_one_or_none()

    @staticmethod
    def _not_found(number: int) -> ToolResult:
        return ToolResult(ok=False, message=f"I can't find task #{number}.")
