"""The Telegram webhook Lambda: the Starlette app (``handlers.http_app``) through Mangum, API
Gateway HTTP API payload 2.0. The stack it needs — settings, the bot's identity, the queue —
is built while this module is imported, at INIT, without touching the network."""

from __future__ import annotations

# isort: off
from handlers.aws import lambda_init  # first: INIT runs without the garbage collector
# isort: on

import asyncio
from typing import Any

from mangum import Mangum

from handlers import composition
from handlers.aws import snapstart
from handlers.http_app import build_app
from handlers.telegram.warm_up import warm_up


def asgi_adapter(root: composition.Root) -> Mangum:
    """Mangum around the root's Starlette app, built once per root."""
    return root.part("mangum", lambda: Mangum(build_app(root), lifespan="off"))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point for ``POST /telegram/webhook``."""
    _ensure_event_loop()
    response: dict[str, Any] = asgi_adapter(composition.root())(event, context)
    return response


def _ensure_event_loop() -> None:
    """Mangum runs the app on the thread's current event loop. Lambda calls the handler on its
    main thread, which has one; a thread that has none (tests calling the handler from many
    threads, as many containers would) gets its own, and so does one whose current loop other
    code closed (else every later invocation of the container failed: "Event loop is
    closed")."""
    try:
        loop: asyncio.AbstractEventLoop | None = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        loop = None
    if loop is None or loop.is_closed():
        asyncio.set_event_loop(asyncio.new_event_loop())


warm_up(composition.root(), handler)
snapstart.register(composition.root)
lambda_init.finished()
