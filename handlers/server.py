"""The local webhook server (``todobot serve``): the same routes as the Lambdas, on uvicorn.

``POST /telegram/webhook`` and ``POST /slack/events`` are served by the platform modules' ASGI
endpoints; ``GET /healthz`` says the process and database are alive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

WORKER_THREADS = 128
"""Threads for the blocking work of requests (turns run on them). Telegram opens up to
``max_connections`` webhook requests at once (40 by default, 100 at most), and every one of
them may be waiting for the same chat behind a slow LLM turn. With anyio's default of 40,
those waiters took every thread: no other chat, no Slack request (3 s to acknowledge) and no
``/healthz`` was served until the LLM answered, and updates that found no thread reached the
chat's queue late, out of update_id order. A waiting request holds a thread but no database
connection, so the pool is not the limit."""


async def healthz(_request: Request) -> Response:
    """Liveness plus a database round trip, so a tunnel test shows the whole path works."""
    from sqlalchemy import text
    from starlette.concurrency import run_in_threadpool

    from handlers.runtime import shared_engine

    def ping() -> None:
        with shared_engine().connect() as conn:
            conn.execute(text("SELECT 1"))

    try:
        await run_in_threadpool(ping)
    except Exception as error:  # noqa: BLE001 - report, don't crash the health check
        return JSONResponse({"ok": False, "database": type(error).__name__}, status_code=503)
    return JSONResponse({"ok": True})


def build_app() -> Starlette:
    """The ASGI app. Platform endpoints are imported here, not at module import."""
    from handlers.slack import slack_asgi_endpoint
    from handlers.telegram import telegram_asgi_endpoint

    return Starlette(routes=[
        Route("/healthz", healthz, methods=["GET"]),
        Route("/telegram/webhook", telegram_asgi_endpoint, methods=["POST"]),
        Route("/slack/events", slack_asgi_endpoint, methods=["POST"]),
    ], lifespan=lifespan)


@asynccontextmanager
async def lifespan(_app: Starlette) -> AsyncIterator[None]:
    """Size the worker thread pool (see :data:`WORKER_THREADS`); the limiter belongs to the
    running event loop, so it is set once the loop runs."""
    import anyio.to_thread

    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield
