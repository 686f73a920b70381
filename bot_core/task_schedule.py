"""A task's dates: what the tools' due / remind_at / recurrence arguments do to a row, what
completing or reminding a recurring task does, and how the dates read in a list.

The tools take local ISO 8601 text (what the LLM sends and the offline brain produces) and the
rows keep UTC; the conversion uses the user's zone at the turn's ``now``, never the machine's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from bot_core.reply import Bucket, TaskView
from bot_core.timing.local import (
    Profile,
    due_day,
    format_due,
    is_overdue,
    local_due,
    reminder_for,
    store_due,
    wall,
)
from bot_core.timing.recurrence import (
    describe_rule,
    first_occurrence,
    next_after,
    occurrences,
    rule_has_time,
)
from models.tables import Task

if TYPE_CHECKING:
    from bot_core.tasks import UpdateTaskArgs

ListWindow = Literal["any", "today", "upcoming", "overdue", "none"]
UPCOMING_DAYS = 7
_PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}


def parse_local(text: str) -> datetime | date:
    """ "2027-03-05" -> a date; "2027-03-05T17:00" -> a naive local datetime (or aware, when
    an offset is given). ValueError with a readable reason otherwise."""
    value = text.strip()
    if len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    try:
        return datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise ValueError("use ISO 8601 like 2027-03-05 or 2027-03-05T17:00") from None


def to_local(text: str, profile: Profile) -> datetime | date:
    """Local ISO text -> an aware datetime in the user's zone, or a date."""
    parsed = parse_local(text)
    if isinstance(parsed, datetime):
        if parsed.tzinfo is not None:
            return parsed.astimezone(profile.zone)
        return wall(parsed.date(), parsed.time().replace(second=0, microsecond=0), profile.zone)
    return parsed


@dataclass(frozen=True)
class ScheduleChange:
    """Which of due / remind_at / recurrence a call gives (None = remove) or leaves alone."""

    due: str | None = None
    due_given: bool = False
    remind: str | None = None
    remind_given: bool = False
    rule: str | None = None
    rule_given: bool = False

    @classmethod
    def for_new(cls, due: str | None, remind: str | None, rule: str | None) -> ScheduleChange:
        return cls(due, due is not None, remind, remind is not None, rule, rule is not None)

    @classmethod
    def from_update(cls, args: UpdateTaskArgs) -> ScheduleChange:
        return cls(args.due, args.given("due"), args.remind_at, args.given("remind_at"),
                   args.recurrence, args.given("recurrence"))

    @property
    def empty(self) -> bool:
        return not (self.due_given or self.remind_given or self.rule_given)


def apply_change(task: Task, change: ScheduleChange, now: datetime,
                 profile: Profile) -> str | None:
    """Apply ``change`` to ``task`` in place; a sentence for the user when it cannot be."""
    if change.rule_given:
        task.recurrence = change.rule
        if change.rule and task.due_date is None and not change.due_given:
            start: datetime | date = (now.astimezone(profile.zone) if rule_has_time(change.rule)
                                      else now.astimezone(profile.zone).date())
            first = first_occurrence(change.rule, start, profile.zone)
            if first is None:
                return "That repetition never happens after today."
            task.due_date, task.due_has_time = store_due(first)
            task.remind_at = _future(reminder_for(first, profile), now)
    if change.due_given:
        if change.due is None:
            task.due_date, task.due_has_time, task.remind_at = None, False, None
            if not change.rule_given:
                task.recurrence = None
        else:
            due = to_local(change.due, profile)
            task.due_date, task.due_has_time = store_due(due)
            task.remind_at = _future(reminder_for(due, profile), now)
    if change.remind_given:
        if change.remind is None:
            task.remind_at = None
        else:
            moment = to_local(change.remind, profile)
            instant = reminder_for(moment, profile)
            if instant <= now:
                return "That reminder time has already passed."
            task.remind_at = instant
    return None


def _future(instant: datetime, now: datetime) -> datetime | None:
    return instant if instant > now else None


def complete_occurrence(task: Task, now: datetime, profile: Profile) -> bool:
    """Move a recurring task to its next occurrence after both its due date and now; False
    when the rule has ended (the task is then simply completed)."""
    assert task.recurrence and task.due_date is not None
    zone = profile.zone
    due = local_due(task.due_date, task.due_has_time, zone)
    bound: datetime | date
    if isinstance(due, datetime):
        bound = max(due, now.astimezone(zone))
    else:
        bound = max(due, now.astimezone(zone).date())
    following = next_after(task.recurrence, due, zone, not_before=bound)
    if following is None:
        return False
    task.due_date, task.due_has_time = store_due(following)
    task.remind_at = _future(reminder_for(following, profile), now)
    return True


def after_reminder(task: Task, now: datetime, profile: Profile) -> None:
    """A reminder was sent: a one-off task reminds no more; a recurring one moves to the latest
    occurrence whose reminder has come (skipping missed ones, never a flood) and reminds again
    at the next."""
    task.remind_at = None
    if not task.recurrence or task.due_date is None:
        return
    zone = profile.zone
    due = local_due(task.due_date, task.due_has_time, zone)
    upcoming = None
    for occurrence in occurrences(task.recurrence, due, zone):
        if reminder_for(occurrence, profile) > now:
            upcoming = occurrence
            break
        due = occurrence
    task.due_date, task.due_has_time = store_due(due)
    if upcoming is not None:
        task.remind_at = reminder_for(upcoming, profile)


def view_of(task: Task, now: datetime, profile: Profile) -> TaskView:
    """The user-facing view of a row, its dates as they read at ``now`` in the user's zone."""
    label = overdue = None
    bucket: Bucket = "someday"
    if task.due_date is not None:
        label = format_due(task.due_date, task.due_has_time, now, profile.zone)
        overdue = is_overdue(task.due_date, task.due_has_time, now, profile.zone)
        today = now.astimezone(profile.zone).date()
        day = due_day(task.due_date, task.due_has_time, profile.zone)
        bucket = "overdue" if overdue else "today" if day == today else "later"
    return TaskView(
        number=task.number, title=task.title, description=task.description,
        completed=task.completed, due_at=task.due_date, due_has_time=task.due_has_time,
        due_label=label, overdue=bool(overdue) and not task.completed,
        remind_at=task.remind_at, recurrence=task.recurrence,
        repeats_label=describe_rule(task.recurrence) if task.recurrence else None,
        priority=task.priority or "medium", bucket=bucket,
    )


def sort_key(view: TaskView) -> tuple[bool, bool, datetime, int, int]:
    """Open before done, dated before undated, soonest first, then priority, then number."""
    far = datetime.max.replace(tzinfo=UTC)
    return (view.completed, view.due_at is None, view.due_at or far,
            _PRIORITY_RANK.get(view.priority, 1), view.number)


def in_window(view: TaskView, window: ListWindow, now: datetime, profile: Profile) -> bool:
    """Whether a task belongs to ``window`` (today: overdue or due today; upcoming: due from
    now to the end of the seventh day after today)."""
    if window == "any":
        return True
    if window == "none":
        return view.due_at is None
    if view.due_at is None:
        return False
    if window == "overdue":
        return view.overdue
    today = now.astimezone(profile.zone).date()
    day = due_day(view.due_at, view.due_has_time, profile.zone)
    if window == "today":
        return view.overdue or day == today
    return not view.overdue and today <= day <= today + timedelta(days=UPCOMING_DAYS)
