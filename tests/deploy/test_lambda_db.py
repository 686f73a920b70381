"""Connection settings for Lambda, on the real PostgreSQL: a two-connection pool recycled
before idle timeouts, a connect timeout, and a no-pool mode for RDS Proxy / PgBouncer."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool, QueuePool

from handlers.aws.lambda_db import LAMBDA_CONNECT_TIMEOUT_S, LAMBDA_POOL_RECYCLE_S, engine_options
from models.db import create_db_engine


def test_outside_lambda_the_defaults_stand(environ: os._Environ[str]) -> None:
    environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    environ.pop("DATABASE_POOL", None)
    assert engine_options() == {}


def test_in_lambda_a_small_recycled_pool(environ: os._Environ[str], pg_url: str) -> None:
    environ["AWS_LAMBDA_FUNCTION_NAME"] = "todobot-test-telegram"
    environ.pop("DATABASE_POOL", None)

    engine = create_db_engine(pg_url, **engine_options())
    try:
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.size() == 2
        assert engine.pool._max_overflow == 0
        assert engine.pool._recycle == LAMBDA_POOL_RECYCLE_S
        assert engine.pool._pre_ping
        with engine.connect() as conn:
            timeout = conn.execute(text("SHOW statement_timeout")).scalar_one()
            dsn = conn.connection.dbapi_connection.info.dsn  # type: ignore[union-attr]
        assert timeout == "10s"
        assert f"connect_timeout={LAMBDA_CONNECT_TIMEOUT_S}" in dsn
    finally:
        engine.dispose()


@pytest.mark.parametrize("in_lambda", [True, False])
def test_null_pool_for_a_pooler_in_front(environ: os._Environ[str], pg_url: str,
                                         in_lambda: bool) -> None:
    if in_lambda:
        environ["AWS_LAMBDA_FUNCTION_NAME"] = "todobot-test-slack"
    else:
        environ.pop("AWS_LAMBDA_FUNCTION_NAME", None)
    environ["DATABASE_POOL"] = "null"

    engine = create_db_engine(pg_url, **engine_options())
    try:
        assert isinstance(engine.pool, NullPool)
        with engine.connect() as conn:
            for _ in range(8):  # past psycopg's prepare threshold (5)
                conn.execute(text("SELECT 1")).scalar_one()
            prepared = conn.execute(text("SELECT count(*) FROM pg_prepared_statements"))
            assert prepared.scalar_one() == 0
    finally:
        engine.dispose()
