"""The offline rules brain: understands the everyday phrasings without any LLM or API key.

It calls the same task tools as the LLM brain (so the same ``tool_calls`` are stored), names
tasks by number or by words of their title, and asks which one when several match.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bot_core.brains.base import BrainRequest
from bot_core.commands import add_with_dates, apply_action, list_reply, local_iso
from bot_core.inbound import ActionKind, ListView
from bot_core.reply import Action, Reply, TaskView
from bot_core.tasks import Tools
from bot_core.texts import HELP_TEXT
from bot_core.timing.local import wall

if TYPE_CHECKING:
    from bot_core.timing.phrases import When

_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
}
_REF_NUMBER = re.compile(
    r"^(?:the\s+)?(?:task|item|todo|to-do|number|no\.?)?\s*(?:number\s+)?#?\s*(\d{1,8}|"
    + "|".join(_NUMBER_WORDS) + r")(?:\s+(?:task|one|item))?$"
)
_NUMBERED = re.compile(r"\s*(?:the\s+)?(?:task\s+|number\s+|no\.?\s*)?#?\s*\d")
_QUESTION = re.compile(r"(?:what|which|when|where|who|how|is|are|anything)\b", re.IGNORECASE)
_STOPWORDS = frozenset(
    [
        "the", "a", "an", "my", "one", "task", "item", "todo", "to-do", "about", "for", "thing",
        "called", "named", "that", "this",
    ]
)
_QUOTES = "\"'“”‘’`"


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    handle: Callable[[OfflineBrain, re.Match[str], Tools], Reply]
    titled: bool = False
    """Its verb also starts task titles ("finish slides by friday", "cancel the gym in a
    month"): when no task matches and the message has a date, it is a task to add."""


class _NoMatch(Exception):
    """No task matches the words of a reference (``reply`` says so)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(reply.text)
        self.reply = reply


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE | re.DOTALL)


_ADD_LEAD = (
    r"(?:please\s+|can you\s+|could you\s+|pls\s+)?"
    r"(?:add(?:\s+(?:a\s+)?(?:new\s+)?task)?|create(?:\s+(?:a\s+)?task)?|new task|todo|to-do|"
    r"remind me to|remind me|i need to remember to|remember to|don'?t let me forget to|"
    r"i need to|i have to|i must|i should|i gotta|i've got to|note to self|jot down|put)"
)
_LIST_SUFFIX = r"(?:\s+(?:to|on|in)\s+(?:my|the)\s+(?:to-?do\s+)?(?:list|tasks|todos))?"
_REF = r"(?P<ref>.+?)"


def _clean_title(raw: str) -> str:
    title = raw.strip().strip(":").strip()
    if len(title) >= 2 and title[0] in _QUOTES and title[-1] in _QUOTES:
        title = title[1:-1].strip()
    return title


class OfflineBrain:
    """A small, predictable rule set; anything it does not understand gets the help text."""

    def answer(self, request: BrainRequest, tools: Tools) -> Reply:
        """Match ``request.text`` against the rules, in order, and act on the first match."""
        text = " ".join(request.text.replace("’", "'").replace("‘", "'").split())
        normalised = text.rstrip("?!. ")
        for rule in _RULES:
            match = rule.pattern.fullmatch(normalised)
            if match:
                try:
                    return rule.handle(self, match, tools)
                except _NoMatch as missing:
                    named = not _NUMBERED.match(match.groupdict().get("ref") or "")
                    if rule.titled and named and _has_date(tools, normalised):
                        return add_with_dates(tools, _clean_title(normalised))
                    return missing.reply
        if _has_date(tools, normalised):
            if _QUESTION.match(normalised) or text.endswith("?"):
                # "what is due next month?" is no task called "what is".
                return Reply(text="I can list what's due today (/today) or in the next 7 days "
                                  "(/upcoming), or everything that is open (/list).")
            # "call the bank tomorrow at 2pm": a message with a date in it is a task to add.
            return add_with_dates(tools, _clean_title(normalised))
        return Reply(text="Sorry, I didn't get that.\n" + HELP_TEXT)

    # -- handlers -----------------------------------------------------------------------

    def greet(self, _match: re.Match[str], _tools: Tools) -> Reply:
        return Reply(text="Hi! Tell me what to remember, e.g. \"add buy milk\", "
                          "or ask \"what's pending?\".")

    def thank(self, _match: re.Match[str], _tools: Tools) -> Reply:
        return Reply(text="You're welcome!")

    def help(self, _match: re.Match[str], _tools: Tools) -> Reply:
        return Reply(text=HELP_TEXT)

    def add(self, match: re.Match[str], tools: Tools) -> Reply:
        raw = match["title"].strip().strip(":").strip()
        if len(raw) >= 2 and raw[0] in _QUOTES and raw[-1] in _QUOTES:
            # A quoted title is taken as it is: "add 'Call mom tonight'" has no date.
            return Reply(text=tools.call("add_task", {"title": _clean_title(raw)}).result.message)
        return add_with_dates(tools, _clean_title(raw))

    def list_today(self, _match: re.Match[str], tools: Tools) -> Reply:
        return list_reply(tools, "today")

    def list_upcoming(self, _match: re.Match[str], tools: Tools) -> Reply:
        return list_reply(tools, "upcoming")

    def move(self, match: re.Match[str], tools: Tools) -> Reply:
        """ "move the dentist to friday 3pm", "postpone 3 to tomorrow": a new due date."""
        found = _split_moment(tools, match["rest"])
        if found is None:
            return Reply(text="When to? For example: move 3 to friday 3pm")
        if not _is_duration(tools, found):
            return self._update(tools, found.ref, _schedule(found.when))
        # "postpone 4 by a day", "push the dentist back a week": from its current due date.
        ref = re.sub(r"\s+(?:back|forward|out|ahead)$", "", found.ref, flags=re.IGNORECASE)
        number = self._resolve(tools, ref, prefer="open")
        if isinstance(number, Reply):
            return number
        tasks = tools.call("list_tasks", {"status": "all"}).result.tasks or ()
        tools.calls.pop()  # a lookup, not something the user asked for
        task = next((t for t in tasks if t.number == number), None)
        due = found.when.due if task is None or task.due_at is None else \
            _shifted(tools, task, found.when)
        result = tools.call("update_task", {"task_number": number, "due": local_iso(due)}).result
        return Reply(text=result.message)

    def snooze(self, match: re.Match[str], tools: Tools) -> Reply:
        """ "snooze 2 for an hour", "remind me about 3 tomorrow": the next reminder moves."""
        found = _split_moment(tools, match["rest"])
        if found is None:
            return Reply(text="Until when? For example: snooze 3 for an hour")
        return self._update(tools, found.ref, {"remind_at": local_iso(found.when.due)})

    def due(self, match: re.Match[str], tools: Tools) -> Reply:
        """ "set the due date of 3 to friday", "make 2 due tomorrow", "4 is due monday"."""
        when = _moment(tools, _connected(match["when"].strip())[0])
        if when is None:
            return Reply(text="When is it due? For example: make 3 due friday 5pm")
        return self._update(tools, match["ref"], _schedule(when))

    def repeat(self, match: re.Match[str], tools: Tools) -> Reply:
        """ "make 3 repeat every friday", "repeat the gym every monday at 7pm"."""
        when = _moment(tools, match["rule"])
        if when is None or when.recurrence is None:
            return Reply(text="How often? For example: make 3 repeat every friday")
        return self._update(tools, match["ref"], _schedule(when))

    def undate(self, match: re.Match[str], tools: Tools) -> Reply:
        return self._update(tools, match["ref"], {"due": None})

    def prioritise(self, match: re.Match[str], tools: Tools) -> Reply:
        level = match["level"].lower() or "high"
        priority = {"urgent": "high", "important": "high", "top": "high", "normal": "medium",
                    "med": "medium"}.get(level, level)
        return self._update(tools, match["ref"], {"priority": priority})

    def stop_repeating(self, match: re.Match[str], tools: Tools) -> Reply:
        return self._update(tools, match["ref"], {"recurrence": None})

    def purge_done(self, _match: re.Match[str], tools: Tools) -> Reply:
        return _confirm_purge(tools, "done")

    def purge_all(self, _match: re.Match[str], tools: Tools) -> Reply:
        return _confirm_purge(tools, "all")

    def _update(self, tools: Tools, ref: str, change: dict[str, Any]) -> Reply:
        found = self._resolve(tools, ref, prefer="open")
        if isinstance(found, Reply):
            return found
        result = tools.call("update_task", {"task_number": found, **change}).result
        return Reply(text=result.message)

    def list_open(self, _match: re.Match[str], tools: Tools) -> Reply:
        return list_reply(tools, "open")

    def list_done(self, _match: re.Match[str], tools: Tools) -> Reply:
        return list_reply(tools, "done")

    def list_all(self, _match: re.Match[str], tools: Tools) -> Reply:
        return list_reply(tools, "all")

    def complete(self, match: re.Match[str], tools: Tools) -> Reply:
        return self._act(tools, "done", match["ref"])

    def reopen(self, match: re.Match[str], tools: Tools) -> Reply:
        return self._act(tools, "undo", match["ref"])

    def delete(self, match: re.Match[str], tools: Tools) -> Reply:
        return self._act(tools, "delete", match["ref"])

    def rename(self, match: re.Match[str], tools: Tools) -> Reply:
        """ "rename 2 to call dad", "change 3 to buy oat milk"; but "change the dentist to
        friday 3pm" (other verbs than rename, to nothing but a time) is a new due date."""
        raw = match["title"].strip()
        when = None
        if match["verb"].lower() != "rename" and raw[:1] not in _QUOTES:
            when = _moment(tools, raw)
        if when is not None:
            return self._update(tools, match["ref"], _schedule(when))
        title = _clean_title(raw)
        found = self._resolve(tools, match["ref"], prefer="all")
        if isinstance(found, Reply):
            return found
        result = tools.call("update_task", {"task_number": found, "title": title}).result
        return Reply(text=result.message)

    # -- task references ------------------------------------------------------------------

    def _act(self, tools: Tools, kind: ActionKind, ref: str) -> Reply:
        prefer: ListView = {"done": "open", "undo": "done", "delete": "all"}[kind]  # type: ignore[assignment]
        found = self._resolve(tools, ref, prefer=prefer, kind=kind)
        if isinstance(found, Reply):
            return found
        return Reply(text=apply_action(tools, kind, found).message)

    def _resolve(
        self, tools: Tools, ref: str, *, prefer: ListView, kind: ActionKind | None = None
    ) -> int | Reply:
        """A task number from "3", "#3", "task three" or title words ("the milk one").

        Returns the number, or a Reply (not found / which one?) to send instead.
        """
        ref = _clean_title(ref).lower()
        number = _REF_NUMBER.fullmatch(ref)
        if number:
            value = number[1]
            return int(value) if value.isdigit() else _NUMBER_WORDS[value]
        words = [w for w in re.findall(r"[\w'-]+", ref) if w not in _STOPWORDS]
        if not words:
            return Reply(text="Which task? Tell me its number, e.g. \"done 3\".")
        candidates = self._matching(tools, words, prefer)
        if not candidates and prefer != "all":
            candidates = self._matching(tools, words, "all")
        if not candidates:
            raise _NoMatch(Reply(text=f"I can't find a task matching \"{' '.join(words)}\"."))
        if len(candidates) == 1:
            return candidates[0].number
        actions: tuple[Action, ...] = ()
        if kind is not None:
            actions = tuple(Action(kind=kind, number=t.number) for t in candidates)
        return Reply(
            text=f"Several tasks match \"{' '.join(words)}\" — which one do you mean?",
            tasks=tuple(candidates), actions=actions,
        )

    @staticmethod
    def _matching(tools: Tools, words: list[str], view: ListView) -> list[TaskView]:
        tasks = tools.call("list_tasks", {"status": view}).result.tasks or ()
        tools.calls.pop()  # a lookup, not something the user asked for
        matches = []
        for task in tasks:
            title_words = re.findall(r"[\w'-]+", task.title.lower())
            if all(any(tw.startswith(w) for tw in title_words) for w in words):
                matches.append(task)
        return matches


def _has_date(tools: Tools, text: str) -> bool:
    from bot_core.timing.phrases import parse_when

    parsed = parse_when(text, tools.now.astimezone(tools.profile.zone))
    return parsed.when is not None and bool(parsed.title.strip())


_CONNECTORS = ("back to", "to", "till", "until", "for", "on", "by", "at")


def _connected(text: str) -> tuple[str, str]:
    """ "to friday 3pm" -> ("friday 3pm", "to"); no connector -> (text, "")."""
    for connector in _CONNECTORS:
        if text.lower().startswith(connector + " "):
            return text[len(connector) + 1:], connector
    return text, ""


def _moment(tools: Tools, text: str) -> When | None:
    from bot_core.timing.phrases import parse_moment

    return parse_moment(text, tools.now.astimezone(tools.profile.zone))


def _schedule(when: When) -> dict[str, Any]:
    """update_task arguments for a new moment: the due date, and the rule when it repeats."""
    change: dict[str, Any] = {"due": local_iso(when.due)}
    if when.recurrence:
        change["recurrence"] = when.recurrence
    return change


@dataclass(frozen=True)
class _Split:
    ref: str
    when: When
    connector: str  # "" when there was none
    tail: str  # the time expression, without the connector


def _split_moment(tools: Tools, rest: str) -> _Split | None:
    """Split "the dentist to friday 3pm" into a task reference and a moment: the first split
    (from the left) whose right side is a time expression, connector words dropped."""
    words = rest.split()
    for index in range(1, len(words)):
        tail, used = _connected(" ".join(words[index:]))
        when = _moment(tools, tail)
        if when is not None:
            return _Split(" ".join(words[:index]), when, used, tail)
    return None


def _is_duration(tools: Tools, split: _Split) -> bool:
    """ "by a day", "for 2 hours", "a week": an amount of time, not a moment."""
    return (split.connector in ("", "by", "for") and not split.tail.lower().startswith("in ")
            and _moment(tools, "in " + split.tail) is not None)


def _shifted(tools: Tools, task: TaskView, when: When) -> datetime | date:
    """The task's due date moved by the amount of time ``when`` is from now: hours as elapsed
    time, days and weeks on the calendar (a 09:00 task stays at 09:00 across a DST change)."""
    zone = tools.profile.zone
    now = tools.now.astimezone(zone)
    assert task.due_at is not None
    if isinstance(when.due, datetime):
        if not task.due_has_time:
            return when.due  # a date moved by some hours: from now
        return (task.due_at + (when.due - now)).astimezone(zone)
    days = timedelta(days=(when.due - now.date()).days)
    if task.due_has_time:
        local = task.due_at.astimezone(zone)
        return wall(local.date() + days, local.time(), zone)
    return task.due_at.astimezone(UTC).date() + days


def _confirm_purge(tools: Tools, view: ListView) -> Reply:
    """Bulk deletes ask first, with a button."""
    status = "done" if view == "done" else "all"
    tasks = tools.call("list_tasks", {"status": status}).result.tasks or ()
    tools.calls.pop()  # a lookup, not something the user asked for
    if not tasks:
        return Reply(text="There are no completed tasks to delete." if view == "done"
                     else "Your list is already empty.")
    what = "completed task" if view == "done" else "task"
    noun = what if len(tasks) == 1 else f"{what}s"
    return Reply(text=f"Delete all {len(tasks)} {noun}? This can't be undone.",
                 actions=(Action(kind="purge", number=1, view=view),))


_B = OfflineBrain
_RULES: tuple[_Rule, ...] = (
    _Rule(_rx(r"(?:hi|hello|hey|hiya|yo|howdy|good (?:morning|afternoon|evening))(?: there)?"
              r"(?: todobot)?"), _B.greet),
    _Rule(_rx(r"(?:(?:thanks|thank you|thx|ty|cheers)(?: (?:so much|a lot|very much|todobot))?|"
              r"great|perfect|ok|okay|cool|nice|awesome)"), _B.thank),
    _Rule(_rx(r"(?:help|what can you do|how does (?:this|it) work|commands|how do i use (?:you|"
              r"this)|\?)"), _B.help),
    # Due dates.
    _Rule(_rx(r"(?:what'?s|what is|what are|anything|is anything|show(?: me)?|list)?\s*"
              r"(?:(?:my )?tasks |things )?(?:due|overdue|on) (?:for )?(?:today|tonight)"
              r"|(?:what'?s |what is )?overdue|today|(?:(?:show|list|see)(?: me)? )?"
              r"(?:/?today'?s? (?:tasks|list|agenda|todos)(?: (?:for )?today)?|"
              r"my (?:tasks|list|agenda|todos) (?:for )?today)|"
              r"what do i have (?:on )?today|agenda|my day|what (?:do|should|must) i (?:have to |"
              r"need to |still need to |still have to )?do today|what'?s on (?:my (?:plate|list|"
              r"agenda)|the agenda) (?:for )?today"), _B.list_today),
    _Rule(_rx(r"(?:what'?s|what is|show(?: me)?|list|anything)?\s*(?:my )?(?:coming up|"
              r"upcoming(?: tasks)?|due (?:this|next) week|due soon|this week|next 7 days|"
              r"for the week)|(?:what'?s|what is|what are|anything|is anything|show(?: me)?)\s+"
              r"(?:(?:my )?tasks\s+)?(?:due|coming up|happening)\s+(?:on\s+|by\s+|for\s+)?"
              r"(?:tomorrow|the day after tomorrow|(?:this |next )?(?:monday|tuesday|wednesday|"
              r"thursday|friday|saturday|sunday)|this weekend|in the next few days)"),
          _B.list_upcoming),
    # Bulk: they ask first, with a button.
    _Rule(_rx(r"(?:clear|delete|remove|purge|clean up|get rid of)(?: all)?(?: (?:my|the))?"
              r" (?:completed|done|finished|checked)(?: (?:tasks|items|ones|todos))?"),
          _B.purge_done),
    _Rule(_rx(r"(?:clear|delete|remove|purge|wipe|erase)(?: all)?(?: (?:of )?(?:my|the))?"
              r" (?:tasks|todos|items|list|everything)|(?:delete|erase|wipe|clear|remove) "
              r"(?:it )?all|delete everything|clear (?:my )?list"),
          _B.purge_all),
    # Edits of dates and priority.
    _Rule(_rx(r"(?:move|postpone|reschedule|push|defer|shift|delay)\s+(?P<rest>.+)"), _B.move),
    _Rule(_rx(r"(?:snooze\s+|remind me (?:again )?(?:about|of) (?=(?:task |number |#)?\d))"
              r"(?P<rest>.+)"), _B.snooze),
    _Rule(_rx(r"(?:no|remove(?: the)?|clear(?: the)?|drop(?: the)?|delete(?: the)?)"
              r" (?:due )?date (?:for|from|of|on)\s+" + _REF), _B.undate),
    _Rule(_rx(_REF + r"\s+(?:has|needs) no (?:due )?date"), _B.undate),
    _Rule(_rx(r"(?:make|set|change|move|update)\s+(?:the\s+)?(?:due\s+)?date\s+(?:of|for|on)\s+"
              + _REF + r"\s+to\s+(?P<when>.+)"), _B.due),
    _Rule(_rx(r"(?:make|set)\s+" + _REF + r"\s+due\s+(?P<when>.+)"), _B.due),
    _Rule(_rx(r"(?!(?:what|which|when|anything|is|are|how)\b)" + _REF
              + r"\s+is (?:now |actually )?due\s+(?P<when>.+)"), _B.due),
    _Rule(_rx(r"(?:set|change|make|update)\s+(?:the\s+)?priority\s+(?:of|for|on)\s+" + _REF
              + r"\s+(?:to|as)\s+(?P<level>high|low|medium|normal|urgent|important|top)"),
          _B.prioritise),
    _Rule(_rx(r"(?:make|set|mark|change|give)\s+" + _REF + r"\s+(?:to |as )?(?:a )?(?P<level>high|"
              r"low|medium|normal|urgent|important|top)(?: priority| prio)?"), _B.prioritise),
    _Rule(_rx(r"(?:prioriti[sz]e)\s+" + _REF + r"(?P<level>)"), _B.prioritise),
    _Rule(_rx(_REF + r"\s+is (?P<level>high|low|medium|urgent|important)(?: priority)?"),
          _B.prioritise),
    _Rule(_rx(r"(?:stop repeating|don'?t repeat|no longer repeat|stop recurring)\s+" + _REF),
          _B.stop_repeating),
    _Rule(_rx(r"(?:make|set|have|let)\s+" + _REF + r"\s+(?:repeat|recur)(?:s|ring|ing)?\s+"
              r"(?P<rule>(?:every|each|daily|weekly|monthly|yearly|annually|on weekdays)\b.*)"),
          _B.repeat),
    _Rule(_rx(r"(?:repeat|recur)\s+" + _REF + r"\s+(?P<rule>(?:every|each|daily|weekly|monthly|"
              r"yearly|annually)\b.*)"), _B.repeat),
    # Completed tasks.
    _Rule(_rx(r"(?:what (?:have|did) i (?:already )?(?:completed|finished|done|do|complete|"
              r"finish)(?: so far)?|(?:show|list|see|view)(?: me)?(?: my| the)? (?:completed|"
              r"finished|done|closed) (?:tasks|items|todos|ones)|(?:my )?(?:completed|finished|"
              r"done) (?:tasks|items|todos|list)|list done)"), _B.list_done),
    # Everything.
    _Rule(_rx(r"(?:(?:show|list|see|view|display)(?: me)? (?:all|everything)(?: my)?(?: tasks| "
              r"todos| items)?|all(?: of)? (?:my )?tasks|everything|list all)"), _B.list_all),
    # Open tasks.
    _Rule(_rx(r"(?:(?:can you |please )?(?:show|list|see|view|display|give)(?: me)?(?: my| the)?"
              r"(?: open| pending| current)? (?:tasks|todos|to-dos|list|to-?do list|items)|"
              r"what'?s (?:pending|left|open|outstanding|next|on my (?:list|plate|to-?do list)|"
              r"still open|to do)|what (?:is|are) (?:pending|left|open|my tasks)|"
              r"what (?:do|should) i (?:have to |need to |still need to )?do(?: today)?|"
              r"what'?s up|(?:my |open |pending )?(?:tasks|todos|to-?do list)|list|"
              r"anything (?:left|pending|open))"), _B.list_open),
    # Reopen (before "done": "mark 2 as not done").
    _Rule(_rx(r"(?:reopen|re-open|undo|uncheck|unmark|restore|untick|un-complete)\s+" + _REF),
          _B.reopen),
    _Rule(_rx(r"(?:mark|set)\s+" + _REF + r"\s+as\s+(?:not done|undone|open|incomplete|"
              r"not complete|not finished|todo)"), _B.reopen),
    # Done.
    _Rule(_rx(r"(?:i'?m |i am )?(?:done|finished|through)(?: with)?\s*:?\s+" + _REF), _B.complete),
    _Rule(_rx(r"(?:complete|finish|check off|tick off|cross off|close)\s+" + _REF), _B.complete,
          titled=True),
    _Rule(_rx(r"(?:mark|set)\s+" + _REF + r"(?:\s+as)?\s+(?:done|complete|completed|finished)"),
          _B.complete),
    _Rule(_rx(r"i (?:finished|completed|did|have done|'ve done|ve done)\s+" + _REF), _B.complete),
    # Delete.
    _Rule(_rx(r"(?:please )?(?:delete|remove|drop|cancel|trash|erase|forget(?: about)?|"
              r"get rid of|scrap)\s+" + _REF + r"(?:\s+from (?:my|the) list)?"), _B.delete,
          titled=True),
    # Rename.
    _Rule(_rx(r"(?P<verb>change|rename|edit|update|set)\s+" + _REF
              + r"\s*(?:\s+to\s+|:\s*|=\s*|->\s*)(?P<title>.+)"), _B.rename),
    # Add.
    _Rule(_rx(_ADD_LEAD + r"\s*:?\s+(?P<title>.+?)" + _LIST_SUFFIX), _B.add),
    # Last, the loosest: "3 is done", "milk is not done yet".
    _Rule(_rx(_REF + r"\s+(?:is not|isn't|isnt) (?:done|finished|complete)(?: yet)?"), _B.reopen),
    _Rule(_rx(_REF + r"\s+(?:is )?(?:done|finished|complete|completed)"), _B.complete),
)
