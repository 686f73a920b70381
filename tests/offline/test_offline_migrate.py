"""The ``migrate`` function under serverless-offline, invoked through its Lambda API as
``npx osls invoke --function migrate`` would after a deploy (its DATABASE_URL from SSM)."""

from __future__ import annotations

from sqlalchemy import text

from tests.deploy.test_migrate_handler import head
from tests.offline.conftest import Offline


def test_migrate_brought_the_empty_database_to_head(offline: Offline) -> None:
    assert offline.db.first_migration == {"ok": True, "before": None, "after": head()}
    with offline.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == head()


def test_a_second_migrate_is_a_no_op(offline: Offline) -> None:
    status, result = offline.stack.invoke("migrate")
    assert status == 200
    assert result == {"ok": True, "before": head(), "after": head()}
