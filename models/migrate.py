"""Run Alembic from code, so ``todobot migrate``, the Lambda ``migrate`` function and the tests
share one way in (no alembic.ini to find on disk)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

from models.db import normalise_database_url
from models.defaults import DEFAULT_SQLITE_URL

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at our migrations and, if given, at ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", normalise_database_url(url).replace("%", "%%"))
    return config


def resolve_url(config: Config) -> str:
    """The URL given to :func:`alembic_config`, else DATABASE_URL, else the local SQLite file."""
    return normalise_database_url(
        config.get_main_option("sqlalchemy.url")
        or os.environ.get("DATABASE_URL")
        or DEFAULT_SQLITE_URL
    )


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    """Take the database at ``url`` back down to ``revision``."""
    command.downgrade(alembic_config(url), revision)
