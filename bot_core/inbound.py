"""The platform-neutral shape of one incoming message or button press."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot_core.safe_text import storable

ActionKind = Literal["done", "undo", "delete", "snooze", "purge", "link", "forget", "cancel"]
"""Task buttons, plus the account ones: ``link`` (number: the link code's id) confirms a link,
``forget`` deletes the person, ``cancel`` answers a question with no."""
ListView = Literal["open", "done", "all", "today", "upcoming"]
ButtonView = Literal["open", "done", "all", "today", "upcoming", "reminder"]
"""Where a button was: under a list (redrawn after the press) or under a reminder."""
SnoozePreset = Literal["20m", "1h", "3h", "morning"]
"""Slack's /remind presets: 20 minutes, an hour, three hours, tomorrow morning."""


class ButtonAction(BaseModel):
    """A button pressed under a task list or a reminder: do ``kind`` to task ``number``, then
    redraw what the button was under (``view``). ``purge`` (number 1: the confirmation of
    "delete all done") deletes every completed task."""

    model_config = ConfigDict(frozen=True)

    kind: ActionKind
    number: int = Field(ge=1)
    view: ButtonView = "open"
    snooze: SnoozePreset | None = None


class Inbound(BaseModel):
    """What a platform adapter hands the core: who said what, where.

    ``chat_id`` (plus ``thread_id`` for Slack mention threads) picks the conversation;
    ``delivery_key`` makes redeliveries of the same update do nothing.
    """

    model_config = ConfigDict(frozen=True)

    platform: str = Field(min_length=1, max_length=32)
    workspace: str = Field(default="", max_length=64)
    chat_id: str = Field(min_length=1, max_length=100)
    thread_id: str | None = Field(default=None, max_length=90)
    external_user_id: str = Field(min_length=1, max_length=64)
    display_name: str | None = None
    text: str | None = None
    action: ButtonAction | None = None
    delivery_key: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    """The person's IANA zone when the platform tells it (Slack's users.info); kept current."""
    private: bool = False
    """Only this person reads the answer (a private chat or DM, an ephemeral Slack answer):
    link codes, exports and /forget are given only then."""

    @field_validator("*", mode="before")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """Lone surrogates (JSON escapes) and NUL would fail every insert; see safe_text."""
        return storable(value) if isinstance(value, str) else value

    @property
    def chat_key(self) -> str:
        """The key of the chat (and thread) a conversation belongs to."""
        base = f"{self.workspace}:{self.chat_id}" if self.workspace else self.chat_id
        return f"{base}:{self.thread_id}" if self.thread_id else base
