"""Slack: the Bolt app (``handlers.slack.handler``: ``POST /slack/events``, and the install
routes), payload translation, rendering and sending.

``handler`` is resolved on first access so that importing a sibling module (the worker imports
the sender) does not build the Slack function's stack.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "handler":
        from handlers.slack.function import handler

        return handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
