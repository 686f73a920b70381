"""``POST /slack/events``, ``GET /slack/install`` and ``GET /slack/oauth_redirect`` on the local
server (uvicorn): the same Bolt app and OAuth flow as the Lambda, run on a worker thread so the
event loop never blocks (Bolt's Starlette adapter would run them on the loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response

from handlers.slack.app import SlackNotConfigured
from handlers.slack.pages import HEADERS, INSTALL_PATH, not_installable_page
from handlers.slack.unparseable import UNPARSEABLE, unparseable_status

if TYPE_CHECKING:
    from handlers.composition import Root


async def slack_asgi_endpoint(root: Root, request: Request) -> Response:
    """Verify, route and answer one Slack request through Bolt."""
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

    from handlers.composition import NotConfigured

    try:
        app = await run_in_threadpool(lambda: root.bolt_app)
    except (SlackNotConfigured, NotConfigured):
        return PlainTextResponse("Slack is not configured", status_code=500)
    body = await request.body()
    try:
        bolt_request = to_bolt_request(request, body)
    except UNPARSEABLE:
        event = {"headers": dict(request.headers), "body": body, "isBase64Encoded": False}
        return PlainTextResponse("", status_code=unparseable_status(root, event))
    bolt_response = await run_in_threadpool(app.dispatch, bolt_request)
    return to_starlette_response(bolt_response)


async def slack_oauth_endpoint(root: Root, request: Request) -> Response:
    """The install page, or the OAuth callback; 404 with an explanation in one-workspace mode."""
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

    from handlers.composition import NotConfigured

    try:
        app = await run_in_threadpool(lambda: root.bolt_app)
    except (SlackNotConfigured, NotConfigured):
        return PlainTextResponse("Slack is not configured", status_code=500)
    flow = app.oauth_flow
    if flow is None:
        return HTMLResponse(not_installable_page(), status_code=404, headers=HEADERS)
    bolt_request = to_bolt_request(request, b"")
    handle = (flow.handle_installation if request.url.path == INSTALL_PATH
              else flow.handle_callback)
    return to_starlette_response(await run_in_threadpool(handle, bolt_request))
