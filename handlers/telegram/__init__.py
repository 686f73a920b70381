"""Telegram: the webhook (``handlers.telegram.handler``, ``POST /telegram/webhook``), update
parsing, rendering, sending, and the CLI helpers."""

from handlers.lazy_entry import lazy_handler

__getattr__ = lazy_handler(__name__, "handlers.telegram.function")
