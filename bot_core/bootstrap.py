"""The composition root: settings in, a ready :class:`TodoService` out. Tests call it with fakes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Engine

from bot_core.brains.base import Brain
from bot_core.service import Limits, TodoService
from bot_core.settings import Settings, get_settings
from models.db import UnitOfWork, create_db_engine


def build_brain(settings: Settings) -> Brain:
    """The LLM brain when an endpoint is configured, else the offline rules brain."""
    if settings.llm_configured:
        from bot_core.brains.llm import LLMBrain, build_openai_client

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return LLMBrain(
            partial(build_openai_client, api_key=key, base_url=settings.openai_base_url,
                    timeout=settings.llm_timeout_seconds, max_retries=settings.llm_max_retries),
            model=settings.openai_model, max_rounds=settings.llm_max_tool_rounds,
            call_timeout=settings.llm_timeout_seconds, max_retries=settings.llm_max_retries,
            turn_budget=settings.llm_turn_budget_seconds,
        )
    from bot_core.brains.offline import OfflineBrain

    return OfflineBrain()


def build_service(
    settings: Settings | None = None, *, engine: Engine | None = None, brain: Brain | None = None,
    clock: Callable[[], datetime] | None = None,
) -> TodoService:
    """Wire a service from settings; ``engine``, ``brain`` and ``clock`` override the defaults
    (tests)."""
    settings = settings or get_settings()
    db_engine = engine or create_db_engine(settings.database_url)
    resolved_settings = settings
    return TodoService(
        partial(UnitOfWork, db_engine),
        (lambda: brain) if brain is not None else (lambda: build_brain(resolved_settings)),
        history_max_messages=settings.history_max_messages,
        history_max_chars=settings.history_max_chars,
        clock=clock or (lambda: datetime.now(UTC)),
        limits=Limits(messages_per_minute=settings.messages_per_minute_per_user,
                      daily_tokens=settings.llm_daily_tokens_per_user,
                      monthly_tokens=settings.llm_monthly_tokens),
    )
