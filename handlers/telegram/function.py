"""The Telegram webhook Lambda: the Starlette app (``handlers.http_app``) through Mangum, API
Gateway HTTP API payload 2.0. The stack it needs — settings, the bot's identity, the queue —
is built while this module is imported, at INIT, without touching the network."""

from __future__ import annotations

from mangum import Mangum

from handlers import composition
from handlers.aws import snapstart

_ROOT = composition.root().warm("telegram_webhook", "http_app")
snapstart.register(composition.root)
handler = Mangum(_ROOT.http_app, lifespan="off")
