"""Chat identity -> ``users.id``, creating the user on first contact."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlmodel import Session, col

from models.db import insert_ignoring_conflicts
from models.tables import ChatIdentity, User
from models.types import utcnow

_USER_ID_NAMESPACE = uuid.UUID("6f1c3c1e-5d0e-4c56-9f3e-2b8f0d6a7b21")


def resolve_user_id(
    session: Session, platform: str, workspace: str, external_user_id: str,
    display_name: str | None,
) -> str:
    """The ``users.id`` of a chat account, created on first contact.

    One SELECT for a known account. For a new one, the user and mapping are inserted with
    ON CONFLICT DO NOTHING and read back, so two first messages racing end with one user. The
    new id is derived from the account (uuid5), so the racing inserts agree on it.
    """
    found = _lookup(session, platform, workspace, external_user_id)
    if found is not None:
        return found
    user_id = uuid.uuid5(_USER_ID_NAMESPACE, f"{platform}\x1f{workspace}\x1f{external_user_id}").hex
    now = utcnow()
    insert_ignoring_conflicts(
        session, User,
        {"id": user_id, "display_name": (display_name or None) and display_name[:200],
         "last_task_number": 0, "created_at": now},
        ["id"],
    )
    insert_ignoring_conflicts(
        session, ChatIdentity,
        {"platform": platform, "workspace": workspace, "external_user_id": external_user_id,
         "user_id": user_id, "created_at": now},
        ["platform", "workspace", "external_user_id"],
    )
    resolved = _lookup(session, platform, workspace, external_user_id)
    assert resolved is not None, "identity row vanished inside its own transaction"
    return resolved


def _lookup(session: Session, platform: str, workspace: str, external_user_id: str) -> str | None:
    return session.execute(
        select(col(ChatIdentity.user_id)).where(
            col(ChatIdentity.platform) == platform,
            col(ChatIdentity.workspace) == workspace,
            col(ChatIdentity.external_user_id) == external_user_id,
        )
    ).scalar_one_or_none()
