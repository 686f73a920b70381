"""callback_data of the inline buttons under task lists and reminders:
``t1:<kind>:<number>:<view>:<owner>`` (a snooze's preset is its kind letter).

Telegram allows 1-64 bytes of callback_data; ours is at most ~40 (kind and view one letter each,
a task number of up to 8 digits, the owner's user id). ``owner`` is the Telegram user whose list
it is: in a group anyone can press a button under someone else's list, and the press must not
act on the presser's own task with that number.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot_core.inbound import ActionKind, ButtonAction, ButtonView, SnoozePreset

MAX_CALLBACK_BYTES = 64
_PREFIX = "t1"
_KINDS: dict[tuple[ActionKind, SnoozePreset | None], str] = {
    ("done", None): "d", ("undo", None): "u", ("delete", None): "x", ("purge", None): "p",
    ("snooze", "20m"): "a", ("snooze", "1h"): "b", ("snooze", "3h"): "c",
    ("snooze", "morning"): "m", ("link", None): "l", ("forget", None): "f",
    ("cancel", None): "k",
}
_VIEWS: dict[ButtonView, str] = {"open": "o", "done": "d", "all": "a", "today": "t",
                                 "upcoming": "n", "reminder": "r"}
_KIND_OF = {code: kind for kind, code in _KINDS.items()}
_VIEW_OF = {code: view for view, code in _VIEWS.items()}


@dataclass(frozen=True)
class ButtonPress:
    """A decoded button: what to do, and whose list it was under."""

    action: ButtonAction
    owner: int


def encode(kind: ActionKind, number: int, view: ButtonView, owner: int,
           snooze: SnoozePreset | None = None) -> str:
    """The callback_data for one button."""
    code = _KINDS[(kind, snooze if kind == "snooze" else None)]
    data = f"{_PREFIX}:{code}:{number}:{_VIEWS[view]}:{owner}"
    if len(data.encode()) > MAX_CALLBACK_BYTES:
        raise ValueError("callback_data over Telegram's 64-byte limit")
    return data


def decode(data: str | None) -> ButtonPress | None:
    """The press, or None for data that is not one of our buttons (an old bot's, a forged one)."""
    if not data or not isinstance(data, str):
        return None
    parts = data.split(":")
    if len(parts) != 5 or parts[0] != _PREFIX:
        return None
    _, kind, number, view, owner = parts
    if kind not in _KIND_OF or view not in _VIEW_OF:
        return None
    # ASCII digits only: str.isdigit() also accepts "²" and "١", which int() refuses or reads;
    # a modified client can send any callback_data, and a ValueError here would be a 500.
    if not (_digits(number) and len(number) <= 8 and _digits(owner.removeprefix("-"))
            and len(owner) <= 20):
        return None
    if int(number) < 1:
        return None
    action_kind, preset = _KIND_OF[kind]
    return ButtonPress(ButtonAction(kind=action_kind, number=int(number), view=_VIEW_OF[view],
                                    snooze=preset), owner=int(owner))


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()
