"""The scheduler Lambda (``handlers.scheduler.handler``, EventBridge every minute): one sweep
(:mod:`handlers.sweep`). The stack is built while this module is imported, at INIT."""

from __future__ import annotations

# isort: off
from handlers.aws import lambda_init  # first: INIT runs without the garbage collector
# isort: on

from dataclasses import asdict
from typing import Any

from handlers import composition
from handlers.aws import snapstart
from handlers.sweep import sweep


def handler(event: dict[str, Any] | None, context: Any) -> dict[str, Any]:
    """EventBridge's scheduled event (its content is not needed)."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    seconds_left = (lambda: remaining() / 1000.0) if callable(remaining) else None
    return {"ok": True, **asdict(sweep(composition.root(), seconds_left=seconds_left))}


composition.root().warm("deliverer")
snapstart.register(composition.root)
lambda_init.finished()
