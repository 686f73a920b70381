"""``/forget``: everything kept about a person, counted, then deleted for good.

Tasks, messages, conversations, their chat accounts (every linked app), link codes, the outbox
rows to and about them (sent ones hold what was said), model usage, notices, rate counts and
the user row. Not deleted: delivery claims (a platform's update ids, nothing of the person:
they are what makes a replayed confirmation do nothing) and a group's admission that this
person once gave (``allowed_chats``, the group's, not theirs).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlmodel import Session

from bot_core.reply import Action, Reply
from models.tables import (
    ChatIdentity,
    Conversation,
    LinkCode,
    LlmNotice,
    LlmUsage,
    Message,
    OutboxMessage,
    RateCount,
    Task,
    User,
)

PERSONAL: tuple[tuple[str, Any, Any], ...] = (
    ("messages", Message, Message.user_id),
    ("conversations", Conversation, Conversation.user_id),
    ("tasks", Task, Task.user_id),
    ("outbox", OutboxMessage, OutboxMessage.user_id),
    ("link_codes", LinkCode, LinkCode.user_id),
    ("llm_usage", LlmUsage, LlmUsage.user_id),
    ("llm_notices", LlmNotice, LlmNotice.user_id),
    ("rate_counts", RateCount, RateCount.user_id),
    ("chat_identities", ChatIdentity, ChatIdentity.user_id),
    ("users", User, User.id),
)
"""Every table with rows of a person, children first (each delete is explicit: SQLite's
foreign keys may be off)."""


def forget_question(session: Session, user_id: str) -> Reply:
    """What ``/forget`` would delete, and the button that does it."""
    rows = count_rows(session, user_id)
    accounts = rows["chat_identities"]
    return Reply(
        text=(f"This deletes everything I keep about you, for good: {rows['tasks']} task(s), "
              f"{rows['messages']} message(s) in {rows['conversations']} conversation(s), "
              f"your settings and usage, and {accounts} linked account(s). You can /export "
              "first. Delete everything?"),
        actions=(Action(kind="forget", number=1), Action(kind="cancel", number=1)))


def forgotten_reply(gone: dict[str, int]) -> Reply:
    return Reply(text=(f"Done: I deleted {gone['tasks']} task(s), {gone['messages']} "
                       f"message(s) and everything else I had about you. If you write to me "
                       "again, you start with an empty list."
                       if gone["tasks"] or gone["messages"]
                       else "There was nothing left to delete."))


def count_rows(session: Session, user_id: str) -> dict[str, int]:
    return {name: int(session.execute(select(func.count()).select_from(model)
                                      .where(column == user_id)).scalar_one())
            for name, model, column in PERSONAL}


def forget_person(session: Session, user_id: str) -> dict[str, int]:
    """Delete every row of ``user_id``; how many went, per table."""
    gone: dict[str, int] = {}
    for name, model, column in PERSONAL:
        result = session.execute(delete(model).where(column == user_id))
        gone[name] = int(getattr(result, "rowcount", 0) or 0)
    return gone
