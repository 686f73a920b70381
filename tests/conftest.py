"""Shared fixtures: the offline guard, real PostgreSQL and SQLite databases, service factories.

PostgreSQL is required: if it cannot be reached the session fails (never skips).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot_core.bootstrap import build_service
from bot_core.brains.base import Brain
from bot_core.inbound import ButtonAction, Inbound
from bot_core.service import TodoService
from bot_core.settings import Settings
from models.db import create_db_engine
from models.migrate import upgrade
from tests.pg_databases import PG_ADMIN_URL, admin_engine, temporary_database

FIXTURES = Path(__file__).resolve().parent / "fixtures"  # vendored copy of ../shared/fixtures
SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures"
TABLES = ("link_codes", "link_attempts", "delivery_claims", "outbox", "messages",
          "conversations", "tasks",
          "chat_identities", "strangers", "allowed_chats", "rate_counts", "llm_usage",
          "llm_months", "llm_notices", "users", "slack_installations", "slack_bots",
          "slack_oauth_states")


# -- offline guard -------------------------------------------------------------------------

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: Any) -> bool:
    if not isinstance(address, tuple):
        return True  # AF_UNIX paths (the PostgreSQL socket) are local by definition
    host = address[0]
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if not _is_loopback(address):
        raise OSError(f"offline guard: tests may not connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if not _is_loopback(address):
        raise OSError(f"offline guard: tests may not connect to {address!r}")
    return _real_connect_ex(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]

# Clients must never pick up real credentials or endpoints from the developer's shell.
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN",
              "AWS_LAMBDA_FUNCTION_NAME"):
    os.environ.pop(_name, None)
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


# -- limits ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_rate_limit_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-minute limit is off for the suite (load and fault tests send a chat's 50
    updates at once); tests of the limit set MESSAGES_PER_MINUTE_PER_USER themselves. Child
    processes (todobot serve, serverless-offline) inherit it."""
    monkeypatch.setenv("MESSAGES_PER_MINUTE_PER_USER", "0")


# -- databases -----------------------------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail the run at once (not skip) when PostgreSQL is not there."""
    try:
        with admin_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as error:
        raise pytest.UsageError(
            f"PostgreSQL is required for the tests and is unreachable at {PG_ADMIN_URL}: "
            f"{type(error).__name__}"
        ) from error


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session, dropped at the end."""
    with temporary_database() as url:
        upgrade(url)
        yield url
        engine = _ENGINES.pop(url, None)
        if engine is not None:
            engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (cheaper than migrating every time)."""
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


_ENGINES: dict[str, Engine] = {}


def pg_engine(url: str) -> Engine:
    """One engine per PostgreSQL URL for the whole session."""
    if url not in _ENGINES:
        _ENGINES[url] = create_db_engine(url)
    return _ENGINES[url]


def truncate_all(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """An empty, migrated database of each kind, one test at a time."""
    if request.param == "sqlite":
        path = tmp_path / "todobot.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_database_url")
    truncate_all(pg_engine(url))
    return url


@pytest.fixture
def pg_url(pg_database_url: str) -> str:
    """An emptied PostgreSQL database (for tests about PostgreSQL-only behaviour)."""
    truncate_all(pg_engine(pg_database_url))
    return pg_database_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    if db_url.startswith("postgresql"):
        yield pg_engine(db_url)
        return
    created = create_db_engine(db_url)
    yield created
    created.dispose()


ServiceFactory = Callable[..., TodoService]


@pytest.fixture
def make_service(engine: Engine, db_url: str) -> ServiceFactory:
    """Build the real service on the test database, with the given brain (offline default)."""

    def factory(brain: Brain | None = None, *, clock: Callable[[], datetime] | None = None,
                **settings: Any) -> TodoService:
        return build_service(Settings(database_url=db_url, **settings), engine=engine,
                             brain=brain, clock=clock)

    return factory


def inbound(
    text: str | None = None, *, user: str = "alice", chat: str = "chat-1",
    platform: str = "test", delivery: str | None = None, action: ButtonAction | None = None,
    workspace: str = "", private: bool = True,
) -> Inbound:
    """A factory for inbound values (the platform-neutral payload; a private chat unless
    ``private=False``)."""
    return Inbound(platform=platform, workspace=workspace, chat_id=chat, external_user_id=user,
                   display_name=user.title(), text=text, action=action, delivery_key=delivery,
                   private=private)


def count(engine: Engine, table: str, where: str = "1=1", **params: Any) -> int:
    """Rows in ``table`` matching ``where``."""
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"),
                                params).scalar_one())
