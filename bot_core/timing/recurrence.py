"""Recurring tasks: an RFC 5545 RRULE kept in the user's local wall time.

The rule is expanded in local wall time (dateutil.rrule on naive datetimes) and each occurrence
is then placed in the zone, so "every day at 9" stays at 09:00 across daylight-saving changes,
and an occurrence that falls in a spring-forward gap moves forward instead of being lost.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from bot_core.timing.local import wall

MAX_SCAN = 5000
"""Occurrences looked at before giving up (a rule that never fires after ``now``)."""
_ALLOWED_KEYS = frozenset({
    "FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYHOUR", "BYMINUTE", "BYSETPOS",
    "WKST", "COUNT", "UNTIL",
})
_FREQS = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY", "HOURLY"})


class InvalidRule(ValueError):
    """The text is not a recurrence rule this bot keeps."""


def validate_rule(rule: str) -> str:
    """The rule, normalised (upper case, no "RRULE:" prefix), or InvalidRule with a reason."""
    body = rule.strip().removeprefix("RRULE:").removeprefix("rrule:").upper()
    if not body or len(body) > 300:
        raise InvalidRule("a recurrence is an RRULE like FREQ=WEEKLY;BYDAY=MO")
    parts = dict(part.partition("=")[::2] for part in body.split(";") if part)
    unknown = set(parts) - _ALLOWED_KEYS
    if unknown:
        raise InvalidRule(f"unsupported RRULE part {sorted(unknown)[0]}")
    if parts.get("FREQ") not in _FREQS:
        raise InvalidRule("FREQ must be DAILY, WEEKLY, MONTHLY, YEARLY or HOURLY")
    interval = parts.get("INTERVAL", "1")
    if not interval.isdigit() or not 1 <= int(interval) <= 365:
        raise InvalidRule("INTERVAL must be a whole number from 1 to 365")
    try:
        _expand(body, datetime(2027, 1, 1))
    except (ValueError, TypeError) as error:
        raise InvalidRule(f"not a valid RRULE: {error}") from None
    return body


def rule_has_time(rule: str) -> bool:
    """True when the rule fixes a time of day (its occurrences are instants, not dates)."""
    return "BYHOUR=" in rule.upper() or "FREQ=HOURLY" in rule.upper()


def _expand(rule: str, anchor: datetime) -> rrule:
    made = rrulestr(f"RRULE:{rule}", dtstart=anchor)
    assert isinstance(made, rrule)
    return made


def _anchor(due: datetime | date, zone: ZoneInfo) -> datetime:
    if isinstance(due, datetime):
        return due.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    return datetime.combine(due, time(0))


def occurrences(rule: str, due: datetime | date, zone: ZoneInfo) -> Iterator[datetime | date]:
    """Occurrences after ``due`` (local aware datetimes, or dates for a date-only task)."""
    anchor = _anchor(due, zone)
    for index, naive in enumerate(_expand(rule, anchor).xafter(anchor, inc=False)):
        if index >= MAX_SCAN:
            return
        yield wall(naive.date(), naive.time(), zone) if isinstance(due, datetime) else naive.date()


def next_after(rule: str, due: datetime | date, zone: ZoneInfo, *,
               not_before: datetime | date) -> datetime | date | None:
    """The first occurrence after ``due`` that is also after ``not_before`` (an instant for a
    timed task, a date for a date-only one); None when the rule has ended."""
    for occurrence in occurrences(rule, due, zone):
        if _later(occurrence, not_before):
            return occurrence
    return None


def first_occurrence(rule: str, start: datetime | date, zone: ZoneInfo) -> datetime | date | None:
    """The rule's first occurrence at or after ``start`` (used when the rule is given without
    a date: "every monday" said on a Tuesday starts next Monday)."""
    if isinstance(start, datetime):
        return next_after(rule, start - timedelta(minutes=1), zone,
                          not_before=start - timedelta(microseconds=1))
    return next_after(rule, start - timedelta(days=1), zone, not_before=start - timedelta(days=1))


def _later(occurrence: datetime | date, bound: datetime | date) -> bool:
    if isinstance(occurrence, datetime):
        assert isinstance(bound, datetime), "a timed occurrence is compared with an instant"
        return occurrence > bound
    return occurrence > (bound.date() if isinstance(bound, datetime) else bound)


_DAY_NAMES = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat",
              "SU": "Sun"}
_ORDINALS = {"1": "first", "2": "second", "3": "third", "4": "fourth", "-1": "last"}
_UNITS = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year",
          "HOURLY": "hour"}


def describe_rule(rule: str) -> str:
    """The rule in a few words: "every day at 09:00", "every Mon, Thu", "every 2 weeks",
    "every month on the 1st", "every last Fri"."""
    parts = dict(part.partition("=")[::2] for part in rule.upper().split(";") if part)
    freq = parts.get("FREQ", "DAILY")
    interval = int(parts.get("INTERVAL", "1") or "1")
    unit = _UNITS.get(freq, "time")
    text = f"every {interval} {unit}s" if interval > 1 else f"every {unit}"
    if interval == 2 and freq == "WEEKLY":
        text = "every other week"
    days = [d for d in parts.get("BYDAY", "").split(",") if d]
    if days:
        names = []
        for day in days:
            prefix, code = day[:-2], day[-2:]
            name = _DAY_NAMES.get(code, code)
            names.append(f"{_ORDINALS.get(prefix, prefix)} {name}" if prefix else name)
        if [d[-2:] for d in days] == ["MO", "TU", "WE", "TH", "FR"] and interval == 1:
            text = "every weekday"
        elif interval == 2 and freq == "WEEKLY":
            text = f"every other {', '.join(names)}"
        elif freq == "MONTHLY" or interval == 1:
            text = f"every {', '.join(names)}"
        else:
            text = f"{text} on {', '.join(names)}"
    month_days = [d for d in parts.get("BYMONTHDAY", "").split(",") if d]
    if month_days:
        text = f"{text} on the {', '.join(_ordinal_day(d) for d in month_days)}"
    hours = [h for h in parts.get("BYHOUR", "").split(",") if h]
    if hours:
        minute = int((parts.get("BYMINUTE", "0").split(",") or ["0"])[0] or 0)
        text += " at " + " and ".join(f"{int(h):02d}:{minute:02d}" for h in hours)
    return text


def _ordinal_day(day: str) -> str:
    if day == "-1":
        return "last day"
    number = int(day)
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    if 10 <= number % 100 <= 20:
        suffix = "th"
    return f"{number}{suffix}"
