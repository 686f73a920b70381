"""The HTTP routes that are not Bolt's, as one Starlette app: served by uvicorn for ``todobot
serve`` and by Mangum on Lambda (the Telegram function).

``POST /telegram/webhook`` authenticates, parses and queues (:mod:`handlers.telegram.webhook`);
``GET /healthz`` says the process and database are alive. For ``todobot serve`` the same app also
mounts Bolt's ``POST /slack/events`` and the OAuth install routes (on Lambda the Slack function
is Bolt's own adapter) and runs the scheduler's sweep in the background.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from handlers.telegram.webhook import SECRET_HEADER

if TYPE_CHECKING:
    from handlers.composition import Root

log = logging.getLogger(__name__)

WORKER_THREADS = 128
"""Threads for the blocking work of requests (with the in-process queue, turns run on them).
Telegram opens up to ``max_connections`` webhook requests at once (40 by default, 100 at most),
and every one of them may be waiting for its conversation's earlier turn; with anyio's default
of 40, those waiters took every thread and no other chat, Slack request or ``/healthz`` was
served. A waiting request holds a thread but no database connection."""
SWEEP_EVERY_SECONDS = 5.0


class QueryFreeAccessLog(logging.Filter):
    """uvicorn's access log without query strings: the OAuth callback's carries a one-time
    code and state (``todobot serve``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def build_app(root: Root, *, local: bool = False) -> Starlette:
    """The routes on ``root``; ``local`` adds Slack's route and the background sweep."""

    async def telegram_webhook(request: Request) -> Response:
        body = await request.body()
        status, answer = await run_in_threadpool(
            root.telegram_webhook.receive, body, request.headers.get(SECRET_HEADER))
        return JSONResponse(answer, status_code=status)

    async def healthz(_request: Request) -> Response:
        """Liveness plus a database round trip, so a tunnel test shows the whole path works."""
        from sqlalchemy import text

        def ping() -> None:
            with root.engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        try:
            await run_in_threadpool(ping)
        except Exception as error:  # noqa: BLE001 - report, don't crash the health check
            return JSONResponse({"ok": False, "database": type(error).__name__},
                                status_code=503)
        return JSONResponse({"ok": True})

    routes = [Route("/healthz", healthz, methods=["GET"]),
              Route("/telegram/webhook", telegram_webhook, methods=["POST"])]
    if local:
        from handlers.slack.asgi import slack_asgi_endpoint, slack_oauth_endpoint
        from handlers.slack.pages import INSTALL_PATH, REDIRECT_PATH

        async def slack_events(request: Request) -> Response:
            return await slack_asgi_endpoint(root, request)

        async def slack_oauth(request: Request) -> Response:
            return await slack_oauth_endpoint(root, request)

        routes += [Route("/slack/events", slack_events, methods=["POST"]),
                   Route(INSTALL_PATH, slack_oauth, methods=["GET"]),
                   Route(REDIRECT_PATH, slack_oauth, methods=["GET"])]
    return Starlette(routes=routes, lifespan=_lifespan(root, sweeping=local))


def _lifespan(root: Root, *, sweeping: bool
              ) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        """Size the worker thread pool (see :data:`WORKER_THREADS`); the limiter belongs to
        the running event loop, so it is set once the loop runs. Locally, sweep the outbox
        every few seconds as the scheduler function does every minute on AWS."""
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        task = asyncio.create_task(_sweep_forever(root)) if sweeping else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()

    return lifespan


async def _sweep_forever(root: Root) -> None:
    from handlers.sweep import sweep

    while True:
        await asyncio.sleep(SWEEP_EVERY_SECONDS)
        try:
            await run_in_threadpool(sweep, root)
        except Exception:  # logged; the next sweep tries again
            log.exception("background scheduler sweep failed")
