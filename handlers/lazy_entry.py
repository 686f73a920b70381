"""A platform package's ``handler``, resolved on first access (PEP 562), so that importing a
sibling module (the worker imports the senders) does not build that function's stack."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_handler(package: str, module: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` whose ``handler`` lives in ``module``."""
    def getattr_(name: str) -> Any:
        if name == "handler":
            return importlib.import_module(module).handler
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    return getattr_
