"""Installing the app as a person would, through the Lambda handler: the install page, the
consent page on the fake Slack, the redirect back; and events from a given workspace.

The "browser" here keeps the state cookie the install page set and follows the fake's
redirect by hand (the Lambda handler is called, not fetched). tests/slack/test_oauth_browser.py
does the same in a real Chromium against ``todobot serve``.
"""

from __future__ import annotations

import http.client
import json
import re
import uuid
from dataclasses import dataclass, field
from html import unescape
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.fakes.slack_oauth import FakeWorkspace
from tests.slack.harness import SlackHarness, apigw_event, fixture_json, signed_headers

API_HOST = "abc123.execute-api.us-east-1.amazonaws.com"
REDIRECT_URL = f"https://{API_HOST}/slack/oauth_redirect"
STATE_COOKIE = "slack-app-oauth-state"
_BUTTON = re.compile(r'id="add-to-slack" href="([^"]+)"')


@dataclass(frozen=True)
class Page:
    status: int
    html: str
    headers: dict[str, str]

    @property
    def set_cookie(self) -> str:
        return self.headers.get("set-cookie", self.headers.get("Set-Cookie", ""))

    def state_cookie(self) -> str | None:
        cookie = SimpleCookie()
        cookie.load(self.set_cookie)
        morsel = cookie.get(STATE_COOKIE)
        return morsel.value if morsel is not None else None

    def authorize_url(self) -> str:
        match = _BUTTON.search(self.html)
        assert match is not None, self.html[:500]
        return unescape(match.group(1))


@dataclass
class InstallRun:
    """One walk through the flow: each step's status."""

    install: Page
    consent_status: int
    callback: Page
    callback_query: dict[str, str] = field(default_factory=dict)


def get(harness: SlackHarness, path: str, query: dict[str, str] | None = None,
        cookies: list[str] | None = None) -> Page:
    """``GET path?query`` through ``handlers.slack.handler``, as API Gateway (payload 2.0)
    hands it over: the query in ``rawQueryString`` and ``queryStringParameters``, cookies in
    ``cookies``."""
    event = apigw_event("", {"user-agent": "Mozilla/5.0"}, path=path, method="GET")
    event["rawQueryString"] = urlencode(query or {})
    if query:
        event["queryStringParameters"] = dict(query)
    event["cookies"] = list(cookies or [])
    event["headers"]["host"] = API_HOST
    response = harness.call(event)
    headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    return Page(int(response["statusCode"]), str(response.get("body") or ""), headers)


def consent(authorize_url: str) -> tuple[int, dict[str, str]]:
    """The person approves on the fake's consent page: its status and the redirect's query."""
    parts = urlsplit(authorize_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", f"{parts.path}?{parts.query}")
        response = conn.getresponse()
        response.read()
        location = response.getheader("Location") or ""
    finally:
        conn.close()
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    return response.status, query


def install(harness: SlackHarness, workspace: FakeWorkspace) -> InstallRun:
    """The whole flow for ``workspace``: install page, consent, callback with the cookie."""
    harness.fake.installs.consenting = workspace.key
    page = get(harness, "/slack/install")
    state = page.state_cookie()
    status, query = consent(page.authorize_url())
    cookies = [f"{STATE_COOKIE}={state}"] if state else []
    callback = get(harness, "/slack/oauth_redirect", query, cookies)
    return InstallRun(page, status, callback, query)


def event_from(workspace: FakeWorkspace, event: dict[str, Any]) -> dict[str, Any]:
    """An Events API envelope from ``workspace`` (its org too, and an org-wide install)."""
    team = workspace.team_id
    envelope: dict[str, Any] = {
        "token": "one-long-verification-token", "team_id": team, "api_app_id": "ATODOBOT1",
        "event": event, "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}", "event_time": 1_700_000_000,
        "authorizations": [{"team_id": None if workspace.org_install else team,
                            "enterprise_id": workspace.enterprise_id,
                            "user_id": workspace.bot_user_id, "is_bot": True,
                            "is_enterprise_install": workspace.org_install}],
        "is_ext_shared_channel": False,
    }
    if workspace.enterprise_id:
        envelope["enterprise_id"] = workspace.enterprise_id
    return envelope


def dm(harness: SlackHarness, workspace: FakeWorkspace, text: str, *, user: str,
       channel: str | None = None) -> dict[str, Any]:
    """A person of ``workspace`` writes to the bot in its Messages tab."""
    message = fixture_json("event_callback_message_im_docs.json")["event"]
    ts = f"1700000000.{uuid.uuid4().int % 10**6:06d}"
    message.update(text=text, user=user, channel=channel or f"D{user}", ts=ts, event_ts=ts,
                   team=workspace.team_id)
    return send_event(harness, event_from(workspace, message))


def send_event(harness: SlackHarness, envelope: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(envelope)
    return harness.call(apigw_event(body, signed_headers(body)))


def uninstalled(harness: SlackHarness, workspace: FakeWorkspace) -> dict[str, Any]:
    """Slack's ``app_uninstalled`` event (sent once the tokens are already revoked)."""
    harness.fake.installs.uninstall(workspace.key)
    return send_event(harness, event_from(workspace, {"type": "app_uninstalled"}))
