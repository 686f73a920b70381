"""Database connection settings for Lambda (see infra/deploy.md, "Database").

A Lambda container serves one invocation at a time and is frozen between invocations, for
seconds or hours; thousands of containers may exist at once. So: a small pool per container
(the worker's: one connection per message group it runs at once), no overflow,
recycled after 4 minutes, before a NAT gateway (350 s) or a proxy drops them silently, which
would make the next pre-ping hang instead of fail; a 5 s connect timeout so an unreachable
database fails inside the webhook's window; and the statement timeout of
:func:`models.db.create_db_engine`. ``DATABASE_POOL=null`` opens a connection per unit of work
instead (without server-side prepared statements), for a pooler in front (RDS Proxy, PgBouncer)
that keeps the real connections warm.
"""

from __future__ import annotations

import os
from typing import Any

LAMBDA_POOL_RECYCLE_S = 240
LAMBDA_CONNECT_TIMEOUT_S = 5


def in_lambda() -> bool:
    """True inside the Lambda runtime (and serverless-offline), which set this variable."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def engine_options(pool_size: int = 2) -> dict[str, Any]:
    """Keyword arguments for :func:`models.db.create_db_engine` in this process;
    ``pool_size``: connections one container may use at once (the worker runs one message
    group per thread)."""
    null_pool = os.environ.get("DATABASE_POOL", "").strip().lower() == "null"
    if not in_lambda():
        return {"null_pool": True} if null_pool else {}
    return {
        "pool_size": pool_size,
        "max_overflow": 0,
        "pool_recycle_s": LAMBDA_POOL_RECYCLE_S,
        "connect_timeout_s": LAMBDA_CONNECT_TIMEOUT_S,
        "null_pool": null_pool,
    }
