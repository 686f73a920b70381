"""Due dates, reminders, recurrence and priority through the task tools (``TaskTools``), on both
databases: what add_task and update_task store, what they refuse (and that a refusal changes
nothing), how list_tasks sorts and filters at a fixed now, what a date-only task does when its
owner changes zone, and how due dates read.

Each call runs in its own unit of work that is committed whatever the result, as a turn is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from bot_core.profile import SettingsStore, read_settings
from bot_core.reminders import Reminders
from bot_core.reply import TaskView
from bot_core.service import TodoService
from bot_core.task_schedule import sort_key_in
from bot_core.tasks import TaskTools, ToolResult
from bot_core.timing.local import Profile, format_due, store_due, wall
from models.db import UnitOfWork
from models.tables import Task
from tests.conftest import ServiceFactory, inbound

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2027, 3, 4, 10, 0, tzinfo=BERLIN)  # a Thursday, 09:00 UTC


@dataclass
class Row:
    number: int
    title: str
    completed: bool
    due_date: datetime | None
    due_has_time: bool
    remind_at: datetime | None
    recurrence: str | None
    priority: str


class Desk:
    """One user's task tools at a chosen instant and zone, each call its own committed unit of
    work; and the rows as the database has them."""

    def __init__(self, engine: Engine, user_id: str) -> None:
        self.engine = engine
        self.user_id = user_id
        self.now = NOW
        self.zone: str | None = "Europe/Berlin"

    @property
    def profile(self) -> Profile:
        return Profile(self.zone)

    def call(self, name: str, arguments: dict[str, Any]) -> ToolResult:
        with Session(self.engine) as session:
            tools = TaskTools(session, self.user_id, now=self.now, profile=self.profile)
            result = tools.call(name, arguments).result
            session.commit()
        return result

    def add(self, title: str, **arguments: Any) -> ToolResult:
        result = self.call("add_task", {"title": title, **arguments})
        assert result.ok, result.message
        return result

    def update(self, number: int, **arguments: Any) -> ToolResult:
        return self.call("update_task", {"task_number": number, **arguments})

    def listed(self, due: str = "any", status: str = "open") -> list[int]:
        result = self.call("list_tasks", {"status": status, "due": due})
        assert result.ok and result.tasks is not None
        return [t.number for t in result.tasks]

    def row(self, number: int) -> Row:
        with Session(self.engine) as session:
            task = session.exec(select(Task).where(col(Task.user_id) == self.user_id,
                                                   col(Task.number) == number)).one()
            return Row(task.number, task.title, task.completed, task.due_date,
                       task.due_has_time, task.remind_at, task.recurrence, task.priority)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


@pytest.fixture
def service(make_service: ServiceFactory) -> TodoService:
    return make_service(clock=lambda: NOW.astimezone(UTC))


@pytest.fixture
def desk(service: TodoService, engine: Engine) -> Iterator[Desk]:
    service.handle(inbound("/timezone Europe/Berlin"))
    with engine.connect() as conn:
        user_id = conn.execute(text("SELECT id FROM users")).scalar_one()
    yield Desk(engine, str(user_id))


# -- add -------------------------------------------------------------------------------------


def test_add_with_a_due_date(desk: Desk) -> None:
    result = desk.add("renew passport", due="2027-03-05")
    assert result.message.startswith("Added #1: renew passport — due tomorrow")
    row = desk.row(1)
    assert (row.due_date, row.due_has_time) == (utc(2027, 3, 5), False)
    assert row.remind_at == utc(2027, 3, 5, 8)  # 09:00 in Berlin
    assert row.priority == "medium" and row.recurrence is None


def test_add_with_a_due_time_in_the_users_zone(desk: Desk) -> None:
    result = desk.add("call mom", due="2027-03-05T17:00")
    assert result.message == "Added #1: call mom — due tomorrow 17:00"
    row = desk.row(1)
    assert (row.due_date, row.due_has_time) == (utc(2027, 3, 5, 16), True)
    assert row.remind_at == utc(2027, 3, 5, 16)
    desk.add("with offset", due="2027-03-05T17:00+00:00")
    assert desk.row(2).due_date == utc(2027, 3, 5, 17)
    desk.add("custom reminder", due="2027-03-05T17:00", remind_at="2027-03-05T16:30")
    assert desk.row(3).remind_at == utc(2027, 3, 5, 15, 30)


def test_add_with_a_recurrence_and_no_date_starts_at_its_first_occurrence(desk: Desk) -> None:
    result = desk.add("standup", recurrence="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9;"
                                            "BYMINUTE=15")
    # Thursday 10:00: today's 09:15 has passed, so Friday's is the first.
    assert result.message == "Added #1: standup — due tomorrow 09:15, every weekday at 09:15"
    row = desk.row(1)
    assert (row.due_date, row.due_has_time) == (utc(2027, 3, 5, 8, 15), True)
    assert row.recurrence == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9;BYMINUTE=15"
    desk.add("bins", recurrence="FREQ=WEEKLY;BYDAY=TH")
    assert desk.row(2).due_date == utc(2027, 3, 4)  # a date-only rule: today is Thursday
    assert desk.row(2).remind_at is None  # 09:00 today has passed
    desk.add("review", due="2027-03-05T17:00", recurrence="FREQ=WEEKLY;BYDAY=FR")
    assert desk.row(3).recurrence == "FREQ=WEEKLY;BYDAY=FR"
    assert desk.row(3).due_date == utc(2027, 3, 5, 16)


def test_add_with_a_priority(desk: Desk) -> None:
    result = desk.add("taxes", priority="high", due="2027-03-10")
    assert result.message.endswith("high priority")
    assert desk.row(1).priority == "high"
    bad = desk.call("add_task", {"title": "x", "priority": "urgent"})
    assert not bad.ok and "priority" in bad.message


@pytest.mark.parametrize(("arguments", "says"), [
    ({"due": "next friday"}, "Invalid due: use ISO 8601 like 2027-03-05 or 2027-03-05T17:00."),
    ({"due": "2027-02-30"}, "Invalid due: use ISO 8601"),
    ({"remind_at": "soon"}, "Invalid remind_at: use ISO 8601"),
    ({"recurrence": "every monday"}, "Invalid recurrence: 'EVERY MONDAY' is not NAME=VALUE"),
    ({"recurrence": "FREQ=SECONDLY"}, "Invalid recurrence: FREQ must be"),
    ({"due": "2027-03-05", "remind_at": "2027-03-01T09:00"}, "already passed"),
])
def test_add_refuses_bad_dates_and_stores_nothing(desk: Desk, engine: Engine,
                                                   arguments: dict[str, Any], says: str) -> None:
    result = desk.call("add_task", {"title": "x", **arguments})
    assert not result.ok
    assert says in result.message
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tasks")).scalar_one() == 0
        assert conn.execute(text("SELECT last_task_number FROM users")).scalar_one() == 0


# -- update ----------------------------------------------------------------------------------


def test_moving_the_due_date_resets_the_reminder(desk: Desk) -> None:
    desk.add("call mom", due="2027-03-05T17:00", remind_at="2027-03-05T16:30")
    result = desk.update(1, due="2027-03-06T10:00")
    assert result.ok and result.message == "Updated #1: call mom — due Sat 6 Mar 10:00"
    row = desk.row(1)
    assert (row.due_date, row.remind_at) == (utc(2027, 3, 6, 9), utc(2027, 3, 6, 9))
    desk.update(1, due="2027-03-08")
    row = desk.row(1)
    assert (row.due_date, row.due_has_time, row.remind_at) == (
        utc(2027, 3, 8), False, utc(2027, 3, 8, 8))


def test_due_null_clears_the_due_date_the_reminder_and_the_repetition(desk: Desk) -> None:
    desk.add("water plants", due="2027-03-05T09:00", recurrence="FREQ=DAILY")
    result = desk.update(1, due=None)
    assert result.ok and result.message == "Updated #1: water plants"
    row = desk.row(1)
    assert (row.due_date, row.due_has_time, row.remind_at, row.recurrence) == (
        None, False, None, None)


def test_recurrence_null_stops_repeating_and_keeps_the_date(desk: Desk) -> None:
    desk.add("water plants", due="2027-03-05T09:00", recurrence="FREQ=DAILY")
    desk.update(1, recurrence=None)
    row = desk.row(1)
    assert (row.recurrence, row.due_date, row.remind_at) == (
        None, utc(2027, 3, 5, 8), utc(2027, 3, 5, 8))


def test_remind_at_snoozes_and_a_past_one_is_refused(desk: Desk) -> None:
    desk.add("call mom", due="2027-03-05T17:00")
    snoozed = desk.update(1, remind_at="2027-03-04T18:30")
    assert snoozed.ok and "reminder 18:30" in snoozed.message
    assert desk.row(1).remind_at == utc(2027, 3, 4, 17, 30)
    refused = desk.update(1, remind_at="2027-03-04T09:00")
    assert not refused.ok and refused.message == "That reminder time has already passed."
    assert desk.row(1).remind_at == utc(2027, 3, 4, 17, 30)
    desk.update(1, remind_at=None)
    assert desk.row(1).remind_at is None


def test_a_refused_update_changes_nothing(desk: Desk) -> None:
    """Bug fixed: the schedule was changed on the row before the refusal, and the turn's
    commit kept the half-made change (here: the new due date without its reminder)."""
    desk.add("call mom", due="2027-03-05T17:00")
    before = desk.row(1)
    refused = desk.update(1, due="2027-03-10T12:00", remind_at="2027-03-01T09:00")
    assert not refused.ok
    assert desk.row(1) == before
    desk.add("someday")
    never = desk.update(2, recurrence="FREQ=DAILY;UNTIL=20260101")
    assert not never.ok and never.message == "That repetition never happens after today."
    assert desk.row(2).recurrence is None


def test_completing_a_recurring_task_moves_it_and_the_last_one_completes_it(desk: Desk) -> None:
    desk.add("pills", due="2027-03-04T20:00", recurrence="FREQ=DAILY;COUNT=2")
    moved = desk.call("complete_task", {"task_number": 1})
    assert moved.ok and moved.message == "Done: #1 pills — next: tomorrow 20:00"
    row = desk.row(1)
    assert (row.completed, row.due_date, row.remind_at) == (
        False, utc(2027, 3, 5, 19), utc(2027, 3, 5, 19))
    done = desk.call("complete_task", {"task_number": 1})
    assert done.ok and done.message == "Done: #1 pills"
    row = desk.row(1)
    assert row.completed and row.remind_at is None


def test_the_reminder_sweep_keeps_the_rule_as_it_reads_from_the_new_due(desk: Desk,
                                                                         engine: Engine) -> None:
    """Bug fixed: the sweep moved a recurring task on but did not store its rule, so a COUNT
    started again from the new due date (and a gap-moved time stayed moved)."""
    desk.add("pills", due="2027-03-04T12:00", recurrence="FREQ=DAILY;COUNT=2")
    outage_over = datetime(2027, 3, 6, 12, 0, tzinfo=BERLIN)
    Reminders(partial(UnitOfWork, engine), lambda: outage_over).write_due()
    row = desk.row(1)
    assert (row.due_date, row.remind_at) == (utc(2027, 3, 5, 11), None)  # the second and last
    assert row.recurrence == "FREQ=DAILY;UNTIL=20270305T120000"
    desk.now = outage_over
    done = desk.call("complete_task", {"task_number": 1})
    assert done.message == "Done: #1 pills"
    assert desk.row(1).completed


# -- list: order and windows -------------------------------------------------------------------


@pytest.fixture
def many(desk: Desk) -> Desk:
    for title, arguments in [
        ("no date low", {"priority": "low"}),                    # 1
        ("fri medium", {"due": "2027-03-05"}),                    # 2
        ("fri high", {"due": "2027-03-05", "priority": "high"}),  # 3
        ("today 17", {"due": "2027-03-04T17:00"}),                # 4
        ("overdue", {"due": "2027-03-02"}),                       # 5
        ("no date high", {"priority": "high"}),                   # 6
        ("fri low", {"due": "2027-03-05", "priority": "low"}),    # 7
        ("next month", {"due": "2027-04-20"}),                    # 8
        ("in six days", {"due": "2027-03-10T08:00"}),             # 9
        ("fri high again", {"due": "2027-03-05", "priority": "high"}),  # 10
        ("this morning", {"due": "2027-03-04T08:00"}),            # 11
        ("done", {"due": "2027-03-03"}),                          # 12
    ]:
        desk.add(title, **arguments)
    assert desk.call("complete_task", {"task_number": 12}).ok
    return desk


def test_list_sorts_by_due_then_priority_then_number(many: Desk) -> None:
    assert many.listed() == [5, 11, 4, 3, 10, 2, 7, 9, 8, 6, 1]
    assert many.listed(status="all") == [5, 11, 4, 3, 10, 2, 7, 9, 8, 6, 1, 12]
    assert many.listed(status="done") == [12]


@pytest.mark.parametrize(("window", "numbers"), [
    ("today", [5, 11, 4]),                   # overdue, and due today
    ("upcoming", [4, 3, 10, 2, 7, 9]),       # from now to the end of the 7th day
    ("overdue", [5, 11]),
    ("none", [6, 1]),
])
def test_list_windows_at_a_fixed_now(many: Desk, window: str, numbers: list[int]) -> None:
    assert many.listed(window) == numbers


def test_list_labels_read_at_now(many: Desk) -> None:
    result = many.call("list_tasks", {"status": "open"})
    assert result.tasks is not None
    labels = {t.number: (t.due_label, t.overdue, t.bucket) for t in result.tasks}
    assert labels[5] == ("overdue 2 d", True, "overdue")
    assert labels[11] == ("overdue 2 h", True, "overdue")
    assert labels[4] == ("today 17:00", False, "today")
    assert labels[3] == ("tomorrow", False, "later")
    assert labels[9] == ("Wed 10 Mar 08:00", False, "later")
    assert labels[6] == (None, False, "someday")


def test_the_local_order_puts_each_task_on_its_own_local_day() -> None:
    """West of UTC a date-only task (kept at its date's 00:00 UTC) sorted among the previous
    day's evening tasks; ``sort_key_in`` orders by the user's days."""
    zone = Profile("America/Los_Angeles")
    friday, has_time = store_due(date(2027, 3, 5))
    thursday_evening = wall(date(2027, 3, 4), time(18), zone.zone).astimezone(UTC)
    views = [TaskView(number=1, title="fri", due_at=friday, due_has_time=has_time),
             TaskView(number=2, title="thu 18:00", due_at=thursday_evening, due_has_time=True),
             TaskView(number=3, title="fri 08:00", due_has_time=True,
                      due_at=wall(date(2027, 3, 5), time(8), zone.zone).astimezone(UTC))]
    assert [v.number for v in sorted(views, key=sort_key_in(zone))] == [2, 1, 3]


def test_list_sorts_by_local_day_west_of_utc(desk: Desk) -> None:
    desk.zone = "America/Los_Angeles"
    desk.add("fri", due="2027-03-05")
    desk.add("thu evening", due="2027-03-04T18:00")
    assert desk.listed() == [2, 1]


# -- changing zone -----------------------------------------------------------------------------


def test_a_date_only_task_stays_on_its_date_when_the_user_changes_zone(
        make_service: ServiceFactory, engine: Engine) -> None:
    # 12:00 UTC: already Friday 02:00 in Kiritimati (UTC+14), still Thursday 01:00 in Pago Pago
    # (UTC-11).
    now = utc(2027, 3, 4, 12)
    service = make_service(clock=lambda: now)

    def say(said: str) -> str:
        reply = service.handle(inbound(said)).reply
        assert reply is not None
        return reply.text

    assert say("/timezone Pacific/Kiritimati").startswith(
        "Your timezone is now Pacific/Kiritimati (it's 02:00 there)")
    with engine.connect() as conn:
        user_id = str(conn.execute(text("SELECT id FROM users")).scalar_one())
    desk = Desk(engine, user_id)
    desk.now, desk.zone = now, "Pacific/Kiritimati"
    added = desk.add("passport", due="2027-03-05").task
    assert added is not None and added.due_label == "today"
    desk.add("call", due="2027-03-05T10:00")  # an instant: 20:00 UTC on the 4th
    assert desk.listed("today") == [1, 2]  # the date-only one first in its day
    assert desk.row(1).remind_at == utc(2027, 3, 4, 19)  # 09:00 on the 5th in Kiritimati

    assert say("/timezone Pacific/Pago_Pago").startswith("Your timezone is now Pacific/Pago_Pago")
    with Session(engine) as session:
        assert read_settings(session, user_id).profile.zone_name == "Pacific/Pago_Pago"
    desk.zone = "Pacific/Pago_Pago"
    row = desk.row(1)
    assert (row.due_date, row.due_has_time) == (utc(2027, 3, 5), False)  # the same date
    # Bug fixed: its reminder stayed at 09:00 Kiritimati (08:00 on the 4th in Pago Pago).
    assert row.remind_at == utc(2027, 3, 5, 20)  # 09:00 on the 5th in Pago Pago
    assert desk.row(2).due_date == utc(2027, 3, 4, 20)  # the timed one keeps its instant
    assert desk.row(2).remind_at == utc(2027, 3, 4, 20)
    result = desk.call("list_tasks", {})
    assert result.tasks is not None
    assert [(t.number, t.due_label) for t in result.tasks] == [
        (2, "today 09:00"), (1, "tomorrow")]
    assert desk.listed("today") == [2]


def test_a_reminder_the_user_chose_stays_when_the_zone_changes(desk: Desk,
                                                               service: TodoService) -> None:
    desk.add("passport", due="2027-03-06", remind_at="2027-03-05T18:00")
    service.handle(inbound("/timezone America/New_York"))
    assert desk.row(1).remind_at == utc(2027, 3, 5, 17)


def test_a_zone_the_platform_reports_moves_date_only_reminders_once(desk: Desk,
                                                                    engine: Engine) -> None:
    desk.add("passport", due="2027-03-06")
    assert desk.row(1).remind_at == utc(2027, 3, 6, 8)
    for _ in range(2):  # Slack reports the zone with every message: the second changes nothing
        with Session(engine) as session:
            SettingsStore(session, desk.user_id, NOW, None).keep_timezone("Asia/Tokyo")
            session.commit()
        assert desk.row(1).remind_at == utc(2027, 3, 6, 0)  # 09:00 in Tokyo


# -- how due dates read ------------------------------------------------------------------------


@pytest.mark.parametrize(("due", "label"), [
    (datetime(2026, 12, 1, 17, 0, tzinfo=BERLIN), "today 17:00"),
    (date(2026, 12, 1), "today"),
    (date(2026, 12, 2), "tomorrow"),
    (datetime(2026, 12, 2, 9, 0, tzinfo=BERLIN), "tomorrow 09:00"),
    (date(2026, 12, 4), "Fri 4 Dec"),
    (datetime(2026, 12, 4, 8, 30, tzinfo=BERLIN), "Fri 4 Dec 08:30"),
    (date(2027, 7, 1), "Thu 1 Jul 2027"),  # more than half a year ahead: with its year
    (date(2027, 1, 5), "Tue 5 Jan"),
    (date(2026, 11, 29), "overdue 2 d"),
    (date(2026, 11, 30), "overdue 1 d"),
    (datetime(2026, 12, 1, 7, 0, tzinfo=BERLIN), "overdue 3 h"),
    (datetime(2026, 12, 1, 9, 40, tzinfo=BERLIN), "overdue 20 min"),
    (datetime(2026, 11, 30, 9, 0, tzinfo=BERLIN), "overdue 1 d"),
    (datetime(2026, 11, 28, 11, 0, tzinfo=BERLIN), "overdue 3 d"),
])
def test_format_due_labels(due: datetime | date, label: str) -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN)  # a Tuesday
    stored, has_time = store_due(due)
    assert format_due(stored, has_time, now, BERLIN) == label


def test_format_due_without_relative_days_says_the_date() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=BERLIN)
    stored, has_time = store_due(datetime(2026, 11, 30, 17, 0, tzinfo=BERLIN))
    assert format_due(stored, has_time, now, BERLIN, relative=False) == "yesterday 17:00"
    stored, has_time = store_due(datetime(2026, 11, 28, 17, 0, tzinfo=BERLIN))
    assert format_due(stored, has_time, now, BERLIN, relative=False) == "Sat 28 Nov 17:00"


def test_a_date_reads_the_same_in_every_zone() -> None:
    stored, has_time = store_due(date(2027, 3, 5))
    now = utc(2027, 3, 4, 12)
    assert format_due(stored, has_time, now, ZoneInfo("Pacific/Kiritimati")) == "today"
    assert format_due(stored, has_time, now, ZoneInfo("Pacific/Pago_Pago")) == "tomorrow"


def test_an_overdue_task_reads_overdue_not_due_overdue(make_service: ServiceFactory) -> None:
    from datetime import UTC, datetime

    from tests.conftest import inbound
    from tests.fakes.clock import SetClock

    clock = SetClock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    service = make_service(clock=clock)
    service.handle(inbound("/add ping today at 8:30am"))
    reply = service.handle(inbound("snooze 1 for an hour")).reply

    assert reply is not None and "overdue" in reply.text, reply
    assert "due overdue" not in reply.text
