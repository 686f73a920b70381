"""The Slack function: Bolt's own AWS Lambda adapter behind API Gateway HTTP API (payload 2.0)
for ``POST /slack/events`` and the OAuth install routes (``GET /slack/install``, ``GET
/slack/oauth_redirect``), around the Bolt app built while this module is imported (INIT)."""

from __future__ import annotations

# isort: off
from handlers.aws import lambda_init  # first: INIT runs without the garbage collector
# isort: on

import logging
from typing import TYPE_CHECKING, Any

from handlers import composition
from handlers.aws import snapstart
from handlers.slack.app import SlackNotConfigured
from handlers.slack.unparseable import UNPARSEABLE, unparseable_status

if TYPE_CHECKING:
    from slack_bolt.adapter.aws_lambda import SlackRequestHandler

log = logging.getLogger(__name__)

def lambda_adapter(root: composition.Root) -> SlackRequestHandler:
    """Bolt's Lambda adapter around the root's Bolt app, built once per root."""
    def build() -> SlackRequestHandler:
        from slack_bolt.adapter.aws_lambda import SlackRequestHandler

        return SlackRequestHandler(root.bolt_app)
    return root.part("slack_lambda_adapter", build)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point for ``POST /slack/events`` (events, commands, interactivity)."""
    root = composition.root()
    try:
        adapter = lambda_adapter(root)
    except (SlackNotConfigured, composition.NotConfigured) as error:
        log.error("Slack is not configured: %s", error)
        return _response(500, "Slack is not configured")
    event = _normalised(event)
    if _method(event) == "GET":
        return _install_route(root, event)
    try:
        response: dict[str, Any] = adapter.handle(event, context)  # type: ignore[no-untyped-call]
    except UNPARSEABLE:
        return _response(unparseable_status(root, event), "")
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


def _install_route(root: composition.Root, event: dict[str, Any]) -> dict[str, Any]:
    """``GET /slack/install`` and ``GET /slack/oauth_redirect``, chosen by path as the local
    server does (Bolt's adapter shows the install page for a callback without a state, where
    a refusal is the honest answer)."""
    from slack_bolt.adapter.aws_lambda.handler import to_aws_response, to_bolt_request

    from handlers.slack.pages import HEADERS, INSTALL_PATH, REDIRECT_PATH, not_installable_page

    flow = root.bolt_app.oauth_flow
    path = str(event.get("rawPath") or "")
    if flow is None or path not in (INSTALL_PATH, REDIRECT_PATH):
        return {"statusCode": 404, "body": not_installable_page(), "headers": dict(HEADERS)}
    request = to_bolt_request(event)
    response = (flow.handle_installation(request) if path == INSTALL_PATH
                else flow.handle_callback(request))
    aws: dict[str, Any] = to_aws_response(response)
    return aws


def _method(event: dict[str, Any]) -> str:
    http = (event.get("requestContext") or {}).get("http") or {}
    return str(http.get("method") or "")


def _response(status: int, body: str) -> dict[str, Any]:
    return {"statusCode": status, "body": body, "headers": {"content-type": "text/plain"}}


_FORGED_REQUEST: dict[str, Any] = {
    "version": "2.0", "routeKey": "POST /slack/events", "rawPath": "/slack/events",
    "rawQueryString": "", "headers": {"content-type": "application/json",
                                      "x-slack-request-timestamp": "0",
                                      "x-slack-signature": "v0=init"},
    "requestContext": {"http": {"method": "POST", "path": "/slack/events"}},
    "body": '{"type": "event_callback", "event": {"type": "app_mention"}}',
    "isBase64Encoded": False,
}


def _warm() -> None:
    """Build the function's stack at INIT and put one forged request through Bolt (401,
    nothing read or written): its first-time work done where Lambda hides it, no network. A
    missing configuration is reported per request."""
    root = composition.root()
    try:
        lambda_adapter(root)
        root.warm("queue")
    except (SlackNotConfigured, composition.NotConfigured) as error:
        log.error("Slack is not configured: %s", error)
        return
    status = handler(_FORGED_REQUEST, None)["statusCode"]
    if status != 401:
        log.error("the INIT warm-up request was answered %s, not 401", status)


_warm()
snapstart.register(composition.root)
lambda_init.finished()
