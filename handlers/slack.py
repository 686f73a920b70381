"""Slack entry points: the Lambda ``handler`` (API Gateway HTTP API, payload 2.0, route
``POST /slack/events``) and ``slack_asgi_endpoint`` for ``todobot serve``, both serving the same
Bolt app.

Importing this module is cheap on purpose (Lambda cold starts): Bolt, boto3, SQLAlchemy and the
core are imported on the first request, when the app is built once for the container.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slack_bolt import App
    from slack_bolt.adapter.aws_lambda import SlackRequestHandler
    from slack_sdk.signature import Clock
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger(__name__)

UNPARSEABLE = (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError)
"""What building Bolt's request raises for a body it cannot read: not JSON or form, JSON nested
deeper than Python's stack, or JSON whose fields have other types than Slack's
(``"authorizations": [null]``). Bolt builds the request, context included, before it verifies
the signature, so these reach us unverified."""


class DeferredTurnFailed(RuntimeError):
    """Raised out of ``handler`` so that Lambda retries a lazy invocation that failed on the
    database (see ``handlers.slack_lazy``)."""


@dataclass(frozen=True)
class _Container:
    app: App
    lambda_handler: SlackRequestHandler
    signing_secret: str
    clock: Clock | None


@dataclass(frozen=True)
class _LocalContext:
    """Stands in for the Lambda context when ``handler`` is called outside Lambda."""

    function_name: str
    invoked_function_arn: str = ""


_lock = threading.Lock()
_container_instance: _Container | None = None
_clock_for_tests: Clock | None = None


def _container() -> _Container:
    """The Bolt app and its Lambda adapter, built on first use and kept for the container."""
    global _container_instance
    if _container_instance is not None:
        return _container_instance
    with _lock:
        if _container_instance is None:
            from slack_bolt.adapter.aws_lambda import SlackRequestHandler

            from bot_core.settings import get_settings
            from handlers.secrets import load_secrets_into_environ
            from handlers.slack_app import build_bolt_app
            from handlers.slack_lazy import TodobotLazyRunner

            # In AWS the token and signing secret live in SSM: loaded once per container,
            # before the settings are first built (no-op when the environment has them).
            load_secrets_into_environ()
            settings = get_settings()
            app = build_bolt_app(settings, clock=_clock_for_tests)
            lambda_handler = SlackRequestHandler(app)
            # Bolt's adapter installed its Lambda runner; ours wraps it (local runs, ASGI).
            app.listener_runner.lazy_listener_runner = TodobotLazyRunner(app.logger)
            assert settings.slack_signing_secret is not None
            _container_instance = _Container(
                app, lambda_handler, settings.slack_signing_secret.get_secret_value(),
                _clock_for_tests,
            )
    return _container_instance


def reset(*, clock: Clock | None = None) -> None:
    """Forget the app (tests that change the environment); ``clock`` fakes the signature
    check's notion of now for the next app (Slack's documented example is from 2018)."""
    global _container_instance, _clock_for_tests
    with _lock:
        _container_instance = None
        _clock_for_tests = clock


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point for ``POST /slack/events`` (events, commands, interactivity),
    and for the asynchronous self-invocations Bolt's lazy listeners make."""
    from handlers.slack_app import SlackNotConfigured
    from handlers.slack_lazy import begin_invocation, current_invocation, end_invocation

    try:
        container = _container()
    except SlackNotConfigured as error:
        log.error("Slack is not configured: %s", error)
        return _response(500, "Slack is not configured")
    event = _normalised(event)
    if context is None:
        context = _LocalContext(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "todobot-slack"))
    token = begin_invocation(event)
    try:
        try:
            response: dict[str, Any] = container.lambda_handler.handle(  # type: ignore[no-untyped-call]
                event, context
            )
        except UNPARSEABLE:
            # The body did not parse, or parsed into a shape Bolt's request context cannot
            # read (Bolt parses before it verifies).
            return _response(_unparseable_status(container, event), "")
        invocation = current_invocation()
        failure = invocation.failure if invocation is not None else None
        reinvocation = invocation is not None and invocation.lazy_reinvocation
    finally:
        end_invocation(token)
    if failure is not None:
        if reinvocation:
            raise DeferredTurnFailed("deferred Slack turn failed; Lambda will retry") from failure
        return _response(500, "")
    return response


def _normalised(event: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy with the fields Bolt's adapter indexes directly made safe (it writes
    into ``headers``; a missing ``isBase64Encoded`` would be a KeyError)."""
    normalised = dict(event)
    normalised["headers"] = {
        str(k).lower(): v for k, v in (event.get("headers") or {}).items()
    }
    normalised["isBase64Encoded"] = bool(event.get("isBase64Encoded", False))
    normalised["body"] = event.get("body") or ""
    return normalised


def _unparseable_status(container: _Container, event: dict[str, Any]) -> int:
    """401 if the signature does not verify either (forged garbage), else 400."""
    from slack_sdk.signature import Clock, SignatureVerifier

    headers = event["headers"]
    body: str | bytes = event["body"]
    if event["isBase64Encoded"]:
        try:
            body = base64.b64decode(body)
        except ValueError:
            return 401
    verifier = SignatureVerifier(container.signing_secret, clock=container.clock or Clock())
    valid = verifier.is_valid(body, headers.get("x-slack-request-timestamp"),
                              headers.get("x-slack-signature"))
    return 400 if valid else 401


def _response(status: int, body: str) -> dict[str, Any]:
    return {"statusCode": status, "body": body, "headers": {"content-type": "text/plain"}}


async def slack_asgi_endpoint(request: Request) -> Response:
    """``POST /slack/events`` on the local server (uvicorn): the same Bolt app, dispatched on a
    worker thread so the event loop never blocks; LLM turns run after the ack on a thread."""
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse

    from handlers.slack_app import SlackNotConfigured
    from handlers.slack_lazy import ASGI_CONTEXT_KEY

    try:
        container = await run_in_threadpool(_container)
    except SlackNotConfigured as error:
        log.error("Slack is not configured: %s", error)
        return PlainTextResponse("Slack is not configured", status_code=500)
    body = await request.body()
    try:
        bolt_request = to_bolt_request(request, body, {ASGI_CONTEXT_KEY: True})
    except UNPARSEABLE:
        event = {"headers": dict(request.headers), "body": body, "isBase64Encoded": False}
        return PlainTextResponse("", status_code=_unparseable_status(container, event))
    bolt_response = await run_in_threadpool(container.app.dispatch, bolt_request)
    return to_starlette_response(bolt_response)
