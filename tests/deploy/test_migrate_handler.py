"""The ``migrate`` Lambda: upgrades the stage's database to head, and a second run is a no-op."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot_core.settings import get_settings
from handlers.migrate import handler
from models.migrate import alembic_config
from tests.pg_databases import temporary_database


def head() -> str:
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None
    return revision


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
def test_migrate_upgrades_once(environ: os._Environ[str], tmp_path: Path, kind: str) -> None:
    environ.pop("TODOBOT_SSM_PATH", None)
    with temporary_database("todobot_migrate") as pg:
        environ["DATABASE_URL"] = pg if kind == "postgresql" else f"sqlite:///{tmp_path}/m.db"
        get_settings.cache_clear()
        try:
            first = handler({}, None)
            second = handler({}, None)
        finally:
            get_settings.cache_clear()

    assert first == {"ok": True, "before": None, "after": head()}
    assert second == {"ok": True, "before": head(), "after": head()}
