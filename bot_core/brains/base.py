"""What every brain gets and gives back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from bot_core.conversations import HistoryMessage
from bot_core.reply import Reply
from bot_core.tasks import Tools
from bot_core.timing.local import Profile
from bot_core.usage import Meter


@dataclass(frozen=True)
class BrainRequest:
    """A free-text message to answer, with the bounded history before it."""

    text: str
    history: Sequence[HistoryMessage]
    now: datetime
    display_name: str | None = None
    profile: Profile = field(default_factory=Profile)
    """The user's zone (``profile.zone_known`` False: assumed) and day-reminder hour."""
    meter: Meter | None = None
    """Where a brain that calls a model adds each call's usage."""


class Brain(Protocol):
    """Answers free text, acting only through the bound :class:`Tools`."""

    def answer(self, request: BrainRequest, tools: Tools) -> Reply:
        """Answer ``request``; raise :class:`BrainUnavailable` if no answer can be had."""
        ...


class BrainUnavailable(Exception):
    """The brain could not answer (provider down, rate-limited, runaway tool loop...).

    The service rolls back any task change made during the attempt, keeps the user's message and
    answers with ``user_message``.
    """

    def __init__(self, user_message: str, *, reason: str) -> None:
        super().__init__(reason)
        self.user_message = user_message
        self.reason = reason
