"""The tables. Names follow the web app's seed: ``users``, ``tasks``, ``conversations``,
``messages``; plus ``chat_identities`` (who a chat user is), ``delivery_claims`` (which
platform deliveries were already processed) and ``outbox`` (what the bot has to say, until it
has been said)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime, utcnow

MESSAGE_ROLES = ("user", "assistant")
TITLE_MAX = 200
DESCRIPTION_MAX = 1000
PRIORITIES = ("high", "medium", "low")
RECURRENCE_MAX = 300
TARGET_MAX = 2000


def _created_at(*, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow, sa_column_kwargs={"nullable": False}, sa_type=UTCDateTime,
        index=index,
    )


class User(SQLModel, table=True):
    """A person, as the web app knows them. ``id`` is a string so web-app ids fit as they are."""

    __tablename__ = "users"
    __table_args__ = (
        Index("ix_users_digest_next_at", "digest_next_at",
              sqlite_where=text("digest_next_at IS NOT NULL"),
              postgresql_where=text("digest_next_at IS NOT NULL")),
    )

    id: str = Field(primary_key=True, max_length=64)
    display_name: str | None = Field(default=None, max_length=200)
    # Highest task number handed out so far; numbers are never reused after a delete.
    last_task_number: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # IANA name; null until the user tells it (Telegram) or Slack's users.info does.
    timezone: str | None = Field(default=None, max_length=64)
    # Local "HH:MM" at which a task due on a date (no time) reminds; null: 09:00.
    day_reminder_time: str | None = Field(default=None, max_length=5)
    # The morning digest: local "HH:MM" (null: off), the next UTC instant it is due, and the
    # chat it goes to (the platform's own target JSON, opaque to the core).
    digest_time: str | None = Field(default=None, max_length=5)
    digest_next_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    digest_platform: str | None = Field(default=None, max_length=32)
    digest_workspace: str | None = Field(default=None, max_length=64)
    digest_target: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _created_at()


class ChatIdentity(SQLModel, table=True):
    """One chat account (platform, workspace, external user id) mapped onto one ``users.id``."""

    __tablename__ = "chat_identities"
    __table_args__ = (
        Index(
            "uq_chat_identities_account", "platform", "workspace", "external_user_id", unique=True
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    workspace: str = Field(default="", max_length=64)
    external_user_id: str = Field(max_length=64)
    user_id: str = Field(
        sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    )
    created_at: datetime = _created_at()


class Task(SQLModel, table=True):
    """A to-do. ``number`` is what the user sees and types; it is unique per user and fixed."""

    __tablename__ = "tasks"
    __table_args__ = (
        Index("uq_tasks_user_number", "user_id", "number", unique=True),
        CheckConstraint(
            f"length(title) BETWEEN 1 AND {TITLE_MAX}", name="ck_tasks_title_length"
        ),
        CheckConstraint(
            f"description IS NULL OR length(description) <= {DESCRIPTION_MAX}",
            name="ck_tasks_description_length",
        ),
        CheckConstraint("priority IN ('high', 'medium', 'low')", name="ck_tasks_priority"),
        # The scheduler's one read of tasks: the earliest reminders, through this index only.
        Index("ix_tasks_remind_at", "remind_at",
              sqlite_where=text("remind_at IS NOT NULL"),
              postgresql_where=text("remind_at IS NOT NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(
        sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    number: int = Field(sa_column=Column(Integer, nullable=False))
    title: str = Field(max_length=TITLE_MAX)
    description: str | None = Field(default=None, sa_type=Text)
    completed: bool = Field(default=False)
    # A date only (due_has_time false: the calendar date of due_date in UTC, whatever the
    # zone) or an instant (true). Stored UTC either way.
    due_date: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_has_time: bool = Field(
        default=False, sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    remind_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # RFC 5545 RRULE body in the user's local time ("FREQ=DAILY;BYHOUR=9;BYMINUTE=0").
    recurrence: str | None = Field(default=None, max_length=RECURRENCE_MAX)
    priority: str = Field(default="medium", max_length=8,
                          sa_column_kwargs={"server_default": "medium"})
    # The chat the task was made in, where its reminders go (the platform's target JSON).
    origin_platform: str | None = Field(default=None, max_length=32)
    origin_workspace: str | None = Field(default=None, max_length=64)
    origin_target: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _created_at()
    updated_at: datetime = _created_at()


class Conversation(SQLModel, table=True):
    """A thread of messages between one user and the bot in one chat. ``/new`` opens another;
    the newest one for (user, platform, chat_key) is the current one."""

    __tablename__ = "conversations"
    __table_args__ = (Index("ix_conversations_chat", "user_id", "platform", "chat_key", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(
        sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    )
    platform: str = Field(max_length=32)
    chat_key: str = Field(max_length=200)
    created_at: datetime = _created_at()


class Message(SQLModel, table=True):
    """One side of a turn. ``tool_calls`` holds a JSON list of every tool call made for the
    turn, each with its name, arguments and result."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'assistant')", name="ck_messages_role"),
        Index("ix_messages_conversation_created", "conversation_id", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(
        sa_column=Column(
            Integer, ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
        )
    )
    user_id: str = Field(
        sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                         index=True)
    )
    role: str = Field(max_length=16)
    content: str = Field(sa_type=Text)
    tool_calls: str | None = Field(default=None, sa_type=Text)
    # The model calls of this (assistant) message: [{"model", "prompt_tokens",
    # "completion_tokens"}], as the API reported them.
    usage: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = _created_at(index=True)


class DeliveryClaim(SQLModel, table=True):
    """A platform delivery (Telegram update_id, Slack event_id...) that has been processed.
    Inserted in the turn's own transaction, so a rolled-back turn can be redelivered."""

    __tablename__ = "delivery_claims"

    platform: str = Field(primary_key=True, max_length=32)
    delivery_key: str = Field(primary_key=True, max_length=200)
    claimed_at: datetime = _created_at(index=True)


class OutboxMessage(SQLModel, table=True):
    """A reply to send, written in the turn's own transaction and marked once sent.

    ``target`` (where, and how: the chat, the message to edit, a response_url...) is the
    platform's own JSON and ``reply`` the core's :class:`~bot_core.reply.Reply` as JSON; the
    core never reads the former. A row is pending while ``sent_at`` and ``failed_at`` are both
    null; ``lease_until`` keeps two senders (a retried worker and the scheduler) off one row.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_pending", "next_attempt_at",
              sqlite_where=text("sent_at IS NULL AND failed_at IS NULL"),
              postgresql_where=text("sent_at IS NULL AND failed_at IS NULL")),
        Index("ix_outbox_delivery", "platform", "delivery_key"),
        Index("ix_outbox_created_at", "created_at"),  # pruning reads by age
    )

    id: int | None = Field(default=None, primary_key=True)
    platform: str = Field(max_length=32)
    workspace: str = Field(default="", max_length=64)
    delivery_key: str | None = Field(default=None, max_length=200)
    target: str = Field(sa_type=Text)
    reply: str = Field(sa_type=Text)
    created_at: datetime = _created_at()
    next_attempt_at: datetime = _created_at()
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Parts already delivered (a long reply is several messages; a button press is a toast
    # and an edit): a retry goes on from there instead of repeating them.
    progress: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failure: str | None = Field(default=None, max_length=200)
    # The person the reply is to (what /forget deletes with them); null for a stranger's.
    user_id: str | None = Field(
        default=None, sa_column=Column(String(64), ForeignKey(
            "users.id", ondelete="CASCADE", name="fk_outbox_user_id"), index=True))


class Stranger(SQLModel, table=True):
    """Someone the allow-list does not admit, answered once: only the account's key and when,
    nothing they said."""

    __tablename__ = "strangers"

    platform: str = Field(primary_key=True, max_length=32)
    workspace: str = Field(primary_key=True, default="", max_length=64)
    external_id: str = Field(primary_key=True, max_length=64)
    answered_at: datetime = _created_at()


class AllowedChat(SQLModel, table=True):
    """A group chat an allowed user added the bot to: everyone in it may talk to the bot."""

    __tablename__ = "allowed_chats"

    platform: str = Field(primary_key=True, max_length=32)
    workspace: str = Field(primary_key=True, default="", max_length=64)
    chat_id: str = Field(primary_key=True, max_length=100)
    added_by: str = Field(max_length=64)
    added_at: datetime = _created_at()


class RateCount(SQLModel, table=True):
    """Messages (and button presses) one user sent in one minute: the rate limit, held in the
    database so that every container sees the same count."""

    __tablename__ = "rate_counts"

    user_id: str = Field(
        sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"),
                         primary_key=True))
    window_start: datetime = Field(
        sa_column=Column(UTCDateTime, primary_key=True, index=True))
    count: int = Field(default=0)


class LlmUsage(SQLModel, table=True):
    """Model tokens one user spent on one day (their local day), per model: the budget and the
    bill. Each assistant message also keeps its own calls' usage (``messages.usage``)."""

    __tablename__ = "llm_usage"

    user_id: str = Field(
        sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"),
                         primary_key=True))
    day: date = Field(sa_column=Column(Date, primary_key=True, index=True))
    model: str = Field(primary_key=True, max_length=100)
    calls: int = Field(default=0)
    prompt_tokens: int = Field(default=0)
    completion_tokens: int = Field(default=0)


class LlmMonth(SQLModel, table=True):
    """Everyone's model tokens in one calendar month (UTC): the optional global cap."""

    __tablename__ = "llm_months"

    month: str = Field(primary_key=True, max_length=7)
    tokens: int = Field(default=0)


class LlmNotice(SQLModel, table=True):
    """That a user was told their allowance (``daily``) or everyone's (``monthly``) is spent,
    so they are told once, not at every message."""

    __tablename__ = "llm_notices"

    user_id: str = Field(
        sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"),
                         primary_key=True))
    day: date = Field(sa_column=Column(Date, primary_key=True))
    kind: str = Field(primary_key=True, max_length=16)


# -- Slack installations (OAuth) ---------------------------------------------------------------
# slack_sdk's SQLAlchemy installation and state stores read and write these tables (their
# column names are slack_sdk's, checked by tests/slack/test_installations.py); Alembic owns them,
# nothing calls ``create_tables()``. Token columns are TEXT: they hold Fernet-sealed values
# (models/sealed.py), longer than the tokens. Times are naive UTC, as slack_sdk writes them.

SLACK_TOKEN_COLUMNS = frozenset({
    "bot_token", "bot_refresh_token", "user_token", "user_refresh_token", "incoming_webhook_url",
})
"""Sealed at rest (the webhook URL is a credential too: it can post)."""


def _slack_common() -> list[Any]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("client_id", String(32), nullable=False),
        Column("app_id", String(32), nullable=False),
        Column("enterprise_id", String(32)),
        Column("enterprise_name", String(200)),
    ]


def _slack_bot() -> list[Any]:
    """The workspace and its bot: in both tables."""
    return [
        Column("team_id", String(32)),
        Column("team_name", String(200)),
        Column("bot_token", Text),
        Column("bot_id", String(32)),
        Column("bot_user_id", String(32)),
        Column("bot_scopes", String(1000)),
        Column("bot_refresh_token", Text),
        Column("bot_token_expires_at", DateTime),
    ]


slack_installations = Table(
    "slack_installations", SQLModel.metadata,
    *_slack_common(),
    Column("enterprise_url", String(200)),
    *_slack_bot(),
    Column("user_id", String(32), nullable=False),
    Column("user_token", Text),
    Column("user_scopes", String(1000)),
    Column("user_refresh_token", Text),
    Column("user_token_expires_at", DateTime),
    Column("incoming_webhook_url", Text),
    Column("incoming_webhook_channel", String(200)),
    Column("incoming_webhook_channel_id", String(200)),
    Column("incoming_webhook_configuration_url", String(200)),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("token_type", String(32)),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id",
          "installed_at"),
)

slack_bots = Table(
    "slack_bots", SQLModel.metadata,
    *_slack_common(),
    *_slack_bot(),
    Column("is_enterprise_install", Boolean, nullable=False),
    Column("installed_at", DateTime, nullable=False),
    Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)

slack_oauth_states = Table(
    "slack_oauth_states", SQLModel.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("state", String(200), nullable=False, index=True),
    Column("expire_at", DateTime, nullable=False, index=True),
)


# -- one person across apps ------------------------------------------------------------------


class LinkCode(SQLModel, table=True):
    """A one-time code that links another chat account to this person (``/link``): only its
    hash is kept. It is bound to the account that asked for it, valid until ``expires_at``, and
    used once: ``claimed_*`` is the account that typed it (waiting for its confirmation),
    ``used_at`` when the link was made."""

    __tablename__ = "link_codes"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, index=True)
    user_id: str = Field(
        sa_column=Column(String(64), ForeignKey("users.id", ondelete="CASCADE"), nullable=False,
                         index=True))
    platform: str = Field(max_length=32)
    workspace: str = Field(default="", max_length=64)
    external_user_id: str = Field(max_length=64)
    created_at: datetime = _created_at()
    expires_at: datetime = Field(sa_type=UTCDateTime)
    claimed_platform: str | None = Field(default=None, max_length=32)
    claimed_workspace: str | None = Field(default=None, max_length=64)
    claimed_external_id: str | None = Field(default=None, max_length=64)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The maker's chat (the platform's target JSON): told there when the code is used.
    notify_target: str | None = Field(default=None, sa_type=Text)


class LinkAttempt(SQLModel, table=True):
    """Wrong codes one chat account typed in one hour: ``/link CODE`` locks past a few."""

    __tablename__ = "link_attempts"

    platform: str = Field(primary_key=True, max_length=32)
    workspace: str = Field(primary_key=True, default="", max_length=64)
    external_id: str = Field(primary_key=True, max_length=64)
    window_start: datetime = Field(sa_column=Column(UTCDateTime, primary_key=True, index=True))
    count: int = Field(default=0)
