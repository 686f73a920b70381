"""The terminal conversation's output, shared by the prompt and the background sweep.

The prompt loop asks for a line (:meth:`Console.ask`); the bot's answers and the reminders that
fall due meanwhile are said through :meth:`Console.say`, one lock around every write, so a
reminder printed by the sweep's thread never lands inside another message. While the prompt
waits, a message goes on a fresh line and the prompt is printed again under it: what the user
had typed stays on the line above and is still what Enter sends (good enough for a terminal
without readline).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TextIO

BOT = "bot> "
INDENT = " " * len(BOT)


def as_block(text: str) -> str:
    """``bot> `` before the first line, the others indented under it."""
    return BOT + text.replace("\n", "\n" + INDENT)


class Console:
    """One terminal: writes to ``out``; reads lines with ``read`` (``input`` by default)."""

    def __init__(self, out: TextIO, read: Callable[[], str] | None = None) -> None:
        self._out = out
        self._read = read or input
        self._lock = threading.Lock()
        self._waiting: str | None = None
        """The prompt on screen while a line is being read, else None."""

    def ask(self, prompt: str) -> str:
        """Print ``prompt`` and read a line (EOFError at the end of input, as ``input``)."""
        with self._lock:
            self._out.write(prompt)
            self._out.flush()
            self._waiting = prompt
        try:
            return self._read()
        finally:
            with self._lock:
                self._waiting = None

    def say(self, text: str) -> None:
        """Print one of the bot's messages (``bot> ``, continuation lines indented)."""
        block = as_block(text)
        with self._lock:
            if self._waiting is not None:
                self._out.write("\n" + block + "\n" + self._waiting)
            else:
                self._out.write(block + "\n")
            self._out.flush()

    def line(self, text: str = "") -> None:
        """Print a line that is not the bot's (the banner, the newline after Ctrl-D)."""
        with self._lock:
            self._out.write(text + "\n")
            self._out.flush()
