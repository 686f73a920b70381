"""The user's local time: their zone, how a due date is stored and shown, when it reminds.

Storage is UTC. A due date is either an instant (``has_time``) or a calendar date; a date is
stored as that date at 00:00 UTC and read back as the same date in every zone, so a task "due
on the 4th" stays on the 4th when its owner changes timezone. Nothing here reads the machine's
clock or zone: ``now`` is always passed in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ASSUMED_ZONE = "UTC"
"""The zone used until the user's own is known (and every confirmation says so)."""
DEFAULT_DAY_REMINDER = time(9, 0)
"""A task due on a date (no time) reminds at this local time unless the user chose another."""


@dataclass(frozen=True)
class Profile:
    """What the tools need to know about the user's time: their zone (None: not known yet) and
    the hour that date-only tasks remind at."""

    zone_name: str | None = None
    day_reminder: time = DEFAULT_DAY_REMINDER

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.zone_name)

    @property
    def zone_known(self) -> bool:
        return self.zone_name is not None


@lru_cache(maxsize=512)
def zone_of(name: str | None) -> ZoneInfo:
    """The ZoneInfo for an IANA name; the assumed zone for None or a name no longer known."""
    try:
        return ZoneInfo(name or ASSUMED_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(ASSUMED_ZONE)


def parse_clock(text: str | None) -> time | None:
    """ "HH:MM" -> a time; None for anything else."""
    if not text:
        return None
    hours, sep, minutes = text.partition(":")
    if not sep or not (hours.isdigit() and minutes.isdigit()) or len(minutes) != 2:
        return None
    h, m = int(hours), int(minutes)
    return time(h, m) if 0 <= h < 24 and 0 <= m < 60 else None


def wall(day: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant of a local wall time. A time that does not exist that day (spring forward)
    comes out moved forward by the gap (02:30 -> 03:30), never lost."""
    local = datetime.combine(day, at, tzinfo=zone)
    round_trip = local.astimezone(UTC).astimezone(zone)
    if round_trip.replace(tzinfo=None) != local.replace(tzinfo=None):
        # In a gap: fold=0 gives the offset from before the change, which lands after the gap.
        return round_trip
    return local


def store_due(due: datetime | date) -> tuple[datetime, bool]:
    """(UTC instant or the date at 00:00 UTC, has_time) for the tasks table."""
    if isinstance(due, datetime):
        if due.tzinfo is None:
            raise ValueError("a due time must be aware")
        return due.astimezone(UTC), True
    return datetime.combine(due, time(0), tzinfo=UTC), False


def local_due(stored: datetime, has_time: bool, zone: ZoneInfo) -> datetime | date:
    """The stored due date as the user sees it: a local aware datetime or a date."""
    return stored.astimezone(zone) if has_time else stored.astimezone(UTC).date()


def due_day(stored: datetime, has_time: bool, zone: ZoneInfo) -> date:
    """The local calendar day a task is due on."""
    shown = local_due(stored, has_time, zone)
    return shown.date() if isinstance(shown, datetime) else shown


def reminder_for(due: datetime | date, profile: Profile) -> datetime:
    """The default reminder (UTC): at the due time, or at the day-reminder hour of a date."""
    if isinstance(due, datetime):
        return due.astimezone(UTC)
    return wall(due, profile.day_reminder, profile.zone).astimezone(UTC)


def is_overdue(stored: datetime, has_time: bool, now: datetime, zone: ZoneInfo) -> bool:
    """Past its time, or (a date) before today."""
    if has_time:
        return stored < now
    return due_day(stored, has_time, zone) < now.astimezone(zone).date()


def format_due(stored: datetime, has_time: bool, now: datetime, zone: ZoneInfo, *,
               relative: bool = True) -> str:
    """How a due date reads in a list: "today 17:00", "tomorrow", "Fri 4 Dec", "overdue 2 d"
    (``relative`` False: the date itself even when it has passed, "yesterday 17:00")."""
    today = now.astimezone(zone).date()
    day = due_day(stored, has_time, zone)
    clock = f" {stored.astimezone(zone):%H:%M}" if has_time else ""
    if not relative and day == today - timedelta(days=1):
        return f"yesterday{clock}"
    if relative and is_overdue(stored, has_time, now, zone):
        late = now - stored
        if has_time and late < timedelta(days=1):
            hours, minutes = int(late.total_seconds() // 3600), int(late.total_seconds() // 60)
            return f"overdue {hours} h" if hours else f"overdue {max(1, minutes)} min"
        return f"overdue {(today - day).days or 1} d"
    if day == today:
        return f"today{clock}"
    if day == today + timedelta(days=1):
        return f"tomorrow{clock}"
    year = f" {day.year}" if day.year != today.year and (day - today).days > 180 else ""
    return f"{day:%a} {day.day} {day:%b}{year}{clock}"


def format_moment(instant: datetime, now: datetime, zone: ZoneInfo) -> str:
    """A reminder or snooze time: "17:20", "tomorrow 09:00", "Fri 4 Dec 09:00"."""
    local = instant.astimezone(zone)
    today = now.astimezone(zone).date()
    if local.date() == today:
        return f"{local:%H:%M}"
    if local.date() == today + timedelta(days=1):
        return f"tomorrow {local:%H:%M}"
    return f"{local:%a} {local.day} {local:%b} {local:%H:%M}"
