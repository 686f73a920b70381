"""People the allow-list does not admit, and group chats it admits.

A stranger is answered once, politely, and nothing else is kept about them: one ``strangers``
row (platform, workspace, their account id, when) and the outbox row carrying the answer, in
one transaction. No ``users`` row, no conversation, no message, no delivery claim, no model
call; their later messages write nothing and are not answered.

A group chat an allowed user added the bot to is recorded in ``allowed_chats``; everyone in it
may then talk to the bot there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select

from bot_core.outbox import add_to_outbox
from bot_core.reply import Reply
from models.db import UnitOfWorkFactory, insert_ignoring_conflicts
from models.tables import AllowedChat, Stranger

STRANGER_TEXT = "Sorry, this bot is private. Ask its owner to add you."


@dataclass(frozen=True)
class Answer:
    """Where an answer goes: the platform's target (JSON, opaque here) and the delivery it
    answers (kept on the outbox row, so a redelivery sends it if it is still unsent)."""

    target: str
    platform: str
    workspace: str = ""
    delivery_key: str | None = None


def greet_once(unit_of_work: UnitOfWorkFactory, *, platform: str, workspace: str,
               external_id: str, answer: Answer, now: datetime,
               text: str = STRANGER_TEXT) -> int | None:
    """Answer a stranger the first time only: the outbox row's id, or None when they were
    answered before (nothing written)."""
    with unit_of_work() as uow:
        if not insert_ignoring_conflicts(
                uow.session, Stranger,
                {"platform": platform, "workspace": workspace, "external_id": external_id,
                 "answered_at": now},
                ["platform", "workspace", "external_id"]):
            return None
        row = add_to_outbox(uow.session, platform=answer.platform, workspace=answer.workspace,
                            delivery_key=answer.delivery_key, target=answer.target,
                            reply=Reply(text=text), now=now)
        uow.commit()
    return row


def chat_admitted(unit_of_work: UnitOfWorkFactory, *, platform: str, workspace: str,
                  chat_id: str) -> bool:
    """Did an allowed user add the bot to this group chat?"""
    with unit_of_work() as uow:
        found = uow.session.exec(
            select(col(AllowedChat.chat_id)).where(
                col(AllowedChat.platform) == platform, col(AllowedChat.workspace) == workspace,
                col(AllowedChat.chat_id) == chat_id)
        ).first()
    return found is not None


def admit_chat(unit_of_work: UnitOfWorkFactory, *, platform: str, workspace: str,
               chat_id: str, added_by: str, answer: Answer, reply: Reply | None,
               now: datetime) -> int | None:
    """Record a group chat an allowed user added the bot to, and say hello there (once: the
    chat recorded before, nothing is written). The outbox row's id, or None."""
    with unit_of_work() as uow:
        if not insert_ignoring_conflicts(
                uow.session, AllowedChat,
                {"platform": platform, "workspace": workspace, "chat_id": chat_id,
                 "added_by": added_by, "added_at": now},
                ["platform", "workspace", "chat_id"]):
            return None
        row = None
        if reply is not None:
            row = add_to_outbox(uow.session, platform=answer.platform,
                                workspace=answer.workspace, delivery_key=answer.delivery_key,
                                target=answer.target, reply=reply, now=now)
        uow.commit()
    return row
