"""A loopback fake of the Slack Web API and of response_url endpoints, failing as Slack does.

slack_sdk's ``WebClient`` talks to it through ``SLACK_API_BASE_URL`` (``<url>/api/``) and the
response_url posts (slack_sdk's ``WebhookClient``, Bolt's ``respond()``) go to
``<url>/hooks/...`` once a test has pointed a payload's ``response_url`` at :meth:`hook_url`
(the fixtures point at hooks.slack.com, which tests must never contact). Every request is
recorded with its parsed parameters, the time it arrived and the status it was answered with.

How it fails, as Slack does:

- :meth:`FakeSlack.fail`: a Web API method answers ``{"ok": false, "error": ...}`` (HTTP 200)
  from now on — ``channel_not_found``, ``is_archived``, ``account_inactive``...
- :meth:`FakeSlack.script`: the next N requests to a method (or to any response_url, target
  :data:`RESPONSE_URL`) get the scripted answers, then normal service resumes:
  :func:`ratelimited` (HTTP 429, ``Retry-After``, ``{"ok": false, "error": "ratelimited"}``),
  :func:`server_error` (500/502/503 with a non-JSON body, as Slack's edge sends them),
  :func:`slow` (the answer after a delay: a client timeout), :data:`PASS` (the normal answer:
  lets a script skip a request), and for response_urls :func:`hook_expired`,
  :func:`hook_ratelimited`, :func:`hook_server_error`.
- A response_url takes at most :data:`RESPONSE_URL_MAX_POSTS` messages (Slack: "up to 5
  times within 30 minutes"); after that, or once :meth:`FakeSlack.expire` expired it, it
  answers HTTP 404 with a short error string in the body — the way Slack answers an expired or
  used-up response_url (its hooks answer errors as plain strings with a 4xx status, like
  incoming webhooks: https://api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-
  webhooks; a 404 from ``respond()`` on a response_url: slackapi/bolt-js#1261).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.http import FakeResponse, LoopbackServer, RecordedRequest
from tests.fakes.slack_oauth import SlackInstalls

BOT_USER_ID = "UTODOBOT"
BOT_ID = "BTODOBOT"
TEAM_ID = "T111"
RESPONSE_URL = "response_url"
"""The target name of response_url posts (in scripts, exchanges and :meth:`summary`)."""
RESPONSE_URL_MAX_POSTS = 5
CONSENT = "oauth.authorize"
"""The target name of visits to the consent page (``GET /oauth/v2/authorize``)."""


@dataclass(frozen=True)
class ApiCall:
    """One Web API call: method name (``chat.postMessage``), parameters, bearer token."""

    method: str
    params: dict[str, Any]
    token: str | None


@dataclass(frozen=True)
class Upload:
    """A file shared in a channel through files_upload_v2's three steps."""

    channel: str
    thread_ts: str | None
    filename: str
    content: bytes


@dataclass(frozen=True)
class HookPost:
    """One message posted to a response_url."""

    path: str
    message: dict[str, Any]


@dataclass(frozen=True)
class Answer:
    """A scripted answer. ``body`` None: the normal answer, with ``status`` and ``headers``
    (so :data:`PASS` and :func:`slow` answer as Slack normally would)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


PASS = Answer()
"""The normal answer (a script entry that lets one request through)."""


def ratelimited(retry_after: int = 1) -> Answer:
    """Web API rate limiting: HTTP 429, ``Retry-After`` in seconds, ``error: ratelimited``."""
    return Answer(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})


def server_error(status: int = 500) -> Answer:
    """An HTTP 5xx from Slack's edge, with a body that is not the API's JSON."""
    return Answer(status, f"<html><body><h1>{status}</h1></body></html>".encode())


def slow(seconds: float, then: Answer = PASS) -> Answer:
    """``then`` (the normal answer by default), after ``seconds``."""
    return Answer(then.status, then.body, dict(then.headers), seconds)


def hook_expired(error: str = "expired_url") -> Answer:
    """A response_url that no longer takes messages: HTTP 404 and a short error string."""
    return Answer(404, error.encode())


def hook_ratelimited(retry_after: int = 1) -> Answer:
    return Answer(429, b"rate_limited", {"Retry-After": str(retry_after)})


def hook_server_error(status: int = 500) -> Answer:
    return Answer(status, b"rollup_error")


@dataclass(frozen=True)
class Exchange:
    """One request and how the fake answered it."""

    at: float
    """``time.monotonic()`` when the request arrived."""
    target: str
    """The Web API method, or :data:`RESPONSE_URL`."""
    request: RecordedRequest
    status: int
    ok: bool
    """Slack accepted it (HTTP 200, and ``ok: true`` for the Web API)."""

    @property
    def call(self) -> ApiCall | None:
        return _api_call(self.request)

    @property
    def hook_post(self) -> HookPost | None:
        return _hook_post(self.request)


SLACK_EXAMPLE_ZONE = "America/Los_Angeles"
UNCOUNTED = frozenset({"auth.test", "users.info"})
"""Calls a container makes once (Bolt's auth.test) or once per person (users.info for their
timezone): left out of :meth:`FakeSlack.methods` and :meth:`FakeSlack.summary`."""


class FakeSlack:
    """Serves ``/api/<method>`` like Slack (``{"ok": true, ...}``) and ``/hooks/...`` like a
    response_url (``ok``), failing as scripted (see the module docstring)."""

    def __init__(self) -> None:
        self.server = LoopbackServer(self._route)
        self._failures: dict[str, str] = {}
        self._scripts: dict[str, deque[Answer]] = {}
        self._hook_uses: Counter[str] = Counter()
        self._expired: set[str] = set()
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        self._ts = itertools.count(1)
        self._hook_ids = itertools.count(100_000_001)
        self.zones: dict[str, str] = {}
        """users.info's ``tz`` per user id (Slack's own example zone for anyone else)."""
        self.uploads: list[Upload] = []
        """Files shared by ``files.completeUploadExternal``, with what was uploaded."""
        self._pending: dict[str, tuple[str, int, bytes | None]] = {}
        self._file_ids = itertools.count(1)
        self.installs = SlackInstalls()
        """Workspaces, the consent page and tokens (tests/fakes/slack_oauth.py); once one is
        added, every call's token is checked."""

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def base_url(self) -> str:
        """What SLACK_API_BASE_URL is set to (slack_sdk wants the trailing slash)."""
        return self.server.url + "/api/"

    def hook_url(self, name: str | None = None, *, kind: str = "commands") -> str:
        """A response_url on this fake: ``<kind>/T111/<n>/<secret>``, a new one each call (Slack
        gives every request its own), or the one ``name`` names."""
        if name is None:
            name = f"{kind}/{TEAM_ID}/{next(self._hook_ids)}/{uuid.uuid4().hex[:24]}"
        return f"{self.server.url}/hooks/{name}"

    # -- scripting failures ------------------------------------------------------------------

    def fail(self, method: str, error: str) -> None:
        """Make ``method`` answer ``{"ok": false, "error": error}`` from now on."""
        with self._lock:
            self._failures[method] = error

    def script(self, target: str, *answers: Answer) -> None:
        """The next requests to ``target`` (a Web API method, or :data:`RESPONSE_URL` for any
        response_url) get ``answers`` in order; later ones are served normally."""
        with self._lock:
            self._scripts.setdefault(target, deque()).extend(answers)

    def expire(self, url: str) -> None:
        """The response_url ``url`` has expired: it answers 404 ``expired_url`` from now on."""
        with self._lock:
            self._expired.add(_path(url))

    def reset(self) -> None:
        """Forget recorded requests and scripted failures (one fake serves many tests)."""
        with self._lock:
            self._failures.clear()
            self._scripts.clear()
            self._hook_uses.clear()
            self._expired.clear()
            self._exchanges.clear()
            self.zones.clear()
            self.uploads.clear()
            self._pending.clear()
        self.installs.reset()
        self.server.requests.clear()

    # -- what was received -----------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        """Every Web API request received (answered or failed), in order."""
        return [call for r in list(self.server.requests) if (call := _api_call(r)) is not None]

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    @property
    def methods(self) -> list[str]:
        """Web API methods called, in order, without :data:`UNCOUNTED` ones."""
        return [call.method for call in self.calls if call.method not in UNCOUNTED]

    @property
    def hook_posts(self) -> list[HookPost]:
        """Every response_url post received (answered or failed), in order."""
        return [post for r in list(self.server.requests) if (post := _hook_post(r)) is not None]

    def hook_posts_to(self, url: str) -> list[HookPost]:
        """The posts received by one response_url."""
        path = _path(url)
        return [post for post in self.hook_posts if post.path == path]

    @property
    def exchanges(self) -> list[Exchange]:
        """Every request with the time it arrived and the status it got, in arrival order."""
        with self._lock:
            return list(self._exchanges)

    def exchanges_with(self, target: str) -> list[Exchange]:
        return [e for e in self.exchanges if e.target == target]

    def statuses(self, target: str) -> list[int]:
        """The HTTP statuses ``target``'s requests were answered with, in order."""
        return [e.status for e in self.exchanges_with(target)]

    def accepted(self, method: str) -> list[ApiCall]:
        """The calls of ``method`` Slack accepted: what users actually saw."""
        return [call for e in self.exchanges_with(method)
                if e.ok and (call := e.call) is not None]

    def accepted_hook_posts(self, url: str | None = None) -> list[HookPost]:
        """The response_url messages Slack accepted (of one response_url, if given)."""
        path = _path(url) if url is not None else None
        return [post for e in self.exchanges_with(RESPONSE_URL)
                if e.ok and (post := e.hook_post) is not None
                and (path is None or post.path == path)]

    def summary(self) -> list[str]:
        """Everything Slack received, in order: Web API methods and ``response_url`` posts."""
        seen: list[str] = []
        for request in list(self.server.requests):
            if request.path.startswith("/hooks/"):
                seen.append(RESPONSE_URL)
            elif (call := _api_call(request)) is not None and call.method not in UNCOUNTED:
                seen.append(call.method)
        return seen

    # -- serving -----------------------------------------------------------------------------

    def _route(self, request: RecordedRequest) -> FakeResponse:
        at = time.monotonic()
        call = None
        if request.path.startswith("/oauth/v2/authorize"):
            response = self.installs.consent(urlsplit(request.path).query)
            with self._lock:
                self._exchanges.append(Exchange(at, CONSENT, request, response.status,
                                                response.status == 302))
            return response
        if request.path.startswith("/upload/v1/"):
            return self._upload(request)
        if request.path.startswith("/hooks/"):
            target = RESPONSE_URL
        else:
            call = _api_call(request)
            target = call.method if call is not None else request.path
        with self._lock:
            queued = self._scripts.get(target)
            scripted = queued.popleft() if queued else None
            if target == RESPONSE_URL:
                response, ok = self._hook(_path(request.path), scripted)
            elif call is None:
                response, ok = FakeResponse(status=404, body={"ok": False,
                                                              "error": "unknown_method"}), False
            else:
                response, ok = self._api(call, scripted)
            self._exchanges.append(Exchange(at, target, request, response.status, ok))
        return response

    def _hook(self, path: str, scripted: Answer | None) -> tuple[FakeResponse, bool]:
        delay = scripted.delay if scripted is not None else 0.0
        if scripted is not None and scripted.body is not None:
            return _response(scripted), False
        if path in self._expired:
            return FakeResponse(status=404, body=b"expired_url", delay=delay), False
        if self._hook_uses[path] >= RESPONSE_URL_MAX_POSTS:
            return FakeResponse(status=404, body=b"used_url", delay=delay), False
        self._hook_uses[path] += 1
        return FakeResponse(body=b"ok", delay=delay), True

    def _api(self, call: ApiCall, scripted: Answer | None) -> tuple[FakeResponse, bool]:
        delay = scripted.delay if scripted is not None else 0.0
        if scripted is not None and scripted.body is not None:
            return _response(scripted), False
        error = self._failures.get(call.method)
        if error is None and call.method == "oauth.v2.access":
            body = self.installs.access(call.params, call.token or "")
            return FakeResponse(body=body, delay=delay), bool(body.get("ok"))
        if error is None and self.installs.checking:
            error = self.installs.token_error(call.token)
        if error is not None:
            return FakeResponse(body={"ok": False, "error": error}, delay=delay), False
        return FakeResponse(body=self._answer(call), delay=delay), True

    def _answer(self, call: ApiCall) -> dict[str, Any]:
        if call.method == "auth.test" and self.installs.checking:
            return self.installs.auth_test(call.token)
        if call.method == "auth.revoke" and self.installs.checking:
            return self.installs.revoke(call.token)
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
        if call.method == "users.info":
            user = str(call.params.get("user") or "")
            return {"ok": True, "user": {"id": user, "name": user.lower(), "is_bot": False,
                                         "tz": self.zones.get(user, SLACK_EXAMPLE_ZONE),
                                         "tz_label": "Pacific Standard Time"}}
        if call.method == "conversations.open":
            return {"ok": True, "channel": {"id": f"D{call.params.get('users', '')}"}}
        if call.method == "files.getUploadURLExternal":
            file_id = f"F{next(self._file_ids):08d}"
            self._pending[file_id] = (str(call.params.get("filename")),
                                      int(call.params.get("length") or 0), None)
            return {"ok": True, "file_id": file_id,
                    "upload_url": f"{self.server.url}/upload/v1/{file_id}"}
        if call.method == "files.completeUploadExternal":
            return self._complete(call)
        if call.method == "views.publish":
            return {"ok": True, "view": {"id": "V1", **(call.params.get("view") or {})}}
        return {"ok": True}

    def _upload(self, request: RecordedRequest) -> FakeResponse:
        """The upload URL files.getUploadURLExternal gave: ``OK - <bytes>``, as Slack answers."""
        file_id = request.path.rsplit("/", 1)[-1]
        with self._lock:
            pending = self._pending.get(file_id)
            if pending is None or request.method != "POST":
                return FakeResponse(404, b"not found", {"Content-Type": "text/plain"})
            name, length, _ = pending
            if len(request.body) != length:
                return FakeResponse(400, b"length mismatch", {"Content-Type": "text/plain"})
            self._pending[file_id] = (name, length, request.body)
        return FakeResponse(200, f"OK - {length}".encode(), {"Content-Type": "text/plain"})

    def _complete(self, call: ApiCall) -> dict[str, Any]:
        raw = call.params.get("files")
        files = json.loads(raw) if isinstance(raw, str) else (raw or [])
        shared = []  # (called with the lock held, as every Web API answer is)
        for entry in files:
            name, _, content = self._pending.pop(str(entry.get("id")), ("", 0, None))
            if content is None:
                return {"ok": False, "error": "file_not_found"}
            self.uploads.append(Upload(str(call.params.get("channel_id") or ""),
                                       call.params.get("thread_ts"), name, content))
            shared.append({"id": entry.get("id"), "title": entry.get("title") or name})
        return {"ok": True, "files": shared}

    def __enter__(self) -> FakeSlack:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)


def _response(answer: Answer) -> FakeResponse:
    return FakeResponse(status=answer.status, body=answer.body, headers=dict(answer.headers),
                        delay=answer.delay)


def _path(url: str) -> str:
    return urlsplit(url).path


def _hook_post(request: RecordedRequest) -> HookPost | None:
    if not request.path.startswith("/hooks/"):
        return None
    return HookPost(_path(request.path), json.loads(request.body or b"{}"))


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
