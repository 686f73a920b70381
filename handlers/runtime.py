"""Per-process singletons for the entry points: settings, engine and service, built on first use
and reused by every invocation of a warm Lambda container."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bot_core.service import TodoService


@lru_cache(maxsize=1)
def shared_engine() -> Engine:
    """The process's database engine."""
    from bot_core.settings import get_settings
    from handlers.lambda_db import engine_options
    from handlers.secrets import load_secrets_into_environ
    from models.db import create_db_engine

    load_secrets_into_environ()  # before the settings are first built (no-op locally)
    return create_db_engine(get_settings().database_url, **engine_options())


@lru_cache(maxsize=1)
def shared_service() -> TodoService:
    """The process's :class:`TodoService` (tests build their own with ``build_service``)."""
    from bot_core.bootstrap import build_service
    from handlers.secrets import load_secrets_into_environ

    load_secrets_into_environ()  # before the settings are first built (no-op locally)
    return build_service(engine=shared_engine())


def reset() -> None:
    """Forget the singletons (tests that change the environment between cases)."""
    shared_service.cache_clear()
    shared_engine.cache_clear()
    from bot_core.settings import get_settings

    get_settings.cache_clear()
