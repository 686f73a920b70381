"""Conversations and their messages: the current one per chat, bounded history, storage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlmodel import Session, col

from bot_core.tasks import ToolCall
from models.db import insert_ignoring_conflicts
from models.tables import Conversation, DeliveryClaim, Message
from models.types import utcnow


@dataclass(frozen=True)
class HistoryMessage:
    """One earlier message as the brain sees it."""

    role: str
    content: str


def claim_delivery(session: Session, platform: str, delivery_key: str) -> bool:
    """Record that this delivery is being processed; False if it already was.

    The claim is part of the turn's transaction: if the turn rolls back, so does the claim, and
    the platform's redelivery gets a second chance.
    """
    return insert_ignoring_conflicts(
        session, DeliveryClaim,
        {"platform": platform, "delivery_key": delivery_key, "claimed_at": utcnow()},
        ["platform", "delivery_key"],
    )


def delivery_claimed(session: Session, platform: str, delivery_key: str) -> bool:
    """True if this delivery was already processed (a read: lets a redelivered free-text turn
    skip the model; the turn's own claim is what makes processing happen once)."""
    found = session.execute(
        select(col(DeliveryClaim.platform)).where(
            col(DeliveryClaim.platform) == platform,
            col(DeliveryClaim.delivery_key) == delivery_key)
    ).first()
    return found is not None


def current_conversation(session: Session, user_id: str, platform: str, chat_key: str) -> int:
    """The id of the chat's newest conversation, created if there is none."""
    found = session.execute(
        select(col(Conversation.id))
        .where(
            col(Conversation.user_id) == user_id,
            col(Conversation.platform) == platform,
            col(Conversation.chat_key) == chat_key,
        )
        .order_by(col(Conversation.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if found is not None:
        return int(found)
    return start_conversation(session, user_id, platform, chat_key)


def start_conversation(session: Session, user_id: str, platform: str, chat_key: str) -> int:
    """Open a fresh conversation for the chat (``/new``); older ones stay stored."""
    conversation = Conversation(user_id=user_id, platform=platform, chat_key=chat_key)
    session.add(conversation)
    session.flush()
    assert conversation.id is not None
    return conversation.id


def recent_history(
    session: Session, conversation_id: int, max_messages: int, max_chars: int
) -> list[HistoryMessage]:
    """The newest messages, oldest first, at most ``max_messages`` and ``max_chars`` in all.

    One query walking the (conversation_id, created_at, id) index backwards with a LIMIT, so
    the cost does not grow with the length of the conversation.
    """
    if max_messages <= 0:
        return []
    rows = session.execute(
        select(col(Message.role), col(Message.content))
        .where(col(Message.conversation_id) == conversation_id)
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(max_messages)
    ).all()
    kept: list[HistoryMessage] = []
    budget = max_chars
    for role, content in rows:
        if len(content) > budget:
            break
        budget -= len(content)
        kept.append(HistoryMessage(role=role, content=content))
    kept.reverse()
    # A history must not open with an orphaned assistant answer.
    while kept and kept[0].role != "user":
        kept.pop(0)
    return kept


def store_turn(
    session: Session, conversation_id: int, user_id: str, user_text: str,
    assistant_text: str, tool_calls: Sequence[ToolCall], *, now: datetime | None = None,
    usage: str | None = None,
) -> None:
    """Write the user's message and the assistant's answer (with every tool call and result).

    One Core INSERT of both rows, not two ORM objects and a flush: nothing in the turn reads
    them back, and the ORM's unit of work was a tenth of a command turn's time.
    """
    calls_json = (
        json.dumps([call.model_dump(mode="json") for call in tool_calls], ensure_ascii=False)
        if tool_calls else None
    )
    common = {"conversation_id": conversation_id, "user_id": user_id}
    at = now or utcnow()
    session.execute(insert(Message.__table__), [  # type: ignore[attr-defined]
        {**common, "role": "user", "content": user_text, "tool_calls": None, "usage": None,
         "created_at": at},
        {**common, "role": "assistant", "content": assistant_text, "tool_calls": calls_json,
         "usage": usage, "created_at": at},
    ])
