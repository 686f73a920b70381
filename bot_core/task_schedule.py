"""A task's dates: what the tools' due / remind_at / recurrence arguments do to a row, what
completing or reminding a recurring task does, and how the dates read in a list.

The tools take local ISO 8601 text (what the LLM sends and the offline brain produces) and the
rows keep UTC; the conversion uses the user's zone at the turn's ``now``, never the machine's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
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
    Step,
    describe_rule,
    first_occurrence,
    keep_wall_time,
    next_step,
    rule_has_time,
    steps,
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
    """Apply ``change`` to ``task`` in place; a sentence for the user when it cannot be (the
    task is then left as it was: nothing of a refused change is kept)."""
    rule = change.rule if change.rule_given else task.recurrence
    due_date, has_time, remind = task.due_date, task.due_has_time, task.remind_at
    moved_wall: time | None = None
    if change.due_given:
        if change.due is None:
            due_date, has_time, remind = None, False, None
            if not change.rule_given:
                rule = None
        else:
            due = to_local(change.due, profile)
            due_date, has_time = store_due(due)
            remind = _future(reminder_for(due, profile), now)
            moved_wall = _gap_moved(change.due, due)
    elif change.rule_given and change.rule and due_date is None:
        start: datetime | date = (now.astimezone(profile.zone) if rule_has_time(change.rule)
                                  else now.astimezone(profile.zone).date())
        first = first_occurrence(change.rule, start, profile.zone)
        if first is None:
            return "That repetition never happens after today."
        due_date, has_time = store_due(first)
        remind = _future(reminder_for(first, profile), now)
    if change.remind_given:
        if change.remind is None:
            remind = None
        else:
            instant = reminder_for(to_local(change.remind, profile), profile)
            if instant <= now:
                return "That reminder time has already passed."
            remind = instant
    if rule and moved_wall is not None:
        # A due in a spring-forward gap is kept at the moved time; the rule keeps the asked one.
        rule = keep_wall_time(rule, moved_wall)
    task.recurrence = rule
    task.due_date, task.due_has_time, task.remind_at = due_date, has_time, remind
    return None


def _gap_moved(text: str, placed: datetime | date) -> time | None:
    """The wall time ``text`` asked for, when a spring-forward gap moved it (else None)."""
    asked = parse_local(text)
    if not isinstance(asked, datetime) or asked.tzinfo is not None:
        return None
    assert isinstance(placed, datetime)
    wanted = asked.replace(second=0, microsecond=0)
    return wanted.time() if placed.replace(tzinfo=None) != wanted else None


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
    following = next_step(task.recurrence, due, zone, not_before=bound)
    if following is None:
        return False
    _move(task, following)
    task.remind_at = _future(reminder_for(following.at, profile), now)
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
    latest = upcoming = None
    for step in steps(task.recurrence, due, zone):
        if reminder_for(step.at, profile) > now:
            upcoming = step
            break
        latest = step
    if latest is not None:
        _move(task, latest)
    if upcoming is not None:
        task.remind_at = reminder_for(upcoming.at, profile)


def _move(task: Task, step: Step) -> None:
    """Put a recurring task on an occurrence (and keep the rule as it reads from there)."""
    task.due_date, task.due_has_time = store_due(step.at)
    task.recurrence = step.rule


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


LocalSortKey = tuple[bool, bool, date, bool, datetime, int, int]


def sort_key_in(profile: Profile) -> Callable[[TaskView], LocalSortKey]:
    """The list order in the user's zone: open before done, dated before undated, by local day
    (a date-only task first in its day, like an all-day event), then time, then priority, then
    number."""
    zone = profile.zone
    far = datetime.max.replace(tzinfo=UTC)

    def key(view: TaskView) -> LocalSortKey:
        day = (due_day(view.due_at, view.due_has_time, zone) if view.due_at is not None
               else date.max)
        instant = view.due_at if view.due_at is not None and view.due_has_time else far
        return (view.completed, view.due_at is None, day, view.due_has_time, instant,
                _PRIORITY_RANK.get(view.priority, 1), view.number)

    return key


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
