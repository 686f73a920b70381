"""Where unprompted messages go, and what happens when a chat refuses them for good.

A reminder's outbox row has the delivery key ``remind:<task id>:<due time>`` and a digest's
``digest:<user id>:<day>``: nothing on a platform asked for them, so the key names what they
are about. When the platform refuses one for good (the user blocked the bot, the chat is
gone), the person's reminders and digest into that chat stop instead of failing every minute.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlmodel import Session, col

from models.tables import Task, User

REMIND_KEY = "remind"
DIGEST_KEY = "digest"


def unprompted(delivery_key: str | None) -> bool:
    """True for the outbox rows of reminders and digests."""
    return bool(delivery_key) and (delivery_key or "").split(":")[0] in (REMIND_KEY, DIGEST_KEY)


def forget_destination(session: Session, delivery_key: str | None, target: str) -> None:
    """An unprompted message was refused for good (bot blocked, chat gone): stop reminding
    and sending digests to that chat for the person it was for."""
    if not delivery_key:
        return
    kind, _, rest = delivery_key.partition(":")
    if kind == REMIND_KEY:
        task_id = rest.partition(":")[0]
        owner = select(col(Task.user_id)).where(col(Task.id) == int(task_id)).scalar_subquery()
        session.execute(update(Task).where(col(Task.user_id) == owner,
                                           col(Task.origin_target) == target)
                        .values(remind_at=None))
        session.execute(update(User).where(col(User.id) == owner,
                                           col(User.digest_target) == target)
                        .values(digest_time=None, digest_next_at=None))
    elif kind == DIGEST_KEY:
        user_id = rest.partition(":")[0]
        session.execute(update(User).where(col(User.id) == user_id)
                        .values(digest_time=None, digest_next_at=None))
        session.execute(update(Task).where(col(Task.user_id) == user_id,
                                           col(Task.origin_target) == target)
                        .values(remind_at=None))

