"""SnapStart's runtime hooks (opt-in in serverless.yml): Lambda snapshots a function after INIT
and restores copies of it, so what INIT built must be safe to clone.

Before the snapshot, pooled database connections are closed (INIT opens none, but a cloned
socket would be shared by every restored copy). After each restore, connections are made anew
on first use and Python's ``random`` is reseeded (every copy would otherwise draw the same
numbers; ``secrets`` and ``uuid4`` read the OS and need nothing). The hooks come from AWS's
``snapshot_restore_py``, which the Lambda runtime provides; elsewhere there is nothing to do.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from handlers.composition import Root

log = logging.getLogger(__name__)

_registered = False


def before_snapshot(get_root: Callable[[], Root]) -> None:
    """Close what must not be cloned."""
    get_root().engine.dispose()


def after_restore(get_root: Callable[[], Root]) -> None:
    """Fresh randomness and fresh connections for this copy."""
    random.seed()
    get_root().engine.dispose()
    log.info("restored from a SnapStart snapshot")


def register(get_root: Callable[[], Root]) -> bool:
    """Register the hooks once per process; False when not running under SnapStart's runtime."""
    global _registered
    if _registered:
        return True
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot, get_root)
    register_after_restore(after_restore, get_root)
    _registered = True
    return True
