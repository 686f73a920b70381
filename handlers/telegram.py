"""The Telegram webhook: ``POST /telegram/webhook`` as a Lambda handler (API Gateway HTTP API,
payload 2.0) and as a Starlette endpoint for ``todobot serve``.

Thin on purpose: authenticate, read the JSON, hand it to :mod:`handlers.telegram_turns`, turn
the outcome into a status. Importing this module is cheap (standard library only); the Telegram
library, the database and boto3 are imported when the first request needs them, so a cold start
pays for them once and only if used.

Statuses: 401 wrong or missing secret token (nothing read further, nothing written); 400 a body
that is not a JSON object; 200 everything Telegram should not send again (handled, ignored,
unparseable, redelivered); 500 when the turn could not be stored (database down...) — its
transaction rolled back, so Telegram's redelivery gets a clean second try.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from handlers.telegram_turns import Deferral

log = logging.getLogger(__name__)

SECRET_HEADER = "x-telegram-bot-api-secret-token"


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point: webhook requests, and this function's own deferred turns."""
    from handlers.lambda_async import deferred_payload, in_lambda
    from handlers.secrets import load_secrets_into_environ

    # In AWS the token and webhook secret live in SSM: loaded once per container, before the
    # settings are first built (a no-op when the environment has them).
    load_secrets_into_environ()
    deferred = deferred_payload(event)
    if deferred is not None:
        from handlers.telegram_turns import run_deferred

        run_deferred(deferred)  # raising makes Lambda retry the asynchronous event
        return {"ok": True}
    deferral = None
    if in_lambda() and context is not None:
        from handlers.telegram_turns import Deferral

        deferral = Deferral(context.function_name)
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    try:
        body = _event_body(event)
    except (binascii.Error, ValueError):
        return _lambda_response(400, {"ok": False, "error": "bad body encoding"})
    status, answer = webhook(body, headers.get(SECRET_HEADER), deferral)
    return _lambda_response(status, answer)


async def telegram_asgi_endpoint(request: Request) -> Response:
    """The same webhook for the local server; the turn runs on a worker thread."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse

    body = await request.body()
    status, answer = await run_in_threadpool(webhook, body, request.headers.get(SECRET_HEADER),
                                             None)
    return JSONResponse(answer, status_code=status)


def webhook(body: bytes, secret: str | None, deferral: Deferral | None
            ) -> tuple[int, dict[str, Any]]:
    """Authenticate and process one webhook request; (status, JSON answer)."""
    if not _authentic(secret):
        return 401, {"ok": False, "error": "unauthorized"}
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # nesting past Python's stack
        return 400, {"ok": False, "error": "body is not JSON"}
    if not isinstance(data, dict):
        return 400, {"ok": False, "error": "body is not a JSON object"}
    from handlers.telegram_turns import receive

    try:
        receive(data, deferral)
    except Exception:  # any failure: 5xx so that Telegram redelivers (logged)
        log.exception("Telegram update %s failed; answering 500 for a redelivery",
                      data.get("update_id"))
        return 500, {"ok": False, "error": "try again"}
    return 200, {"ok": True}


def _authentic(secret: str | None) -> bool:
    """Constant-time comparison with TELEGRAM_WEBHOOK_SECRET; no secret configured, no entry."""
    from bot_core.settings import get_settings

    expected = get_settings().telegram_webhook_secret
    if expected is None or not expected.get_secret_value():
        log.error("TELEGRAM_WEBHOOK_SECRET is not set; refusing webhook requests")
        return False
    if secret is None:
        return False
    return hmac.compare_digest(secret.encode(), expected.get_secret_value().encode())


def _event_body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        return base64.b64decode(body, validate=True)
    return body.encode() if isinstance(body, str) else bytes(body)


def _lambda_response(status: int, answer: dict[str, Any]) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"content-type": "application/json"},
            "body": json.dumps(answer)}
