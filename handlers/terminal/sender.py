"""Says outbox rows in a terminal: the ``cli`` platform's :class:`~handlers.delivery.ReplySender`.

``todobot chat`` gives every turn the chat target ``{"terminal": "<user>"}``, so the tasks made
there remind in that terminal: the sweep writes a row addressed to it and this sender prints
it (through the chat's :class:`~handlers.terminal.console.Console`, above the waiting prompt).
A terminal has no buttons, so a reply's buttons are shown as the phrases that do the same
when typed — ``[done 3] [snooze 3 for an hour] [delete 3]`` — which the offline brain and
the LLM both understand.

A sender knows whose terminal it prints in: a row for another local user's terminal is left
for theirs (retried later), never printed here. One without a user (``todobot scheduler run``)
prints any terminal's rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from bot_core.outbox import OutboxItem, Refused, RetryLater, SendOutcome, Sent
from bot_core.reply import Action, Reply
from handlers.terminal.console import INDENT, Console

if TYPE_CHECKING:
    from handlers.composition import Root

PLATFORM = "cli"
"""The terminal's platform name (``Inbound.platform`` of ``todobot chat``'s turns)."""
HINT_WIDTH = 76
"""Hint lines wrap at this width (plus the indent under ``bot> ``)."""

_SNOOZE_PHRASES = {"20m": "for 20 minutes", "1h": "for an hour", "3h": "for 3 hours",
                   "morning": "until tomorrow"}


def chat_target(user: str) -> str:
    """The chat target of ``user``'s terminal (JSON, as stored in ``tasks.origin_target``)."""
    return json.dumps({"terminal": user}, separators=(",", ":"), sort_keys=True)


def terminal_user(target: str) -> str | None:
    """Whose terminal a target names; None if it is not a terminal's."""
    try:
        parsed = json.loads(target)
    except ValueError:
        return None
    user = parsed.get("terminal") if isinstance(parsed, dict) else None
    return user if isinstance(user, str) else None


def hint(action: Action) -> str | None:
    """What to type for a button: "done 3", "snooze 3 for an hour"; None if nothing does."""
    n = action.number
    if action.kind == "snooze":
        return f"snooze {n} {_SNOOZE_PHRASES[action.snooze or '1h']}"
    if action.kind == "undo":
        return f"reopen {n}"
    if action.kind in ("done", "delete"):
        return f"{action.kind} {n}"
    return None


def render(reply: Reply) -> str:
    """The reply as terminal text: its plain text, then its buttons as typed phrases."""
    lines = [reply.as_plain_text()]
    hints = [f"[{h}]" for h in (hint(a) for a in reply.actions) if h is not None]
    for each in hints:  # wrapped between hints, never inside one
        if len(lines) > 1 and len(lines[-1]) + 1 + len(each) <= HINT_WIDTH - len(INDENT):
            lines[-1] += " " + each
        else:
            lines.append(each)
    return "\n".join(lines)


class TerminalSender:
    """Prints rows addressed to a terminal on ``out`` (a stream, or the chat's console)."""

    def __init__(self, out: TextIO | Console, *, user: str | None = None) -> None:
        self.console = out if isinstance(out, Console) else Console(out)
        self.user = user

    def send(self, item: OutboxItem) -> SendOutcome:
        who = terminal_user(item.target)
        if who is None:
            return Refused("not a terminal's target")
        if self.user is not None and who != self.user:
            return RetryLater("that user's terminal is not this one")
        self.console.say(render(item.reply))
        return Sent()

    @contextmanager
    def thinking(self, target: Mapping[str, Any]) -> Iterator[None]:
        """A terminal shows no "typing…"."""
        yield


@contextmanager
def registered(root: Root, sender: TerminalSender) -> Iterator[TerminalSender]:
    """Deliver the root's ``cli`` rows through ``sender`` while inside (the deliverer reads
    the same senders mapping), then put back whatever was there before."""
    senders = root.senders
    previous = senders.get(PLATFORM)
    senders[PLATFORM] = sender
    try:
        yield sender
    finally:
        if senders.get(PLATFORM) is sender:
            if previous is None:
                del senders[PLATFORM]
            else:
                senders[PLATFORM] = previous
