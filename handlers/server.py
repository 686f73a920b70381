"""The local webhook server (``todobot serve``): the same routes as the Lambdas, on uvicorn.

``POST /telegram/webhook`` and ``POST /slack/events`` are served by the platform modules' ASGI
endpoints; ``GET /healthz`` says the process and database are alive.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


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
    ])
