"""Engines and the unit of work: one transaction per turn, rolled back on any error."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from types import TracebackType
from typing import Any

from sqlalchemy import Engine, Table, bindparam, create_engine, event
from sqlalchemy.pool import NullPool
from sqlmodel import Session


def normalise_database_url(url: str) -> str:
    """Accept the URL spellings people paste (``postgres://``, ``postgresql://``) and pick the
    psycopg 3 driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def create_db_engine(
    url: str, *, statement_timeout_ms: int | None = 10_000, pool_size: int = 5,
    max_overflow: int = 10, pool_recycle_s: int = -1, connect_timeout_s: int | None = None,
    null_pool: bool = False,
) -> Engine:
    """Build an engine fit for short turns.

    SQLite: transactions start with ``BEGIN IMMEDIATE`` so concurrent turns queue on the write
    lock instead of failing half-way with "database is locked"; foreign keys are switched on.
    PostgreSQL: pre-ping (Lambda containers sleep between invocations), a small pool, and a
    statement timeout so a stuck query cannot hold a turn forever. The pool knobs exist for
    Lambda (``handlers/lambda_db.py``): one connection per container, recycled before NAT or
    proxy idle timeouts can silently drop it, a connect timeout inside the webhook's window,
    and ``null_pool`` when a server-side pooler (RDS Proxy, PgBouncer) does the pooling.
    """
    # hide_parameters: error messages (and so logs) never carry the bound values, which are
    # users' messages, tasks and raw platform updates.
    url = normalise_database_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, hide_parameters=True
        )
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {}
    if statement_timeout_ms:
        connect_args["options"] = f"-c statement_timeout={statement_timeout_ms}"
    if connect_timeout_s:
        connect_args["connect_timeout"] = connect_timeout_s
    if null_pool:
        # A pooler in front (RDS Proxy, PgBouncer): no client pool, and no server-side
        # prepared statements (psycopg prepares after 5 runs), which poolers cannot share.
        connect_args["prepare_threshold"] = None
        return create_engine(url, poolclass=NullPool, connect_args=connect_args,
                             hide_parameters=True)
    return create_engine(
        url, hide_parameters=True, pool_pre_ping=True, pool_size=pool_size,
        max_overflow=max_overflow, pool_recycle=pool_recycle_s, connect_args=connect_args,
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class UnitOfWork:
    """A session whose changes land only on :meth:`commit`; leaving the block without a commit,
    or with an exception, rolls everything back.

    One pooled connection per unit of work.
    """

    def __init__(self, bind: Engine) -> None:
        self._bind = bind
        self.session: Session

    def __enter__(self) -> UnitOfWork:
        self.session = Session(self._bind, expire_on_commit=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.session.rollback()
        finally:
            self.session.close()

    def commit(self) -> None:
        self.session.commit()


UnitOfWorkFactory = Callable[[], UnitOfWork]


def insert_ignoring_conflicts(
    session: Session, model: Any, values: dict[str, Any], conflict_columns: list[str]
) -> bool:
    """``INSERT ... ON CONFLICT DO NOTHING``; True if a row was inserted.

    On PostgreSQL a concurrent insert of the same key waits for the other transaction and then
    reports the conflict, which is what makes "first contact" and "claim a delivery" race-free.
    """
    statement = _insert_ignoring(model.__table__, session.get_bind().dialect.name,
                                 tuple(conflict_columns), tuple(values))
    return session.execute(statement, values).first() is not None


@lru_cache(maxsize=64)
def _insert_ignoring(table: Table, dialect: str, conflict_columns: tuple[str, ...],
                     columns: tuple[str, ...]) -> Any:
    """The statement for :func:`insert_ignoring_conflicts`, built once per shape (every turn
    claims its delivery with it; building it anew cost more than running it)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)
    statement = statement.values({name: bindparam(name) for name in columns})
    # RETURNING, not rowcount: rowcount is unreliable across drivers for ON CONFLICT.
    first_column = next(iter(table.columns))
    return statement.on_conflict_do_nothing(index_elements=list(conflict_columns)).returning(
        first_column)


def add_to_counters(session: Session, model: Any, keys: dict[str, Any],
                    amounts: dict[str, int]) -> tuple[int, ...]:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET c = c + amount ... RETURNING`` the new
    values, in ``amounts``' order: one statement, race-free on both databases (two containers
    counting the same row serialise on it)."""
    table = model.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)
    statement = statement.values({**keys, **amounts}).on_conflict_do_update(
        index_elements=list(keys),
        set_={name: table.c[name] + statement.excluded[name] for name in amounts},
    ).returning(*(table.c[name] for name in amounts))
    row = session.execute(statement).one()
    return tuple(int(value) for value in row)
