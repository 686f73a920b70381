"""Alembic migrations on SQLite and PostgreSQL: up, down, up again, and no drift from models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables)
from models.db import create_db_engine
from models.migrate import downgrade, upgrade
from tests.pg_databases import temporary_database

EXPECTED_TABLES = {"users", "tasks", "conversations", "messages", "chat_identities",
                   "delivery_claims", "outbox", "strangers", "allowed_chats", "rate_counts",
                   "llm_usage", "llm_months", "llm_notices", "slack_installations", "slack_bots",
                   "slack_oauth_states", "link_codes", "link_attempts", "alembic_version"}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    with temporary_database("todobot_mig") as url:
        yield url


def _tables(url: str) -> set[str]:
    engine = create_db_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade_and_no_drift(empty_db: str) -> None:
    upgrade(empty_db)
    assert _tables(empty_db) == EXPECTED_TABLES
    downgrade(empty_db)
    assert _tables(empty_db) == {"alembic_version"}
    upgrade(empty_db)
    assert _tables(empty_db) == EXPECTED_TABLES
    engine = create_db_engine(empty_db)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
    finally:
        engine.dispose()


def test_message_role_is_checked(empty_db: str) -> None:
    upgrade(empty_db)
    engine = create_db_engine(empty_db)
    try:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO users (id, last_task_number, created_at) "
                              "VALUES ('u', 0, CURRENT_TIMESTAMP)"))
            conn.execute(text("INSERT INTO conversations (user_id, platform, chat_key, "
                              "created_at) VALUES ('u', 'p', 'c', CURRENT_TIMESTAMP)"))
        with pytest.raises(Exception, match=r"(?i)check"), engine.begin() as conn:
            conn.execute(text("INSERT INTO messages (conversation_id, user_id, role, content, "
                              "created_at) VALUES (1, 'u', 'system', 'x', CURRENT_TIMESTAMP)"))
    finally:
        engine.dispose()


def test_timestamps_come_back_aware_utc(db_url: str) -> None:
    from datetime import UTC

    from sqlmodel import Session, select

    from models.tables import User

    engine = create_db_engine(db_url)
    try:
        with Session(engine) as session:
            session.add(User(id="tz"))
            session.commit()
        with Session(engine) as session:
            user = session.exec(select(User)).one()
            assert user.created_at.tzinfo is not None
            assert user.created_at.utcoffset() == UTC.utcoffset(None)
    finally:
        engine.dispose()
