"""Find the date, time, recurrence and priority in an English to-do message.

Why: "buy milk tomorrow at 5pm" must become the title "buy milk" and an exact instant with no
model call, no network and no heavy import (dateparser costs Lambda cold starts and guesses:
"call 911" is not a time). Every rule below is explicit and tested; `now` is always passed in,
the machine's clock and zone are never read. Words are whole tokens, case-insensitive.

Rules:
* A number is a time only with am/pm ("5pm", "5.30 pm"), as H:MM ("17:00"; "2:30" is 02:30, a
  24-hour clock), as "5 o'clock", as "half past five"/"quarter past 9", as "17h"/"5.30" after
  at/by/..., or as a bare hour after at/@/by/around ("at 5") that ends the phrase. A bare hour
  1-7 means pm, 8-11 am, 12 noon, 0 and 13-23 as written; a morning/afternoon/evening/night
  next to a time decides am/pm instead.
* A duration needs "in"/"within" ("in 20 min", "in 2 hours and 30 minutes"); parse_moment also
  takes "for 20 min", "20 min". Minutes and hours are elapsed time (added in UTC, so DST is
  right); days, weeks, months give a date.
* Future by default: a time alone that has passed is tomorrow's; a weekday, "the 15th",
  "dec 15", "this weekend" is the next one not in the past (today counts when no time is given
  or the time is still ahead). Named dates (today, tomorrow, 2027-01-05, "in 3 days", "dec 15
  2027") are never moved, even if the time given with them has passed.
* "friday"/"this friday" may be today; "next friday" is the first friday after today; "friday
  next week" is the friday of next week. "next week" = its monday, "next month" = its 1st,
  "next weekend" = the saturday of next week, "end of week" = friday, "end of month" = its last
  day (all dates only).
* morning 09:00 ("first thing" too, but only next to a date: "first thing tomorrow"),
  afternoon 15:00, evening 19:00, tonight/night 20:00, eod/cob 17:00, noon,
  midnight = 00:00 ending the day named (alone: the coming midnight). "tonight"/"this morning"
  said after its hour: the next full hour; after its part of the day (noon for the morning,
  18:00 for the afternoon): tomorrow at its hour.
* Dates: ISO 2027-01-05; a month name with a day ("dec 15", "15 december", "15th of dec
  2027"); "on the 15th" or "on the first" (needs on/by/before/until/due and must end the
  phrase; "friday the 13th" is the next 13th that is a friday); d/m or m/d only
  when unambiguous (one number > 12) and after on/by/due/... ("24/7" is not a date). A month
  name without a day is no date ("march for science", "may i"); "last friday" (past) is none,
  "the last friday (of the month)" is the month's.
* Weak words count only where they cannot be part of the sentence: a bare weekday, daily,
  weekly, noon, weekend must follow on/by/due/before/until/at or end the text or clause
  ("sunday roast recipe" keeps its sunday, "weekly report" is no rule); abbreviations (fri, sat,
  sun, wed), bare morning/evening, "mondays" and "17h" need such a word or a stronger partner
  ("fri 3pm"). "q3", "mondayitis", "monday.com", "1st aid kit" are never dates, nor is a phrase
  after last/past/previous/since ("notes since monday").
* Recurrence is an RFC 5545 RRULE body in local time, DTSTART being `due` (the first occurrence
  not in the past). "every other X" is INTERVAL=2; an ordinal with a weekday ("every first
  monday", "every last friday", "the 2nd tuesday of every month") is its place in the month.
  A date that does not fill the rule ("every week" + "on tuesday") starts it ("from monday") or,
  after until/till, ends it (UNTIL=YYYYMMDD, or ...T235959 when timed). Several times ("at 8am
  and 8pm") only in a rule, sharing their minute ("and 8:30pm" would stay in the title).
* The title is the text without the phrase and the on/at/by/before/due/for/until/from that led
  into it, whitespace and stray commas tidied. A later phrase that fits the first ("at 5pm call
  mom on friday") joins it; one that conflicts ("... next weekend") stays in the title.
* Priority: "high/medium/low priority", "priority: high", "!high", "!urgent", "asap", and
  "urgent" at the end, in brackets or as "urgent:" ("urgent care" stays in the title); "not
  urgent"/"no rush" are low. The first one found counts; all are cut from the title.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal, NamedTuple

from dateutil import rrule as rr
from dateutil.relativedelta import relativedelta

Priority = Literal["high", "medium", "low"]


@dataclass(frozen=True)
class When:
    due: datetime | date
    recurrence: str | None = None
    remind_at: datetime | None = None


@dataclass(frozen=True)
class Parsed:
    title: str
    when: When | None
    priority: Priority | None = None


# ---------------------------------------------------------------- vocabulary
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WD_FULL = {n: i for i, n in enumerate(_DAYS)}
_WD_ABBR = {"mon": 0, "tue": 1, "tues": 1, "wed": 2, "weds": 2, "thu": 3, "thur": 3,
            "thurs": 3, "fri": 4, "sat": 5, "sun": 6}
_WD_PLURAL = {n + "s": i for n, i in _WD_FULL.items()}
_CODES = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_MONTH_NAMES = ("january", "february", "march", "april", "may", "june", "july", "august",
                "september", "october", "november", "december")
_MONTHS = {n: i + 1 for i, n in enumerate(_MONTH_NAMES)} | {
    n[:3]: i + 1 for i, n in enumerate(_MONTH_NAMES)} | {"sept": 9}
_TOMORROW = {"tomorrow", "tmrw", "tmr", "tmw", "tomorow", "tommorow", "tommorrow", "2morrow"}
_COUNTS = {w: i + 2 for i, w in enumerate(
    ("two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"))}
_AMOUNTS = {"a": 1, "an": 1, "one": 1} | _COUNTS
_HOUR_WORDS = {"one": 1} | _COUNTS
_UNITS = {"min": "minutes", "mins": "minutes", "minute": "minutes", "minutes": "minutes",
          "h": "hours", "hr": "hours", "hrs": "hours", "hour": "hours", "hours": "hours",
          "day": "days", "days": "days", "week": "weeks", "weeks": "weeks", "wk": "weeks",
          "wks": "weeks", "month": "months", "months": "months", "year": "years",
          "years": "years", "yr": "years", "yrs": "years"}
_GLUED_UNITS = {"m": "minutes", "d": "days", "w": "weeks"} | _UNITS
_CLOCK_UNITS = {"minutes": 1, "hours": 60}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "last": -1}
_DAY_WORDS = {w: n for w, n in _ORDINALS.items() if n > 0}
_DAYPARTS = {"morning": (9, 12), "afternoon": (15, 18), "evening": (19, 24), "night": (20, 24)}
_PM_PARTS = ("afternoon", "evening", "night")
_ENDS = {"eod": "day", "cob": "day", "eow": "week", "eom": "month"}
_CONNECTORS = {"on", "at", "@", "by", "before", "due", "for", "until", "till", "til", "from",
               "starting", "beginning", "around"}
_RESCUE = _CONNECTORS - {"for"}
_BARE_HOUR_CONN = {"at", "@", "by", "before", "until", "till", "til", "around"}
_UNTIL = {"until", "till", "til"}
_MAX_PHRASES = 8  # a pasted essay costs a few ms, not seconds
_PAST = {"last", "past", "previous", "since", "per"}  # "since monday" is no due date
_BOUNDARY = {"and", "then", "to", "for", "from", "with", "in", "on", "at", "or", "please",
             "pls", "so", "by", "before", "after", "about", "re"}
_RECUR_WORDS = {"every", "each", "daily", "weekly", "monthly", "yearly", "annually", "hourly",
                "everyday", "fortnightly", "weekdays", "weekends"} | set(_WD_PLURAL)
_SIMPLE_RULES = {"daily": ("DAILY", 1), "everyday": ("DAILY", 1), "weekly": ("WEEKLY", 1),
                 "fortnightly": ("WEEKLY", 2), "monthly": ("MONTHLY", 1),
                 "yearly": ("YEARLY", 1), "annually": ("YEARLY", 1), "hourly": ("HOURLY", 1)}
_UNIT_FREQ = {"hours": "HOURLY", "days": "DAILY", "weeks": "WEEKLY", "months": "MONTHLY",
              "years": "YEARLY"}
_RR_FREQ: dict[str, Literal[0, 1, 2, 3, 4, 5, 6]] = {
    "YEARLY": rr.YEARLY, "MONTHLY": rr.MONTHLY, "WEEKLY": rr.WEEKLY, "DAILY": rr.DAILY,
    "HOURLY": rr.HOURLY}

_A = re.ASCII
_TOKEN = re.compile(r"[^\W_]+(?:[-:./'’][^\W_]+)*|\S")
_AMPM = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?(am|pm)", _A)
_H_OR_HM = re.compile(r"(\d{1,2})(?:[:.](\d{2}))?()", _A)
_HHMM = re.compile(r"(\d{1,2}):(\d{2})", _A)
_DOTTED = re.compile(r"(\d{1,2})\.(\d{2})", _A)
_HOUR_H = re.compile(r"(\d{1,2})h(\d{2})?", _A)
_HOUR = re.compile(r"\d{1,2}", _A)
_NUMBER = re.compile(r"\d{1,3}(?:\.\d+)?", _A)
_DAY_NUM = re.compile(r"(\d{1,2})(st|nd|rd|th)?", _A)
_YEAR = re.compile(r"20\d\d", _A)
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", _A)
_SLASH = re.compile(r"(\d{1,2})/(\d{1,2})(?:/(\d{4}|\d{2}))?", _A)
_GLUED_DUR = re.compile(r"(\d{1,3}(?:\.\d+)?)([a-z]+)", _A)
_H_M_DUR = re.compile(r"(\d{1,2})h(\d{1,2})m?", _A)
_PRIORITY = re.compile(
    r"(?<![\w!])[(\[]?(?:(?P<n>not\s+urgent|no\s+rush)"
    r"|(?P<a>highest|high|top|medium|normal|med|lowest|low)[- ]?(?:priority|prio|pri)"
    r"|(?:priority|prio)\s*[:=]?\s*(?P<b>high|medium|normal|med|low)"
    r"|!(?P<c>high|medium|med|low|urgent)|(?P<d>asap)"
    r"|^\s*(?P<e>urgent)\s*[:!\-–—,]+|(?P<f>urgent)!+|(?P<g>urgent)\s*$"
    r"|(?<=[(\[])(?P<h>urgent)(?=[)\]]))[)\]]?(?![\w])", re.I)
_TIDY = tuple((re.compile(p), r) for p, r in (
    (r"\(\s*\)|\[\s*\]", ""), (r"\s+([,;:.!?)\]])", r"\1"), (r"([,;:])(?:\s*[,;:])+", r"\1"),
    (r"[,;:]+([.!?])", r"\1")))
_LEVELS: dict[str, Priority] = {"highest": "high", "high": "high", "top": "high",
                                "urgent": "high", "asap": "high", "medium": "medium",
                                "normal": "medium", "med": "medium", "low": "low",
                                "lowest": "low", "not urgent": "low", "no rush": "low"}

# how a part may stand: alone / after on,by.. or ending the phrase / after on,by.. /
# after on,by.. and ending the phrase / ending the phrase
_STRONG, _WEAK, _CONN, _CONN_END, _END = range(5)


# ---------------------------------------------------------------- parts of a phrase
class _Fixed(NamedTuple):
    day: date
    tag: str = ""


class _Weekday(NamedTuple):
    days: tuple[int, ...]
    skip_today: bool = False


class _MonthDay(NamedTuple):
    month: int
    day: int


class _Ordinal(NamedTuple):
    day: int
    weekday: int | None = None  # "friday the 13th": the next 13th that is a friday


class _Nth(NamedTuple):
    n: int
    weekday: int


class _Weekend(NamedTuple):
    next: bool


class _Clock(NamedTuple):
    hour: int
    minute: int
    kind: str = "exact"  # exact | clock (literal, an evening adds 12) | bare (1-7 are pm)
    midnight: bool = False  # 00:00 ending the day


class _Times(NamedTuple):
    clocks: tuple[_Clock, ...]


class _Daypart(NamedTuple):
    name: str
    this: bool


class _Recur(NamedTuple):
    freq: str
    interval: int = 1
    byday: tuple[tuple[int, int], ...] = ()
    bymonthday: int | None = None
    bymonth: int | None = None
    daypart: str | None = None


class _Offset(NamedTuple):
    delta: timedelta


_DateSpec = _Fixed | _Weekday | _MonthDay | _Ordinal | _Nth | _Weekend
_Spec = _DateSpec | _Times | _Daypart | _Recur | _Offset
_DATE_TYPES = (_Fixed, _Weekday, _MonthDay, _Ordinal, _Nth, _Weekend)


class _Part(NamedTuple):
    spec: _Spec
    end: int
    need: int
    conn: tuple[str, ...] = ()


class _State(NamedTuple):
    now: datetime
    tz: tzinfo
    today: date
    moment: bool
    lists: bool


# ---------------------------------------------------------------- public API
def parse_when(text: str, now: datetime, *, parse_priority: bool = True) -> Parsed:
    """The title without its time phrase and priority, what the phrase meant, the priority.

    `now` must be aware, in the user's zone (ValueError otherwise); results are in that zone."""
    state = _state(now, moment=False)
    priority, spans = _priority(text) if parse_priority else (None, [])
    masked = list(text)
    for s, e in spans:
        masked[s:e] = "|" + " " * (e - s - 1)
    toks, places = _tokens("".join(masked))
    state = state._replace(lists=any(w in _RECUR_WORDS for w in toks))
    when, used = _scan(toks, state)
    cut = spans + [(places[a][0], places[b - 1][1]) for a, b in used]
    return Parsed(_clean(text, cut), when, priority)


def parse_moment(text: str, now: datetime) -> When | None:
    """The whole text is a time expression ("friday 3pm", "tomorrow", "in an hour", "for an
    hour" -> now+1h, "20 min", "next week"); None if it is not exactly one."""
    toks = _tokens(text)[0]
    while toks and toks[-1] in (".", "!", "?"):
        toks.pop()
    if not toks:
        return None
    state = _state(now, moment=True)
    state = state._replace(lists=any(w in _RECUR_WORDS for w in toks))
    parts = _greedy(toks, 0, state)
    if not parts or parts[-1].end != len(toks):
        return None
    return _build(parts, state)


# ---------------------------------------------------------------- scanning
def _state(now: datetime, *, moment: bool) -> _State:
    tz = now.tzinfo
    if tz is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime in the user's time zone")
    return _State(now, tz, now.date(), moment, False)


def _tokens(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Lower-cased words (digits, letters and inner - : . / ' kept together) and their spans."""
    found = list(_TOKEN.finditer(text))
    return [m.group().lower() for m in found], [m.span() for m in found]


def _w(toks: Sequence[str], i: int) -> str:
    return toks[i] if 0 <= i < len(toks) else ""


def _scan(toks: list[str], st: _State) -> tuple[When | None, list[tuple[int, int]]]:
    """Every accepted phrase left to right; later ones join the first when they fit."""
    merged: list[_Part] = []
    used: list[tuple[int, int]] = []
    when: When | None = None
    i, phrases = 0, 0
    while i < len(toks) and phrases < _MAX_PHRASES:
        w = toks[i]
        starts = ((w in _STARTERS or w[0].isdigit() or (w == "half" and _w(toks, i + 1) == "past"))
                  and _w(toks, i - 1) not in _PAST)
        found = _accepted(toks, _greedy(toks, i, st), st) if starts else None
        if found is None:
            i += 1
            continue
        parts, alone = found
        phrases += 1
        both = None
        if merged and all(_fits(merged + parts[:k], p.spec) for k, p in enumerate(parts)):
            both = _build(merged + parts, st)
        if not merged or both is not None:
            merged, when = merged + parts, both or alone
            used.append((i, parts[-1].end))
        i = parts[-1].end
    return when, used


def _greedy(toks: Sequence[str], i: int, st: _State) -> list[_Part]:
    parts: list[_Part] = []
    j = i
    while True:
        k = j + 1 if parts and _w(toks, j) == "," else j
        conn: list[str] = []
        while len(conn) < 2 and _w(toks, k) in _CONNECTORS:
            conn.append(toks[k])
            k += 1
        m = _part(toks, k, tuple(conn), st)
        if m is None or not _fits(parts, m.spec):
            return parts
        parts.append(m._replace(conn=tuple(conn)))
        j = m.end


def _accepted(toks: Sequence[str], parts: list[_Part], st: _State
              ) -> tuple[list[_Part], When] | None:
    """The longest prefix of the parts that may stand here, and what it means."""
    while parts:
        nxt = _w(toks, parts[-1].end)
        boundary = nxt == "" or nxt in _BOUNDARY or not nxt[0].isalnum()
        when = _build(parts, st) if any(_stands(p, boundary) for p in parts) else None
        if when is not None:
            return parts, when
        parts = parts[:-1]
    return None


def _stands(p: _Part, boundary: bool) -> bool:
    rescued = any(c in _RESCUE for c in p.conn)
    return (p.need == _STRONG or (p.need in (_WEAK, _CONN) and rescued)
            or (p.need in (_WEAK, _END) and boundary) or (p.need == _CONN_END and rescued
                                                           and boundary))


def _kind(spec: _Spec) -> str:
    return "date" if isinstance(spec, _DATE_TYPES) else type(spec).__name__


def _fits(parts: Sequence[_Part], spec: _Spec) -> bool:
    kinds = [_kind(p.spec) for p in parts]
    if "_Offset" in kinds or (parts and isinstance(spec, _Offset)):
        return False
    if _kind(spec) != "date":
        return _kind(spec) not in kinds
    dates = [p.spec for p in parts if isinstance(p.spec, _DATE_TYPES)]
    if not dates:
        return True
    if len(dates) > 1:
        return False
    pair = (dates[0], spec)
    return any(isinstance(a, _Weekday) and len(a.days) == 1
               and isinstance(b, _Fixed | _MonthDay | _Ordinal) for a, b in (pair, pair[::-1]))


# ---------------------------------------------------------------- matchers
def _part(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State) -> _Part | None:
    w = _w(t, i)
    for matcher in _DIGIT_MATCHERS if w[:1].isdigit() else _BY_WORD.get(w, ()):
        m = matcher(t, i, conn, st)
        if m is not None:
            return m
    return None


def _m_recur(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State) -> _Part | None:
    w = _w(t, i)
    if w in _SIMPLE_RULES:
        freq, interval = _SIMPLE_RULES[w]
        return _Part(_Recur(freq, interval), i + 1, _WEAK)
    if w in _WD_PLURAL or w in ("weekdays", "weekends"):
        days = _weekdays(t, i, abbr=False, plural=True, many=True)
        if days is not None:
            return _Part(_Recur("WEEKLY", byday=tuple((0, d) for d in days[0])), days[1], _CONN)
    if w in ("every", "each"):
        return _every(t, i + 1)
    return None


def _every(t: Sequence[str], j: int) -> _Part | None:
    interval, w = 1, _w(t, j)
    if w == "other":
        interval, j = 2, j + 1
    elif _w(t, j + 1) in _UNITS and (_count(w) or _ordinal(w)) > 0:
        interval, j = _count(w) or _ordinal(w), j + 1
    w = _w(t, j)
    unit = _UNITS.get(w, "")
    if unit in _UNIT_FREQ:
        return _Part(_Recur(_UNIT_FREQ[unit], interval), j + 1, _STRONG)
    if w in ("weekday", "weekdays", "weekend", "weekends"):
        days = range(5) if w.startswith("weekday") else (5, 6)
        return _Part(_Recur("WEEKLY", interval, tuple((0, d) for d in days)), j + 1, _STRONG)
    if w in _DAYPARTS:
        return _Part(_Recur("DAILY", interval, daypart=w), j + 1, _STRONG)
    wds = _weekdays(t, j, abbr=True, plural=True, many=True)
    if wds is not None:
        return _Part(_Recur("WEEKLY", interval, tuple((0, d) for d in wds[0])), wds[1], _STRONG)
    if interval > 1:
        return None
    n, wd = _ordinal(w), _weekday(_w(t, j + 1), abbr=True)
    if n and wd is not None and n <= 5:
        end = _of_month(t, j + 2)[1]
        return _Part(_Recur("MONTHLY", byday=((n, wd),)), end, _STRONG)
    day = _day_number(w, ordinal_only=True)
    if day:
        return _Part(_Recur("MONTHLY", bymonthday=day), _of_month(t, j + 1)[1], _STRONG)
    md = _m_monthday(t, j, (), None)
    if md is not None and isinstance(md.spec, _MonthDay):
        spec = md.spec
        return _Part(_Recur("YEARLY", bymonth=spec.month, bymonthday=spec.day), md.end, _STRONG)
    return None


def _m_relative(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State) -> _Part | None:
    """in 20 min, in 2 hours, in 3 days, in a week, within a month (the "in" is optional in
    parse_moment)."""
    j = i + 1 if _w(t, i) in ("in", "within") else i
    if j == i and not st.moment:
        return None
    dur = _duration(t, j)
    if dur is None:
        return None
    amount, unit, end = dur
    if unit in ("minutes", "hours"):
        return _Part(_Offset(timedelta(**{unit: amount})), end, _STRONG)
    if amount != int(amount):
        return None
    n = int(amount)
    step = {"days": relativedelta(days=n), "weeks": relativedelta(weeks=n),
            "months": relativedelta(months=n), "years": relativedelta(years=n)}[unit]
    return _Part(_Fixed(st.today + step), end, _STRONG)


def _duration(t: Sequence[str], j: int, *, more: bool = True) -> tuple[float, str, int] | None:
    w = _w(t, j)
    if w == "half" and _w(t, j + 1) in ("a", "an") and _UNITS.get(_w(t, j + 2)) == "hours":
        return 0.5, "hours", j + 3
    if m := _H_M_DUR.fullmatch(w):
        return int(m[1]) + int(m[2]) / 60, "hours", j + 1
    if (m := _GLUED_DUR.fullmatch(w)) and m[2] in _GLUED_UNITS:
        return float(m[1]), _GLUED_UNITS[m[2]], j + 1
    amount = float(w) if _NUMBER.fullmatch(w) else _AMOUNTS.get(w)
    unit = _UNITS.get(_w(t, j + 1))
    if amount is None or unit is None or amount <= 0:
        return None
    if _w(t, j + 2) == "and" and _w(t, j + 3) == "a" and _w(t, j + 4) == "half":
        return amount + 0.5, unit, j + 5
    rest = _duration(t, j + 3, more=False) if more and _w(t, j + 2) == "and" else None
    if rest is not None and unit in _CLOCK_UNITS and rest[1] in _CLOCK_UNITS:  # 2 h and 30 min
        return _CLOCK_UNITS[unit] * amount + _CLOCK_UNITS[rest[1]] * rest[0], "minutes", rest[2]
    return amount, unit, j + 2


def _m_named(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State) -> _Part | None:
    w, today = _w(t, i), st.today
    if w == "today":
        return _Part(_Fixed(today), i + 1, _STRONG)
    if w in _TOMORROW:
        return _Part(_Fixed(today + timedelta(days=1)), i + 1, _STRONG)
    j = i + 1 if w == "the" else i
    if _w(t, j) == "day" and _w(t, j + 1) == "after" and _w(t, j + 2) in _TOMORROW:
        return _Part(_Fixed(today + timedelta(days=2)), j + 3, _STRONG)
    if w in ("next", "this", "coming") and _w(t, i + 1) in ("week", "month", "year", "weekend"):
        return _next_period(w, _w(t, i + 1), i + 2, today)
    if _w(t, j) in ("weekend", "weekends"):
        return _Part(_Weekend(False), j + 1, _WEAK)
    end_of = _end_of(t, i, j)
    if end_of is None:
        return None
    if end_of[0] == "day":
        return _Part(_Times((_Clock(17, 0),)), end_of[1], _STRONG)
    if end_of[0] == "week":
        return _Part(_Weekday((4,)), end_of[1], _STRONG)
    last = calendar.monthrange(today.year, today.month)[1]
    return _Part(_Fixed(today.replace(day=last)), end_of[1], _STRONG)


def _end_of(t: Sequence[str], i: int, j: int) -> tuple[str, int] | None:
    """eod, cob, close of business, (the) end of (the) day/week/month, eow, eom."""
    w = _w(t, i)
    if w in _ENDS:
        return _ENDS[w], i + 1
    if _words(t, i, "close of business"):
        return "day", i + 3
    k = j + 3 if _w(t, j + 2) == "the" else j + 2
    if _w(t, j) == "end" and _w(t, j + 1) == "of" and _w(t, k) in ("day", "week", "month"):
        return _w(t, k), k + 1
    return None


def _next_period(w: str, period: str, end: int, today: date) -> _Part | None:
    if period == "weekend":
        return _Part(_Weekend(w == "next"), end, _STRONG)
    if w != "next":
        return None
    if period == "week":
        return _Part(_Fixed(today + timedelta(days=7 - today.weekday()), "next_week"), end,
                      _STRONG)
    if period == "month":
        return _Part(_Fixed(today.replace(day=1) + relativedelta(months=1)), end, _STRONG)
    return _Part(_Fixed(date(today.year + 1, 1, 1)), end, _STRONG)


def _m_monthday(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State | None
                ) -> _Part | None:
    """dec 15, december 15th, dec 15 2027, 15 dec, the 15th of december."""
    j = i + 1 if _w(t, i) == "the" else i
    month = _MONTHS.get(_w(t, j)) if j == i else None
    if month is not None:
        k = j + 2 if _w(t, j + 1) == "the" else j + 1
        day = _day_number(_w(t, k))
    else:
        day = _day_number(_w(t, j))
        k = j + 2 if _w(t, j + 1) == "of" else j + 1
        month = _MONTHS.get(_w(t, k))
    if not day or month is None or _date(2028, month, day) is None:  # 2028: a leap year
        return None
    k += 1
    y = k + 1 if _w(t, k) == "," and _YEAR.fullmatch(_w(t, k + 1)) else k
    if _YEAR.fullmatch(_w(t, y)):
        fixed = _date(int(_w(t, y)), month, day)
        return None if fixed is None else _Part(_Fixed(fixed), y + 1, _STRONG)
    return _Part(_MonthDay(month, day), k, _STRONG)


def _m_numeric(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State) -> _Part | None:
    """2027-01-05 anywhere; 15/12 or 12/15 only when one number is over 12, after on/by..."""
    w = _w(t, i)
    if m := _ISO.fullmatch(w):
        fixed = _date(int(m[1]), int(m[2]), int(m[3]))
        return None if fixed is None else _Part(_Fixed(fixed), i + 1, _STRONG)
    if not (m := _SLASH.fullmatch(w)) or (int(m[1]) > 12) == (int(m[2]) > 12):
        return None
    month, day = (int(m[2]), int(m[1])) if int(m[1]) > 12 else (int(m[1]), int(m[2]))
    if _date(2028, month, day) is None:
        return None
    if m[3]:
        fixed = _date(int(m[3]) + (2000 if len(m[3]) == 2 else 0), month, day)
        return None if fixed is None else _Part(_Fixed(fixed), i + 1, _CONN)
    return _Part(_MonthDay(month, day), i + 1, _CONN)


def _m_ordinal(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State) -> _Part | None:
    """on the 15th, the last friday of the month, on the 1st of every month."""
    j = i + 1 if _w(t, i) == "the" else i
    n, wd = _ordinal(_w(t, j)), _weekday(_w(t, j + 1), abbr=True)
    if n and wd is not None and n <= 5:
        kind, end = _of_month(t, j + 2)
        if n == -1 and j == i and not kind:
            return None  # "notes from last friday": the past, not the month's last friday
        if kind == "every":
            return _Part(_Recur("MONTHLY", byday=((n, wd),)), end, _STRONG)
        return _Part(_Nth(n, wd), end, _STRONG if kind else _CONN_END)
    day = _day_number(_w(t, j), ordinal_only=True)
    if not day and j > i and _w(t, j) in _DAY_WORDS:
        day = _DAY_WORDS[_w(t, j)]  # "on the first", "the third of the month"
    if not day:
        return None
    kind, end = _of_month(t, j + 1)
    if kind == "every":
        return _Part(_Recur("MONTHLY", bymonthday=day), end, _STRONG)
    return _Part(_Ordinal(day), end, _STRONG if kind else _CONN_END)


def _m_weekday(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State) -> _Part | None:
    w = _w(t, i)
    prefix = w if w in ("this", "next", "coming") else ""
    j = i + 1 if prefix else i
    if prefix == "this" and _w(t, j) == "coming":
        j += 1
    days = _weekdays(t, j, abbr=True, plural=False, many=st.lists)
    if days is None:
        return None
    need = _STRONG if prefix else _WEAK if _w(t, j) in _WD_FULL else _CONN
    return _Part(_Weekday(days[0], skip_today=prefix == "next"), days[1], need)


def _m_daypart(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State) -> _Part | None:
    w, nxt = _w(t, i), _w(t, i + 1)
    if w in ("tonight", "tonite"):
        return _Part(_Daypart("night", True), i + 1, _STRONG)
    if w == "this" and nxt in _DAYPARTS:
        return _Part(_Daypart(nxt, True), i + 2, _STRONG)
    if w == "in" and nxt == "the" and _w(t, i + 2) in _DAYPARTS:
        return _Part(_Daypart(_w(t, i + 2), False), i + 3, _STRONG)
    if w in _DAYPARTS:
        return _Part(_Daypart(w, False), i + 1, _CONN)
    if w == "first" and nxt == "thing":  # "first thing tomorrow" (only with a date)
        if _words(t, i + 2, "in the morning"):
            return _Part(_Daypart("morning", False), i + 5, _STRONG)
        return _Part(_Daypart("morning", False), i + 2, _CONN)
    return None


def _m_time(t: Sequence[str], i: int, conn: tuple[str, ...], st: _State) -> _Part | None:
    first = _clock(t, i, conn)
    if first is None:
        return None
    clocks, end, need = [first[0]], first[1], first[2]
    while st.lists:
        k = end + 1 if _w(t, end) in (",", "and", "&") else end
        k += 1 if _w(t, k) == "and" else 0
        k += 1 if _w(t, k) in ("at", "@") else 0
        nxt = _clock(t, k, ("at",)) if k > end else None
        if nxt is None or nxt[0].minute != first[0].minute or nxt[0].midnight:
            break
        clocks.append(nxt[0])
        end = nxt[1]
    return _Part(_Times(tuple(clocks)), end, need)


def _clock(t: Sequence[str], i: int, conn: tuple[str, ...]) -> tuple[_Clock, int, int] | None:
    w, nxt = _w(t, i), _w(t, i + 1)
    if w in ("noon", "midday"):
        return _Clock(12, 0), i + 1, _WEAK
    if w == "midnight":
        return _Clock(0, 0, midnight=True), i + 1, _WEAK
    m = _AMPM.fullmatch(w)
    if m is None and nxt in ("am", "pm", "a.m", "p.m"):
        m = _H_OR_HM.fullmatch(w)
    if m:
        hour, minute = int(m[1]), int(m[2] or 0)
        pm = (m[3] or nxt).startswith("p")
        if not 1 <= hour <= 12 or minute > 59:
            return None
        end = i + 1 if m[3] else i + 2
        if not m[3] and nxt.endswith(".m") and _w(t, end) == ".":
            end += 1
        return _Clock(hour % 12 + (12 if pm else 0), minute), end, _STRONG
    if w.isdigit() and nxt == "noon" and int(w) == 12:
        return _Clock(12, 0), i + 2, _STRONG
    if w in ("half", "quarter") and nxt == "past":  # "half past five", "quarter past 9"
        named = _w(t, i + 2)
        hour = int(named) if named.isdigit() and len(named) <= 2 else _HOUR_WORDS.get(named, 0)
        if 1 <= hour <= 12:
            minute = 30 if w == "half" else 15
            if _w(t, i + 3) in ("am", "pm"):
                return (_Clock(hour % 12 + (12 if _w(t, i + 3) == "pm" else 0), minute), i + 4,
                        _STRONG)
            return _Clock(hour, minute, "bare"), i + 3, _STRONG
    for pattern, need in ((_HHMM, _STRONG), (_DOTTED, _CONN), (_HOUR_H, _CONN)):
        if (m := pattern.fullmatch(w)) and int(m[1]) < 24 and int(m[2] or 0) < 60:
            return _Clock(int(m[1]), int(m[2] or 0), "clock"), i + 1, need
    if _HOUR.fullmatch(w) and int(w) < 24:
        if nxt in ("o'clock", "oclock", "o’clock"):
            return _Clock(int(w), 0, "bare"), i + 2, _STRONG
        if any(c in _BARE_HOUR_CONN for c in conn):
            return _Clock(int(w), 0, "bare"), i + 1, _END
    return None


_Matcher = Callable[[Sequence[str], int, tuple[str, ...], _State], _Part | None]
_FIRST_WORDS: tuple[tuple[_Matcher, set[str]], ...] = (
    (_m_recur, set(_SIMPLE_RULES) | set(_WD_PLURAL) | {"weekdays", "weekends", "every", "each"}),
    (_m_relative, {"in", "within", "half"} | set(_AMOUNTS)),
    (_m_named, {"today", "the", "day", "next", "this", "coming", "weekend", "weekends", "end",
                "close"} | _TOMORROW | set(_ENDS)),
    (_m_monthday, {"the"} | set(_MONTHS)),
    (_m_ordinal, {"the"} | set(_ORDINALS)),
    (_m_weekday, {"this", "next", "coming"} | set(_WD_FULL) | set(_WD_ABBR)),
    (_m_daypart, {"tonight", "tonite", "this", "in", "first"} | set(_DAYPARTS)),
    (_m_time, {"noon", "midday", "midnight", "half", "quarter"}),
)
_BY_WORD: dict[str, list[_Matcher]] = {}
for _matcher, _words_ in _FIRST_WORDS:
    for _word in _words_:
        _BY_WORD.setdefault(_word, []).append(_matcher)
_DIGIT_MATCHERS = (_m_relative, _m_monthday, _m_numeric, _m_ordinal, _m_time)
_STARTERS = (set(_BY_WORD) - set(_AMOUNTS) - {"half"}) | _CONNECTORS


# ---------------------------------------------------------------- word helpers
def _date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _words(t: Sequence[str], i: int, phrase: str) -> bool:
    return all(_w(t, i + k) == word for k, word in enumerate(phrase.split()))


def _count(w: str) -> int:
    return int(w) if w.isdigit() and len(w) <= 3 else _COUNTS.get(w, 0)


def _ordinal(w: str) -> int:
    if w in _ORDINALS:
        return _ORDINALS[w]
    m = _DAY_NUM.fullmatch(w)
    return int(m[1]) if m and m[2] else 0


def _day_number(w: str, *, ordinal_only: bool = False) -> int:
    m = _DAY_NUM.fullmatch(w)
    if not m or (ordinal_only and not m[2]):
        return 0
    return int(m[1]) if 1 <= int(m[1]) <= 31 else 0


def _weekday(w: str, *, abbr: bool, plural: bool = False) -> int | None:
    if w in _WD_FULL:
        return _WD_FULL[w]
    if abbr and w in _WD_ABBR:
        return _WD_ABBR[w]
    return _WD_PLURAL.get(w) if plural else None


def _weekdays(t: Sequence[str], j: int, *, abbr: bool, plural: bool, many: bool
              ) -> tuple[tuple[int, ...], int] | None:
    """One weekday, or with `many` a list: "mon, wed and fri", "mondays and thursdays"."""
    w = _w(t, j)
    if plural and w in ("weekdays", "weekends"):
        return (tuple(range(5)) if w == "weekdays" else (5, 6)), j + 1
    first = _weekday(w, abbr=abbr, plural=plural)
    if first is None:
        return None
    days, end = [first], j + 1
    while many:
        k = end + 1 if _w(t, end) in (",", "and", "&") else end
        k += 1 if _w(t, end) == "," and _w(t, k) == "and" else 0
        nxt = _weekday(_w(t, k), abbr=abbr, plural=plural) if k > end else None
        if nxt is None:
            break
        days.append(nxt)
        end = k + 1
    return tuple(sorted(set(days))), end


def _of_month(t: Sequence[str], k: int) -> tuple[str, int]:
    """"of every month" -> ("every", end); "of the month" -> ("the", end); else ("", k)."""
    if _w(t, k) == "of" and _w(t, k + 2) == "month" and _w(t, k + 1) in ("every", "each",
                                                                          "the", "this"):
        return ("every" if _w(t, k + 1) in ("every", "each") else "the"), k + 3
    return "", k


# ---------------------------------------------------------------- meaning
def _build(parts: Sequence[_Part], st: _State) -> When | None:
    specs = [p.spec for p in parts]
    for s in specs:
        if isinstance(s, _Offset):
            return When((st.now.astimezone(UTC) + s.delta).astimezone(st.tz))
    dates = [s for s in specs if isinstance(s, _DATE_TYPES)]
    daypart = next((s for s in specs if isinstance(s, _Daypart)), None)
    times = next((s.clocks for s in specs if isinstance(s, _Times)), ())
    recur = next((s for s in specs if isinstance(s, _Recur)), None)
    if recur is not None:
        dated = [(p.spec, p.conn) for p in parts if isinstance(p.spec, _DATE_TYPES)]
        return _build_recur(recur, dated, times, daypart, st)
    if len(times) > 1 or any(isinstance(d, _Weekday) and len(d.days) > 1 for d in dates):
        return None
    spec = _pick_date(dates)
    hint = daypart.name if daypart else None
    if daypart is not None and not times:
        if daypart.this and spec is None:
            return When(_this_daypart(daypart.name, st))
        times = (_Clock(_DAYPARTS[daypart.name][0], 0),)
    if daypart is not None and daypart.this and spec is None:
        spec = _Fixed(st.today)
    hm = _final(times[0], hint) if times else None
    day = _resolve(spec or _Weekday(tuple(range(7))), hm, st)
    if day is None:
        return None
    return When(_at(day, hm, st.tz) if hm else day)


def _pick_date(dates: list[_DateSpec]) -> _DateSpec | None:
    if len(dates) < 2:
        return dates[0] if dates else None
    wd, other = (dates[0], dates[1]) if isinstance(dates[0], _Weekday) else (dates[1], dates[0])
    if isinstance(wd, _Weekday) and isinstance(other, _Fixed) and other.tag == "next_week":
        return _Fixed(other.day + timedelta(days=wd.days[0]))
    if isinstance(wd, _Weekday) and isinstance(other, _Ordinal):
        return other._replace(weekday=wd.days[0])
    return other


def _this_daypart(name: str, st: _State) -> datetime:
    start, stop = _DAYPARTS[name]
    if st.now.hour < start:
        return _at(st.today, _Clock(start, 0), st.tz)
    if st.now.hour < stop:
        utc = st.now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        return (utc + timedelta(hours=1)).astimezone(st.tz)
    return _at(st.today + timedelta(days=1), _Clock(start, 0), st.tz)


def _final(c: _Clock, hint: str | None) -> _Clock:
    hour = c.hour
    pm = hint in _PM_PARTS and hour < 12
    if (c.kind != "exact" and pm) or (c.kind == "bare" and hint is None and 1 <= hour <= 7):
        hour += 12
    return _Clock(hour, c.minute, "exact", c.midnight)


def _build_recur(rec: _Recur, dated: list[tuple[_DateSpec, tuple[str, ...]]],
                 times: tuple[_Clock, ...], daypart: _Daypart | None, st: _State) -> When | None:
    """A date either fills the rule ("every week" + "on tuesday") or starts or ends it."""
    limits: dict[str, date | None] = {"start": None, "until": None}
    for d, conn in dated:
        merged = _merge(rec, d)
        if merged is not None:
            rec = merged
            continue
        which = "until" if _UNTIL & set(conn) else "start"
        if limits[which] is not None:
            return None
        limits[which] = _resolve(d, None, st)
    hint = rec.daypart or (daypart.name if daypart else None)
    if hint and not times:
        times = (_Clock(_DAYPARTS[hint][0], 0),)
    hms = [_final(c, hint) for c in times]
    if (rec.freq == "HOURLY" and hms) or len({h.minute for h in hms}) > 1:
        return None
    hours = sorted({h.hour for h in hms})
    minute = hms[0].minute if hms else None
    body = [f"FREQ={rec.freq}"]
    body += [f"INTERVAL={rec.interval}"] if rec.interval > 1 else []
    body += [f"BYMONTH={rec.bymonth}"] if rec.bymonth else []
    body += [f"BYMONTHDAY={rec.bymonthday}"] if rec.bymonthday else []
    if rec.byday:
        body.append("BYDAY=" + ",".join(f"{n or ''}{_CODES[d]}" for n, d in rec.byday))
    if hours:
        body += [f"BYHOUR={','.join(map(str, hours))}", f"BYMINUTE={minute}"]
    elif rec.freq == "HOURLY":
        body.append("BYMINUTE=0")
        minute = 0
    until = limits["until"]
    if until is not None:
        body.append(f"UNTIL={until:%Y%m%d}" + ("T235959" if minute is not None else ""))
    due = _first(rec, hours, minute, (limits["start"], until), st)
    return None if due is None else When(due, ";".join(body))


def _merge(rec: _Recur, d: _DateSpec) -> _Recur | None:
    """"every week" + "on tuesday", "monthly" + "on the 15th", "yearly" + "on march 3"."""
    if rec.freq == "WEEKLY" and not rec.byday and isinstance(d, _Weekday):
        return rec._replace(byday=tuple((0, x) for x in d.days))
    if rec.freq == "MONTHLY" and not rec.byday and not rec.bymonthday:
        if isinstance(d, _Ordinal):
            return rec._replace(bymonthday=d.day)
        if isinstance(d, _Nth):
            return rec._replace(byday=((d.n, d.weekday),))
    if rec.freq == "YEARLY" and not rec.bymonth and isinstance(d, _MonthDay):
        return rec._replace(bymonth=d.month, bymonthday=d.day)
    return None


def _first(rec: _Recur, hours: list[int], minute: int | None,
           limits: tuple[date | None, date | None], st: _State) -> datetime | date | None:
    """The first occurrence not in the past (the interval counts from it, so it is left out)."""
    start, until = limits
    begin = datetime.combine(max(st.today, start or st.today), time())
    timed = minute is not None
    if timed:
        wall = st.now.replace(tzinfo=None, second=0, microsecond=0) + timedelta(minutes=1)
        begin = max(begin, wall)
    rule = rr.rrule(
        _RR_FREQ[rec.freq], dtstart=begin,
        byweekday=[rr.weekdays[d](n) if n else rr.weekdays[d] for n, d in rec.byday] or None,
        bymonthday=rec.bymonthday, bymonth=rec.bymonth, byhour=hours or None,
        byminute=minute, bysecond=0 if timed else None,
        until=datetime.combine(until, time(23, 59, 59)) if until else None)
    first = rule.after(begin, inc=True)
    if first is None:
        return None
    return _at(first.date(), _Clock(first.hour, first.minute), st.tz) if timed else first.date()


def _candidates(spec: _DateSpec, today: date) -> Iterator[date]:
    if isinstance(spec, _Fixed):
        yield spec.day
    elif isinstance(spec, _Weekday | _Weekend):
        days = spec.days if isinstance(spec, _Weekday) else (5, 6)
        start = today + timedelta(days=1 if isinstance(spec, _Weekday) and spec.skip_today
                                  else 0)
        if isinstance(spec, _Weekend) and spec.next:
            start = today + timedelta(days=12 - today.weekday())
        for k in range(22):
            d = start + timedelta(days=k)
            if d.weekday() in days:
                yield d
    elif isinstance(spec, _MonthDay):
        for y in range(today.year, today.year + 9):
            if spec.day <= calendar.monthrange(y, spec.month)[1]:
                yield date(y, spec.month, spec.day)
    else:
        for k in range(25):
            y, m = divmod(today.month - 1 + k, 12)
            y, m = today.year + y, m + 1
            last = calendar.monthrange(y, m)[1]
            if isinstance(spec, _Ordinal):
                if spec.day <= last and spec.weekday in (None, calendar.weekday(y, m, spec.day)):
                    yield date(y, m, spec.day)
                continue
            first_wd = calendar.weekday(y, m, 1)
            if spec.n > 0:
                day = 1 + (spec.weekday - first_wd) % 7 + 7 * (spec.n - 1)
            else:
                day = last - (calendar.weekday(y, m, last) - spec.weekday) % 7
            if day <= last:
                yield date(y, m, day)


def _resolve(spec: _DateSpec, hm: _Clock | None, st: _State) -> date | None:
    for d in _candidates(spec, st.today):
        if isinstance(spec, _Fixed):
            return d
        if (d >= st.today) if hm is None else _at(d, hm, st.tz).timestamp() > st.now.timestamp():
            return d
    return None


def _at(d: date, hm: _Clock, tz: tzinfo) -> datetime:
    """Local wall time -> an aware datetime; a wall time skipped by DST moves forward."""
    wall = datetime.combine(d + timedelta(days=1 if hm.midnight else 0), time(hm.hour, hm.minute))
    return wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)


# ---------------------------------------------------------------- priority and title
def _priority(text: str) -> tuple[Priority | None, list[tuple[int, int]]]:
    found: Priority | None = None
    spans: list[tuple[int, int]] = []
    for m in _PRIORITY.finditer(text):
        word = next(g for g in m.groups() if g)
        found = found or _LEVELS[" ".join(word.lower().split())]
        spans.append(m.span())
    return found, spans


def _clean(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return " ".join(text.split())
    out, pos = [], 0
    for s, e in sorted(spans):
        out.append(text[pos:s] if s > pos else "")
        out.append(" ")
        pos = max(pos, e)
    result = " ".join(("".join(out) + text[pos:]).split())
    for pattern, repl in _TIDY:
        result = pattern.sub(repl, result)
    return " ".join(result.strip(" ,;:-–—").split())
