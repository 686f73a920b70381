"""Text that can be stored and sent: no lone UTF-16 surrogates, no NUL.

JSON may carry ``"\\ud800"`` on its own; Python decodes it into a str that no UTF-8 encoder
accepts, so the first INSERT (PostgreSQL or SQLite) or HTTP request with it raises. PostgreSQL
refuses NUL in any text column. Either way the turn fails and the platform redelivers the same
poison again and again, so strings from outside (platform payloads, model output) pass through
here before they are stored or sent.
"""

from __future__ import annotations

import re
from typing import Any

_SURROGATE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def replace_surrogates(text: str) -> str:
    """``text`` with every surrogate code point replaced by U+FFFD (valid pairs never reach a
    Python str as two code points, so any surrogate here is a lone one)."""
    return _SURROGATE.sub(REPLACEMENT, text)


def storable(text: str) -> str:
    """``text`` fit for any text column and any UTF-8 request: surrogates replaced, NUL
    dropped (other control characters are the callers' business: see
    ``bot_core.tasks.strip_control_characters``)."""
    return replace_surrogates(text).replace("\x00", "")


def without_surrogates(value: Any) -> Any:
    """:func:`replace_surrogates` through parsed JSON (strings, keys, lists, objects): a
    model's tool-call arguments, stored with the turn and echoed in results."""
    if isinstance(value, str):
        return replace_surrogates(value)
    if isinstance(value, dict):
        return {without_surrogates(k): without_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_surrogates(item) for item in value]
    return value
