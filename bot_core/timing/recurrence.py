"""Recurring tasks: an RFC 5545 RRULE kept in the user's local wall time.

The rule is expanded in local wall time (dateutil.rrule on naive datetimes) and each occurrence
is then placed in the zone, so "every day at 9" stays at 09:00 across daylight-saving changes,
and an occurrence that falls in a spring-forward gap moves forward instead of being lost. A
wall time that happens twice (autumn fold) is the first of the two (the earlier instant).

The rule is expanded from the task's current due date. So that moving a task on does not
change what the rule means, the rule kept with the task can be rewritten as it moves (see
:class:`Step`): a ``COUNT`` becomes the ``UNTIL`` of its last occurrence, and a wall time a gap
moved is written into the rule (``BYHOUR``/``BYMINUTE``), so the next day is 02:30 again, not
03:30.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from bot_core.timing.local import wall

log = logging.getLogger(__name__)

MAX_SCAN = 5000
"""Occurrences looked at before giving up (a rule that never fires after ``now``)."""
MAX_LENGTH = 300
MAX_COUNT = 1000
_ALLOWED_KEYS = frozenset({
    "FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "BYMONTH", "BYHOUR", "BYMINUTE", "BYSETPOS",
    "WKST", "COUNT", "UNTIL",
})
_FREQS = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY", "HOURLY"})
_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_BYDAY = re.compile(r"^([+-]?\d{1,2})?(MO|TU|WE|TH|FR|SA|SU)$")
_UNTIL = re.compile(r"^\d{8}(T\d{6})?$")
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February: leap years count
_CHECK_FROM = datetime(9970, 1, 1)
"""Where ``validate_rule`` looks for a first occurrence: dateutil scans to the year 9999 when a
rule never matches, so starting near the end bounds the scan; the calendar repeats every 28
years, so a rule that ever fires fires in 9970-9999."""


class InvalidRule(ValueError):
    """The text is not a recurrence rule this bot keeps."""


def _split(body: str) -> dict[str, str]:
    """ "FREQ=DAILY;BYHOUR=9" -> {"FREQ": "DAILY", "BYHOUR": "9"} (in order)."""
    parts: dict[str, str] = {}
    for piece in body.split(";"):
        name, _, value = piece.partition("=")
        if name.strip():
            parts[name.strip().upper()] = value.strip().upper()
    return parts


def _join(parts: dict[str, str]) -> str:
    return ";".join(f"{name}={value}" for name, value in parts.items())


def _numbers(parts: dict[str, str], name: str, low: int, high: int, *,
             signed: bool = False) -> list[int]:
    """The whole numbers of a BYxxx list, each in low..high (or -high..-low when signed)."""
    if name not in parts:
        return []
    values = []
    for item in parts[name].split(","):
        text = item.strip()
        sign = text[:1] in ("+", "-")
        digits = text[1:] if sign else text
        number = int(text) if digits.isdigit() and (signed or not sign) else None
        if number is None or not low <= abs(number) <= high:
            span = f"{low} to {high}" + (f" or -{high} to -{low}" if signed else "")
            raise InvalidRule(f"{name} takes whole numbers from {span}, not {item[:20]!r}")
        values.append(number)
    return values


def validate_rule(rule: str) -> str:
    """The rule, normalised (upper case, no "RRULE:" prefix, no empty parts), or InvalidRule
    with a reason a person (or the model) can act on."""
    text = rule.strip()
    if text[:6].upper() == "RRULE:":
        text = text[6:]
    pieces = [p.strip() for p in text.upper().split(";") if p.strip()]
    if not pieces:
        raise InvalidRule("a recurrence is an RRULE like FREQ=WEEKLY;BYDAY=MO")
    if len(";".join(pieces)) > MAX_LENGTH:
        raise InvalidRule(f"a recurrence is at most {MAX_LENGTH} characters, an RRULE like "
                          "FREQ=WEEKLY;BYDAY=MO")
    parts: dict[str, str] = {}
    for piece in pieces:
        name, sep, value = (s.strip() for s in piece.partition("="))
        if not sep or not name or not value:
            raise InvalidRule(f"{piece[:30]!r} is not NAME=VALUE (like FREQ=DAILY)")
        if name in parts:
            raise InvalidRule(f"{name} is given twice")
        parts[name] = value
    if "DTSTART" in parts:
        raise InvalidRule("no DTSTART: the task's due date is where the repetition starts")
    unknown = sorted(set(parts) - _ALLOWED_KEYS)
    if unknown:
        raise InvalidRule(f"unsupported RRULE part {unknown[0]} (use FREQ, INTERVAL, BYDAY, "
                          "BYMONTHDAY, BYMONTH, BYHOUR, BYMINUTE, BYSETPOS, COUNT or UNTIL)")
    freq = parts.get("FREQ")
    if freq not in _FREQS:
        raise InvalidRule("FREQ must be HOURLY, DAILY, WEEKLY, MONTHLY or YEARLY")
    interval = parts.get("INTERVAL", "1")
    if not interval.isdigit() or not 1 <= int(interval) <= 365:
        raise InvalidRule("INTERVAL must be a whole number from 1 to 365")
    if "COUNT" in parts:
        if not parts["COUNT"].isdigit() or not 1 <= int(parts["COUNT"]) <= MAX_COUNT:
            raise InvalidRule(f"COUNT must be a whole number from 1 to {MAX_COUNT}")
        if "UNTIL" in parts:
            raise InvalidRule("give COUNT or UNTIL, not both")
    if "UNTIL" in parts:
        until = parts["UNTIL"]
        if until.endswith("Z"):
            raise InvalidRule("UNTIL is in the user's local time: no Z, like UNTIL=20271215 or "
                              "UNTIL=20271215T235959")
        if not _UNTIL.match(until) or _until_value(until) is None:
            raise InvalidRule("UNTIL must be a local date like 20271215 or a date and time like "
                              "20271215T235959")
    for day in parts.get("BYDAY", "").split(",") if "BYDAY" in parts else []:
        match = _BYDAY.match(day.strip())
        limit = 5 if freq == "MONTHLY" else 53
        if match is None or (match[1] and not 1 <= abs(int(match[1])) <= limit):
            raise InvalidRule(f"BYDAY takes days like MO,TH or, in a month, 1MO or -1FR; not "
                              f"{day[:20]!r}")
    months = _numbers(parts, "BYMONTH", 1, 12)
    month_days = _numbers(parts, "BYMONTHDAY", 1, 31, signed=True)
    hours = _numbers(parts, "BYHOUR", 0, 23)
    _numbers(parts, "BYMINUTE", 0, 59)
    _numbers(parts, "BYSETPOS", 1, 366, signed=True)
    if "WKST" in parts and parts["WKST"] not in _DAYS:
        raise InvalidRule("WKST takes a day like MO")
    if month_days and not any(abs(d) <= _MONTH_DAYS[m - 1] for d in month_days
                              for m in months or range(1, 13)):
        raise InvalidRule("that day never comes in those months (like 30 February)")
    if freq == "HOURLY" and hours and int(interval) > 1:
        raise InvalidRule("FREQ=HOURLY with both INTERVAL and BYHOUR is not kept; list the "
                          "hours instead, like FREQ=DAILY;BYHOUR=8,12,16")
    body = _join(parts)
    try:
        made = _expand(_join({k: v for k, v in parts.items() if k not in ("COUNT", "UNTIL")}),
                       _CHECK_FROM)
        ever = next(iter(made), None)
    except (ValueError, TypeError) as error:
        raise InvalidRule(f"not a valid RRULE: {error}") from None
    if ever is None:
        raise InvalidRule("that repetition never happens")
    return body


def _until_value(text: str) -> datetime | None:
    try:
        if len(text) == 8:
            return datetime.strptime(text, "%Y%m%d")
        return datetime.strptime(text, "%Y%m%dT%H%M%S")
    except ValueError:
        return None


def rule_has_time(rule: str) -> bool:
    """True when the rule fixes a time of day (its occurrences are instants, not dates)."""
    return "BYHOUR=" in rule.upper() or "FREQ=HOURLY" in rule.upper()


def _expand(rule: str, anchor: datetime) -> rrule:
    parts = _split(rule)
    until = parts.get("UNTIL", "")
    if len(until) == 8:
        # "Until 15 December" includes that day, also for a rule with a time of day (dateutil
        # reads a bare date as its midnight).
        parts["UNTIL"] = until + "T235959"
    made = rrulestr(f"RRULE:{_join(parts)}", dtstart=anchor)
    assert isinstance(made, rrule)
    return made


def _anchor(due: datetime | date, zone: ZoneInfo) -> datetime:
    if isinstance(due, datetime):
        return due.astimezone(zone).replace(tzinfo=None, second=0, microsecond=0)
    return datetime.combine(due, time(0))


@dataclass(frozen=True)
class Step:
    """An occurrence after a task's due date, and the rule to keep with the task once it is
    moved there (the same rule, unless a COUNT or a gap-moved wall time had to be written
    down)."""

    at: datetime | date
    """A local aware datetime, or a date for a date-only task."""
    rule: str


def steps(rule: str, due: datetime | date, zone: ZoneInfo) -> Iterator[Step]:
    """The occurrences after ``due``, each once, in order (at most :data:`MAX_SCAN`)."""
    timed = isinstance(due, datetime)
    anchor = _anchor(due, zone)
    try:
        expanded = _expand(rule, anchor)
    except (ValueError, TypeError):
        log.warning("recurrence: a stored rule does not expand; treated as ended")
        return
    parts = _split(rule)
    if parts.get("COUNT", "").isdigit() and int(parts["COUNT"]) <= MAX_COUNT:
        # Counted from this due date; from the next one on, the count would start again.
        last = list(expanded)[-1:] or [anchor]
        del parts["COUNT"]
        parts["UNTIL"] = f"{last[0]:%Y%m%dT%H%M%S}" if timed else f"{last[0]:%Y%m%d}"
    kept = _join(parts)
    previous: datetime | date = due.astimezone(zone) if isinstance(due, datetime) else due
    for index, naive in enumerate(expanded.xafter(anchor, inc=False)):
        if index >= MAX_SCAN:
            return
        at: datetime | date
        carried = kept
        if timed:
            at = wall(naive.date(), naive.time(), zone)
            if at.replace(tzinfo=None) != naive:
                carried = _pin_wall_time(parts, naive.time())
        else:
            at = naive.date()
        if not _later(at, previous):
            continue  # a gap moved it onto the next one, or two times of a date-only day
        previous = at
        yield Step(at, carried)


def _pin_wall_time(parts: dict[str, str], at: time) -> str:
    """The rule with the wall time a gap moved written in, where the rule took its time of day
    from the due date (which now shows the moved time)."""
    pinned = dict(parts)
    if "BYHOUR" not in pinned and pinned.get("FREQ") != "HOURLY":
        pinned["BYHOUR"] = str(at.hour)
    pinned.setdefault("BYMINUTE", str(at.minute))
    return _join(pinned)


def keep_wall_time(rule: str, at: time) -> str:
    """The rule with the wall time ``at`` written in where it took its time of day from the
    due date: for a due a spring-forward gap moved (asked 02:30, kept at 03:30), so the
    following occurrences are at 02:30 again."""
    return _pin_wall_time(_split(rule), at)


def occurrences(rule: str, due: datetime | date, zone: ZoneInfo) -> Iterator[datetime | date]:
    """Occurrences after ``due`` (local aware datetimes, or dates for a date-only task)."""
    for step in steps(rule, due, zone):
        yield step.at


def next_step(rule: str, due: datetime | date, zone: ZoneInfo, *,
              not_before: datetime | date) -> Step | None:
    """The first occurrence after ``due`` that is also after ``not_before`` (an instant for a
    timed task, a date for a date-only one), with the rule to keep; None when it has ended."""
    for step in steps(rule, due, zone):
        if _later(step.at, not_before):
            return step
    return None


def next_after(rule: str, due: datetime | date, zone: ZoneInfo, *,
               not_before: datetime | date) -> datetime | date | None:
    """The first occurrence after ``due`` that is also after ``not_before`` (an instant for a
    timed task, a date for a date-only one); None when the rule has ended."""
    step = next_step(rule, due, zone, not_before=not_before)
    return None if step is None else step.at


def first_occurrence(rule: str, start: datetime | date, zone: ZoneInfo) -> datetime | date | None:
    """The rule's first occurrence at or after ``start`` (used when the rule is given without
    a date: "every monday" said on a Tuesday starts next Monday). A COUNT counts from there."""
    parts = _split(rule)
    parts.pop("COUNT", None)  # the search's own starting point must not use one up
    search = _join(parts)
    if isinstance(start, datetime):
        return next_after(search, start - timedelta(minutes=1), zone,
                          not_before=start - timedelta(microseconds=1))
    return next_after(search, start - timedelta(days=1), zone,
                      not_before=start - timedelta(days=1))


def _later(occurrence: datetime | date, bound: datetime | date) -> bool:
    if isinstance(occurrence, datetime):
        assert isinstance(bound, datetime), "a timed occurrence is compared with an instant"
        return occurrence > bound
    return occurrence > (bound.date() if isinstance(bound, datetime) else bound)


_DAY_NAMES = {"MO": "Mon", "TU": "Tue", "WE": "Wed", "TH": "Thu", "FR": "Fri", "SA": "Sat",
              "SU": "Sun"}
_ORDINALS = {"1": "first", "2": "second", "3": "third", "4": "fourth", "5": "fifth",
             "-1": "last", "-2": "second to last"}
_UNITS = {"DAILY": "day", "WEEKLY": "week", "MONTHLY": "month", "YEARLY": "year",
          "HOURLY": "hour"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def describe_rule(rule: str) -> str:
    """The rule in a few words: "every day at 09:00", "every Mon, Thu", "every 2 weeks",
    "every month on the 1st", "every last Fri", "every year on 3 Mar", "every day until
    15 Dec 2027", "every week, 4 times"."""
    parts = _split(rule)
    freq = parts.get("FREQ", "DAILY")
    interval_text = parts.get("INTERVAL", "1")
    interval = int(interval_text) if interval_text.isdigit() and interval_text != "0" else 1
    unit = _UNITS.get(freq, "time")
    every = f"every {interval} {unit}s" if interval > 1 else f"every {unit}"
    if interval == 2 and freq == "WEEKLY":
        every = "every other week"
    text = every
    days = [d.strip() for d in parts.get("BYDAY", "").split(",") if d.strip()]
    months = [m for m in parts.get("BYMONTH", "").split(",") if m.strip().isdigit()]
    month_days = [d for d in parts.get("BYMONTHDAY", "").split(",") if d.strip()]
    if days:
        names = []
        for day in days:
            prefix, code = day[:-2].lstrip("+"), day[-2:]
            name = _DAY_NAMES.get(code, code)
            names.append(f"{_ORDINALS.get(prefix, prefix)} {name}" if prefix else name)
        listed = ", ".join(names)
        if [d[-2:] for d in days] == ["MO", "TU", "WE", "TH", "FR"] and interval == 1:
            text = "every weekday"
        elif interval == 2 and freq == "WEEKLY":
            text = f"every other {listed}"
        elif interval == 1 and freq in ("DAILY", "WEEKLY", "MONTHLY"):
            text = f"every {listed}"
        else:
            text = f"{text} on {listed}"
    if month_days:
        if freq == "YEARLY" and len(months) == 1 and len(month_days) == 1 \
                and month_days[0].isdigit():
            text = f"{text} on {int(month_days[0])} {_MONTHS[int(months[0]) - 1]}"
            months = []
        else:
            text = f"{text} on the {', '.join(_ordinal_day(d) for d in month_days)}"
    if months and 1 <= int(months[0]) <= 12:
        text += " in " + ", ".join(_MONTHS[int(m) - 1] for m in months if 1 <= int(m) <= 12)
    hours = [h for h in parts.get("BYHOUR", "").split(",") if h.strip().isdigit()]
    if hours:
        minute_text = (parts.get("BYMINUTE", "0").split(",") or ["0"])[0]
        minute = int(minute_text) if minute_text.isdigit() else 0
        text += " at " + " and ".join(f"{int(h):02d}:{minute:02d}" for h in hours)
    elif freq == "HOURLY" and parts.get("BYMINUTE", "").isdigit() and parts["BYMINUTE"] != "0":
        text += f" at :{int(parts['BYMINUTE']):02d}"
    until = _until_value(parts.get("UNTIL", ""))
    if until is not None:
        text += f" until {until.day} {_MONTHS[until.month - 1]} {until.year}"
    elif parts.get("COUNT", "").isdigit():
        count = int(parts["COUNT"])
        text += ", once" if count == 1 else f", {count} times"
    return text


def _ordinal_day(day: str) -> str:
    day = day.strip().lstrip("+")
    if day == "-1":
        return "last day"
    if day.startswith("-") and day[1:].isdigit():
        return f"{_ordinal_day(day[1:])} to last day"
    if not day.isdigit():
        return day
    number = int(day)
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    if 10 <= number % 100 <= 20:
        suffix = "th"
    return f"{number}{suffix}"
