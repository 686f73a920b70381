"""``/forget``: everything kept about a person, counted, then deleted for good.

Tasks, messages, conversations, their chat accounts (every linked app), their link codes and
wrong guesses (and their claim on someone else's code), the outbox rows to and about them
(sent ones hold what was said), model usage, notices, rate counts and the user row. Not
deleted: delivery claims (a platform's update ids, nothing of the person: they are what makes a
replayed confirmation do nothing), a group's admission that this person once gave
(``allowed_chats``, the group's, not theirs), and the few outbox rows that belong to no turn
(a sticker's fixed line, a stale button's toast), pruned with the outbox after 7 days.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlmodel import Session, col

from bot_core.reply import Action, Reply
from models.tables import (
    ChatIdentity,
    Conversation,
    LinkAttempt,
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


def forget_question(session: Session, user_id: str, now: datetime) -> Reply:
    """What ``/forget`` would delete, and the button that does it: its number is the minute
    the question was asked, so an old question's button no longer works."""
    rows = count_rows(session, user_id)
    accounts = rows["chat_identities"]
    return Reply(
        text=(f"This deletes everything I keep about you, for good: {rows['tasks']} task(s), "
              f"{rows['messages']} message(s) in {rows['conversations']} conversation(s), "
              f"your settings and usage, and your {accounts} chat account(s). You can /export "
              "first. Delete everything?"),
        actions=(Action(kind="forget", number=int(now.timestamp() // 60)),
                 Action(kind="cancel", number=1)))


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
    """Delete every row of ``user_id``; how many went, per table. The user row is locked
    first, so a turn of another linked account waits for this one (or this for it)."""
    session.get(User, user_id, with_for_update=True)
    accounts = session.execute(select(
        col(ChatIdentity.platform), col(ChatIdentity.workspace),
        col(ChatIdentity.external_user_id)).where(col(ChatIdentity.user_id) == user_id)).all()
    gone: dict[str, int] = {"link_attempts": 0}
    for platform, workspace, external in accounts:
        attempts = session.execute(delete(LinkAttempt).where(
            col(LinkAttempt.platform) == platform, col(LinkAttempt.workspace) == workspace,
            col(LinkAttempt.external_id) == external))
        gone["link_attempts"] += int(getattr(attempts, "rowcount", 0) or 0)
        session.execute(update(LinkCode).where(  # someone else's code this person typed
            col(LinkCode.claimed_platform) == platform,
            col(LinkCode.claimed_workspace) == workspace,
            col(LinkCode.claimed_external_id) == external).values(
            claimed_platform=None, claimed_workspace=None, claimed_external_id=None))
    for name, model, column in PERSONAL:
        result = session.execute(delete(model).where(column == user_id))
        gone[name] = int(getattr(result, "rowcount", 0) or 0)
    return gone
