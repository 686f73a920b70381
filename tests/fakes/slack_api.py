"""A loopback fake of the Slack Web API and of response_url endpoints.

slack_sdk's ``WebClient`` talks to it through ``SLACK_API_BASE_URL`` (``<url>/api/``) and Bolt's
``respond()`` posts to ``<url>/hooks/...`` once a test has rewritten a payload's
``response_url`` (the fixtures point at hooks.slack.com, which tests must never contact). Every
call is recorded with its parsed parameters; methods can be scripted to fail.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from tests.fakes.http import FakeResponse, LoopbackServer, RecordedRequest

BOT_USER_ID = "UTODOBOT"
BOT_ID = "BTODOBOT"
TEAM_ID = "T111"


@dataclass(frozen=True)
class ApiCall:
    """One Web API call: method name (``chat.postMessage``), parameters, bearer token."""

    method: str
    params: dict[str, Any]
    token: str | None


@dataclass(frozen=True)
class HookPost:
    """One message posted to a response_url."""

    path: str
    message: dict[str, Any]


class FakeSlack:
    """Serves ``/api/<method>`` like Slack (``{"ok": true, ...}``) and ``/hooks/...`` like a
    response_url (``ok``)."""

    def __init__(self) -> None:
        self.server = LoopbackServer(self._route)
        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()
        self._ts = itertools.count(1)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        """What SLACK_API_BASE_URL is set to (slack_sdk wants the trailing slash)."""
        return self.server.url + "/api/"

    def hook_url(self, name: str = "commands/T111/111/xxxxx") -> str:
        """A response_url on this fake."""
        return f"{self.server.url}/hooks/{name}"

    def fail(self, method: str, error: str) -> None:
        """Make ``method`` answer ``{"ok": false, "error": error}`` from now on."""
        with self._lock:
            self._failures[method] = error

    def reset(self) -> None:
        """Forget recorded requests and scripted failures (one fake serves many tests)."""
        with self._lock:
            self._failures.clear()
        self.server.requests.clear()

    # -- what was received -----------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        return [call for r in list(self.server.requests) if (call := _api_call(r)) is not None]

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    @property
    def methods(self) -> list[str]:
        """Web API methods called, in order, without auth.test (Bolt's once-per-container)."""
        return [call.method for call in self.calls if call.method != "auth.test"]

    @property
    def hook_posts(self) -> list[HookPost]:
        return [
            HookPost(r.path, json.loads(r.body or b"{}"))
            for r in list(self.server.requests) if r.path.startswith("/hooks/")
        ]

    def summary(self) -> list[str]:
        """Everything Slack received, in order: Web API methods and ``response_url`` posts."""
        seen: list[str] = []
        for request in list(self.server.requests):
            if request.path.startswith("/hooks/"):
                seen.append("response_url")
            elif (call := _api_call(request)) is not None and call.method != "auth.test":
                seen.append(call.method)
        return seen

    # -- serving -----------------------------------------------------------------------------

    def _route(self, request: RecordedRequest) -> FakeResponse:
        if request.path.startswith("/hooks/"):
            return FakeResponse(body=b"ok")
        call = _api_call(request)
        if call is None:
            return FakeResponse(status=404, body={"ok": False, "error": "unknown_method"})
        with self._lock:
            error = self._failures.get(call.method)
        if error is not None:
            return FakeResponse(body={"ok": False, "error": error})
        return FakeResponse(body=self._answer(call))

    def _answer(self, call: ApiCall) -> dict[str, Any]:
        if call.method == "auth.test":
            return {"ok": True, "url": "https://example.slack.com/", "team": "Example",
                    "user": "todobot", "team_id": TEAM_ID, "user_id": BOT_USER_ID,
                    "bot_id": BOT_ID, "is_enterprise_install": False}
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            ts = f"1700000000.{next(self._ts):06d}"
            return {"ok": True, "channel": call.params.get("channel"), "ts": ts,
                    "message_ts": ts, "message": {"text": call.params.get("text"), "ts": ts}}
        if call.method == "chat.getPermalink":
            channel = call.params.get("channel")
            ts = str(call.params.get("message_ts", "")).replace(".", "")
            return {"ok": True, "channel": channel,
                    "permalink": f"https://example.slack.com/archives/{channel}/p{ts}"}
        if call.method == "views.publish":
            return {"ok": True, "view": {"id": "V1", **(call.params.get("view") or {})}}
        return {"ok": True}

    def __enter__(self) -> FakeSlack:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def _api_call(request: RecordedRequest) -> ApiCall | None:
    if not request.path.startswith("/api/"):
        return None
    method = request.path[len("/api/"):].split("?", 1)[0]
    content_type = request.headers.get("Content-Type", "")
    params: dict[str, Any]
    if "json" in content_type:
        params = json.loads(request.body or b"{}")
    else:
        params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
    for key in ("blocks", "view"):
        if isinstance(params.get(key), str):
            params[key] = json.loads(params[key])
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ") if auth else None
    return ApiCall(method, params, token)
