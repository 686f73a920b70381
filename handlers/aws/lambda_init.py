"""Lambda's INIT phase, made cheaper and its work kept.

Importing a function module is where Lambda's INIT happens. The garbage collector is off while
the stack is imported and built — tens of thousands of objects that live as long as the process,
which the collector would otherwise walk over and over (about a quarter of INIT here) — and
what was built is then frozen out of its way (``gc.freeze``), so later collections skip it too.
Import this module first in a function module and call :func:`finished` at its end.
"""

from __future__ import annotations

import gc

gc.disable()


def finished() -> None:
    """INIT is over: keep what it built out of the collector's way, collect normally again."""
    gc.freeze()
    gc.enable()
