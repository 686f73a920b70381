"""The ``migrate`` Lambda: bring the stage's database to the newest schema (Alembic upgrade).

Invoked once after each deploy (``npx osls invoke --function migrate --stage STAGE``), never by
a route, so schema changes never run inside a webhook. Alembic's own version table makes a
second run a no-op; the answer says which revision the database was at before and after.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    """Upgrade to ``head`` (or to ``event["revision"]``); returns the revisions before/after."""
    from bot_core.settings import get_settings
    from handlers.aws.secrets import load_secrets_into_environ
    from models.migrate import upgrade

    load_secrets_into_environ()
    settings = get_settings()
    revision = str((event or {}).get("revision") or "head")
    before = current_revision(settings.database_url)
    upgrade(settings.database_url, revision)
    after = current_revision(settings.database_url)
    log.info("database migrated from %s to %s", before, after)
    return {"ok": True, "before": before, "after": after}


def current_revision(url: str) -> str | None:
    """The Alembic revision the database is at (None when it has never been migrated)."""
    from alembic.migration import MigrationContext

    from models.db import create_db_engine

    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
