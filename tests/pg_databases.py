"""Throwaway PostgreSQL databases on the local server, for tests and benchmarks."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, create_engine, text

PG_ADMIN_URL = os.environ.get(
    "TODOBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def admin_engine() -> Engine:
    """An autocommit engine on the admin database (CREATE/DROP DATABASE need one); pre-ping,
    because the fault tests restart PostgreSQL while the session's engine is pooled."""
    return create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", pool_pre_ping=True)


@contextmanager
def temporary_database(prefix: str = "todobot_test") -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards (even on failure)."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = admin_engine()
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
