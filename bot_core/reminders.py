"""What the scheduler says unprompted: reminders of tasks that fell due, and morning digests.

One sweep step is one short transaction: read the earliest due reminders through the partial
index on ``tasks.remind_at`` (``LIMIT``; on PostgreSQL ``FOR UPDATE SKIP LOCKED``, so two
sweeps at once take different tasks; SQLite's ``BEGIN IMMEDIATE`` serialises them), write one
outbox row per reminder and move each task's ``remind_at`` on, and commit. The rows are sent
after the commit like any reply, so a reminder is written once per task and due time and is
delivered even if the first send fails. The statements per step do not depend on how many
tasks there are, only on how many are due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlmodel import Session, col

from bot_core.commands import list_arguments
from bot_core.destinations import DIGEST_KEY, REMIND_KEY
from bot_core.outbox import LEASE
from bot_core.profile import next_digest
from bot_core.reply import Reply, reminder_actions
from bot_core.task_schedule import after_reminder
from bot_core.tasks import TaskTools
from bot_core.timing.local import DEFAULT_DAY_REMINDER, Profile, format_due, parse_clock
from models.db import UnitOfWorkFactory
from models.tables import OutboxMessage, Task, User

log = logging.getLogger(__name__)

BATCH = 100
"""Reminders (and digests) one step writes at most; the rest are due in the next sweep."""


@dataclass(frozen=True)
class _Row:
    """An outbox row about to be written for an unprompted message."""

    platform: str
    workspace: str
    delivery_key: str
    target: str
    reply: Reply
    user_id: str


def reminder_reply(task: Task, now: datetime, profile: Profile) -> Reply:
    """"⏰ Reminder: #3 call mom — due today 17:00" with Done, the snoozes and Delete."""
    due = ""
    if task.due_date is not None:
        due = " — due " + format_due(task.due_date, task.due_has_time, now, profile.zone,
                                     relative=False)
    return Reply(text=f"⏰ Reminder: #{task.number} {task.title}{due}",
                 actions=reminder_actions(task.number))


class Reminders:
    """The sweep's steps that write unprompted messages into the outbox."""

    def __init__(self, unit_of_work: UnitOfWorkFactory, clock: Callable[[], datetime]) -> None:
        self._unit_of_work = unit_of_work
        self._clock = clock

    def write_due(self, limit: int = BATCH) -> list[int]:
        """Write the reminders that are due; the new outbox rows' ids (to send now)."""
        now = self._clock()
        with self._unit_of_work() as uow:
            session = uow.session
            query = (select(Task, col(User.timezone), col(User.day_reminder_time))
                     .join(User, col(User.id) == col(Task.user_id))
                     .where(col(Task.remind_at).is_not(None), col(Task.remind_at) <= now)
                     .order_by(col(Task.remind_at)).limit(limit))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(of=Task, skip_locked=True)
            rows: list[_Row] = []
            changes: list[dict[str, object]] = []
            for task, zone, day_time in session.execute(query).all():
                profile = Profile(zone, parse_clock(day_time) or DEFAULT_DAY_REMINDER)
                fired_at = task.remind_at
                # First move the task on (a recurring one to its latest occurrence: the one
                # this reminder is about, missed ones skipped), then say it.
                after_reminder(task, now, profile)
                if not task.completed and task.origin_target and task.origin_platform:
                    rows.append(_Row(task.origin_platform, task.origin_workspace or "",
                                     f"{REMIND_KEY}:{task.id}:{fired_at:%Y%m%dT%H%M%S}",
                                     task.origin_target, reminder_reply(task, now, profile),
                                     task.user_id))
                changes.append({"task_id": task.id, "new_remind_at": task.remind_at,
                                "new_due": task.due_date, "new_has_time": task.due_has_time,
                                "new_rule": task.recurrence})
                session.expunge(task)
            if changes:
                session.execute(
                    update(Task.__table__)  # type: ignore[attr-defined]
                    .where(Task.__table__.c.id == bindparam("task_id"))  # type: ignore[attr-defined]
                    .values(remind_at=bindparam("new_remind_at"), due_date=bindparam("new_due"),
                            due_has_time=bindparam("new_has_time"),
                            recurrence=bindparam("new_rule")),
                    changes)
            ids = _write(session, rows, now)
            uow.commit()
        if changes:
            log.info("reminders: %d due, %d written", len(changes), len(ids))
        return ids

    def write_digests(self, limit: int = BATCH) -> list[int]:
        """Write the morning digests that are due (only for someone with something due that
        day); the new outbox rows' ids."""
        now = self._clock()
        with self._unit_of_work() as uow:
            session = uow.session
            query = (select(User).where(col(User.digest_next_at).is_not(None),
                                        col(User.digest_next_at) <= now)
                     .order_by(col(User.digest_next_at)).limit(limit))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows: list[_Row] = []
            for user in session.execute(query).scalars().all():
                at = parse_clock(user.digest_time)
                profile = Profile(user.timezone, parse_clock(user.day_reminder_time)
                                  or DEFAULT_DAY_REMINDER)
                if at is None or not user.digest_target or not user.digest_platform:
                    user.digest_next_at = None
                    continue
                reply = self._digest(session, user.id, now, profile)
                if reply is not None:
                    rows.append(_Row(user.digest_platform, user.digest_workspace or "",
                                     f"{DIGEST_KEY}:{user.id}:{user.digest_next_at:%Y%m%d}",
                                     user.digest_target, reply, user.id))
                # Skip the days an outage missed: the next digest is the next one from now.
                user.digest_next_at = next_digest(at, user.timezone, now)
            session.flush()
            ids = _write(session, rows, now)
            uow.commit()
        return ids

    @staticmethod
    def _digest(session: Session, user_id: str, now: datetime, profile: Profile) -> Reply | None:
        tools = TaskTools(session, user_id, now=now, profile=profile)
        tasks = tools.call("list_tasks", list_arguments("today")).result.tasks or ()
        if not tasks:
            return None
        noun = "task is" if len(tasks) == 1 else "tasks are"
        return Reply(text=f"☀️ Good morning! {len(tasks)} {noun} due today:", tasks=tasks,
                     view="today")


def _write(session: Session, rows: list[_Row], now: datetime) -> list[int]:
    """One multi-row INSERT ... RETURNING for all the rows; their ids."""
    if not rows:
        return []
    values = [{"platform": r.platform, "workspace": r.workspace, "delivery_key": r.delivery_key,
               "target": r.target, "reply": r.reply.model_dump_json(exclude_defaults=True),
               "created_at": now, "next_attempt_at": now + LEASE, "attempts": 0,
               "user_id": r.user_id}
              for r in rows]
    ids = session.execute(insert(OutboxMessage).returning(col(OutboxMessage.id)),
                          values).scalars().all()
    return [int(i) for i in ids]
