"""Telegram: the webhook (``handlers.telegram.handler``, ``POST /telegram/webhook``), update
parsing, rendering, sending, and the CLI helpers.

``handler`` is resolved on first access so that importing a sibling module (the worker imports
the sender) does not build the webhook function's stack.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "handler":
        from handlers.telegram.function import handler

        return handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
