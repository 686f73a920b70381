"""What the Telegram function does at INIT besides building its stack: one forged request
through the whole HTTP path (Mangum, Starlette, the thread pool, the secret check: answered
401, nothing read or written) and one sample update parsed and classified — the first-time work
of the libraries (imports on first use, validators built) done where Lambda hides it, with no
network. The ORM's mappers are configured too."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from handlers.composition import NotConfigured, Root

log = logging.getLogger(__name__)

_SAMPLE_UPDATE: dict[str, Any] = {
    "update_id": 1,
    "message": {"message_id": 1, "date": 1_700_000_000,
                "chat": {"id": 1, "type": "private", "first_name": "Init"},
                "from": {"id": 1, "is_bot": False, "first_name": "Init"},
                "text": "/add warm up", "entities": [
                    {"offset": 0, "length": 4, "type": "bot_command"}]},
}
_FORGED_REQUEST: dict[str, Any] = {
    "version": "2.0", "routeKey": "POST /telegram/webhook", "rawPath": "/telegram/webhook",
    "rawQueryString": "", "headers": {"content-type": "application/json", "host": "init"},
    "requestContext": {"http": {"method": "POST", "path": "/telegram/webhook",
                                "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
                       "stage": "$default"},
    "body": json.dumps(_SAMPLE_UPDATE), "isBase64Encoded": False,
}


def warm_up(root: Root, handler: Callable[[dict[str, Any], Any], dict[str, Any]]) -> None:
    """Build the function's parts and run the first-time work (see the module docstring)."""
    from sqlalchemy.orm import configure_mappers

    import models.tables  # noqa: F401 - the tables the turn uses, mapped now

    configure_mappers()
    root.warm("telegram_webhook")
    status = handler(_FORGED_REQUEST, None)["statusCode"]
    if status != 401:
        log.error("the INIT warm-up request was answered %s, not 401", status)
    try:
        root.telegram_webhook.delivery_of(_SAMPLE_UPDATE)
    except NotConfigured as error:  # reported by each request until configured
        log.error("Telegram is not configured: %s", error)
