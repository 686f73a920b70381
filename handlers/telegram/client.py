"""The process's python-telegram-bot ``Bot``, built once by the composition root.

The ``Bot`` is never ``initialize()``-d: that would call getMe on every cold start for nothing.
Sending works without it; the bot's id is the number before the colon of its token, and its
@username (for mentions in groups) comes from ``TELEGRAM_BOT_USERNAME`` or, if unset, from one
getMe per process, made only when a group message needs it. Time periods (``retry_after``) are
read as timedeltas, python-telegram-bot's documented way forward (``PTB_TIMEDELTA``).
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from handlers import event_loop

if TYPE_CHECKING:
    from telegram import Bot
    from telegram.request import HTTPXRequest

LONG_POLL_SECONDS = 30
os.environ.setdefault("PTB_TIMEDELTA", "true")


@dataclass(frozen=True)
class BotIdentity:
    """Who the bot is, for telling whether a group message is addressed to it."""

    id: int
    username: str  # without the "@"; "" when not needed (private chats)


class TelegramClient:
    """A ``Bot`` plus what it takes to close it and to know its own identity."""

    def __init__(self, token: str, api_base_url: str, username: str | None) -> None:
        from telegram import Bot
        from telegram.request import HTTPXRequest

        _quiet_token_logging()
        base = api_base_url.rstrip("/")
        # One TLS context for both clients: building one costs about 20 ms of INIT.
        shared = {"verify": _tls_context()}
        self._requests: tuple[HTTPXRequest, HTTPXRequest] = (
            HTTPXRequest(connection_pool_size=8, connect_timeout=5.0, read_timeout=10.0,
                         write_timeout=10.0, pool_timeout=5.0, httpx_kwargs=shared),
            HTTPXRequest(connection_pool_size=1, connect_timeout=5.0,
                         read_timeout=LONG_POLL_SECONDS + 10.0, write_timeout=10.0,
                         pool_timeout=5.0, httpx_kwargs=shared),
        )
        self.bot: Bot = Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
                            request=self._requests[0], get_updates_request=self._requests[1])
        self.bot_id = bot_id_from_token(token)
        self._username = (username or "").lstrip("@") or None
        self._username_lock = threading.Lock()

    def identity(self, *, with_username: bool) -> BotIdentity:
        """The bot's id, and its username when asked for (getMe at most once per process)."""
        if not with_username:
            return BotIdentity(id=self.bot_id, username=self._username or "")
        with self._username_lock:
            if self._username is None:
                me = event_loop.run(self.bot.get_me(), timeout=30)
                self._username = me.username or ""
        return BotIdentity(id=self.bot_id, username=self._username)

    async def aclose(self) -> None:
        """Close the HTTP connection pools."""
        for request in self._requests:
            await request.shutdown()


def _tls_context() -> ssl.SSLContext:
    """What httpx would build for each client: the system's defaults with certifi's roots."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def _quiet_token_logging() -> None:
    """httpx logs each request URL at INFO and PTB its base URL at DEBUG; both contain the bot
    token, so neither may log below WARNING."""
    for name in ("httpx", "httpcore", "telegram"):
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() < logging.WARNING:
            logger.setLevel(logging.WARNING)


def bot_id_from_token(token: str) -> int:
    """The bot's user id: the digits before the colon of ``123456:ABC...``."""
    head, _, _ = token.partition(":")
    if not head.isdigit():
        raise ValueError("TELEGRAM_BOT_TOKEN does not look like a bot token (<id>:<secret>)")
    return int(head)
