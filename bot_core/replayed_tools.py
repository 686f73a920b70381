"""Task tools for a brain that waits on the network between calls (the LLM): no transaction, and
so no lock, is held while the model thinks.

Each call runs in a short transaction of its own that first replays the turn's earlier calls
(so the call sees the turn's own changes: the task it just added, the one it just completed),
then runs the new call, records its result, and rolls everything back. The turn's final
transaction replays the whole list once more and commits it with the messages and the outbox
row (:class:`~bot_core.service.TodoService`), so the turn still lands all at once or not at all.

Why replay rather than hold the transaction: a transaction open across model calls holds the
user's task counter and every task row it touched for as long as the model takes (seconds to a
minute), blocking that user's other chats; on SQLite it would hold the only write lock of the
whole database. Replaying costs a few milliseconds of SQL per call.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot_core.tasks import Origin, TaskTools, ToolCall, ToolResult
from bot_core.timing.local import Profile
from models.db import UnitOfWorkFactory


class ReplayedTools:
    """The five tools for one user, each call in its own rolled-back transaction."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, user_id: str, *, now: datetime,
                 profile: Profile, origin: Origin | None = None) -> None:
        self._unit_of_work = unit_of_work
        self._user_id = user_id
        self.now = now
        self.profile = profile
        self._origin = origin
        self.calls: list[ToolCall] = []

    def bound(self, session: Any) -> TaskTools:
        """The plain tools on ``session`` with this turn's user, instant, zone and chat."""
        return TaskTools(session, self._user_id, now=self.now, profile=self.profile,
                         origin=self._origin)

    def call(self, name: str, arguments: Any, call_id: str | None = None) -> ToolCall:
        """Run one call on top of the turn's earlier ones; nothing is committed."""
        with self._unit_of_work() as uow:
            tools = replay(self.bound(uow.session), self.calls)
            made = tools.call(name, arguments, call_id=call_id)
        self.calls.append(made)
        return made

    def reopen_task(self, number: int) -> ToolResult:
        """``update_task`` with completed=false."""
        return self.call("update_task", {"task_number": number, "completed": False}).result


def replay(tools: TaskTools, calls: list[ToolCall]) -> TaskTools:
    """Run ``calls`` again on ``tools`` (their results recorded anew in ``tools.calls``)."""
    for earlier in calls:
        tools.call(earlier.name, earlier.arguments, call_id=earlier.id)
    return tools


def same_outcome(seen: list[ToolCall], replayed: list[ToolCall]) -> bool:
    """True when the final replay gave the results the brain saw (nothing changed meanwhile)."""
    return [c.result for c in seen] == [c.result for c in replayed]
