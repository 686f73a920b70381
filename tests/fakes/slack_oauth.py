"""The installing half of the fake Slack: workspaces, the consent page, ``oauth.v2.access``
(code exchange and token rotation's ``grant_type=refresh_token``), tokens per workspace.

Once a test adds a workspace, every Web API call must carry a token the fake issued, as Slack
checks them: an unknown token answers ``invalid_auth``, one revoked by an uninstall
``token_revoked``, one past its expiry (:meth:`SlackInstalls.expire_tokens`) ``token_expired``
— all ``{"ok": false}`` with HTTP 200, as Slack answers. ``auth.test`` tells the token's own
team and bot. Codes are single use (``invalid_code`` the second time, Slack's
``code_already_used`` is older); a wrong client secret is ``bad_client_secret``.

The consent page, ``GET /oauth/v2/authorize``, stands for the person approving on slack.com:
it redirects at once to the app's redirect URL with ``code`` and ``state`` (or ``error=
access_denied`` when :attr:`SlackInstalls.deny` is set), for the workspace the person is
signed in to (:attr:`SlackInstalls.consenting`).
"""

from __future__ import annotations

import base64
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.fakes.http import FakeResponse

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "fake-client-secret-0123456789"
APP_ID = "ATODOBOT1"
BOT_SCOPES = "app_mentions:read,chat:write,commands,files:write,im:history,im:write,users:read"
"""What the manifest asks for (tests/slack/test_manifest.py checks the settings against it)."""
FAR_FUTURE_SECONDS = 43_200
"""What Slack gives a rotating token: 12 hours."""


@dataclass(frozen=True)
class FakeWorkspace:
    team_id: str
    name: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    org_install: bool = False
    bot_user_id: str = "UTODOBOT"
    bot_id: str = "BTODOBOT"
    installer: str = "UINSTALLER"

    @property
    def key(self) -> str:
        """The installation's key in the fake: the org for an org-wide install."""
        return self.enterprise_id if self.org_install and self.enterprise_id else self.team_id


@dataclass
class IssuedToken:
    value: str
    workspace: FakeWorkspace
    refresh: str | None = None
    expired: bool = False
    revoked: bool = False


@dataclass
class SlackInstalls:
    """Workspaces that may install the app, and what they were given."""

    redirect_url: str = ""
    """The redirect URL registered in the app's settings (the consent page sends people
    there)."""
    rotation: bool = False
    """Token rotation on: tokens come with a refresh token and an expiry."""
    first_expires_in: int = FAR_FUTURE_SECONDS
    """``expires_in`` of the token an install gives."""
    refresh_expires_in: int = FAR_FUTURE_SECONDS
    """``expires_in`` of a refreshed token (Slack's: 12 hours)."""
    deny: bool = False
    consenting: str | None = None
    """The workspace (team id, or org id for an org-wide install) the person approves for;
    the first one added when None."""
    workspaces: dict[str, FakeWorkspace] = field(default_factory=dict)
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    codes: dict[str, str] = field(default_factory=dict)
    used_codes: set[str] = field(default_factory=set)
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def checking(self) -> bool:
        return bool(self.workspaces)

    def add(self, workspace: FakeWorkspace) -> FakeWorkspace:
        with self._lock:
            self.workspaces[workspace.key] = workspace
        return workspace

    def reset(self) -> None:
        with self._lock:
            self.workspaces.clear()
            self.tokens.clear()
            self.codes.clear()
            self.used_codes.clear()
            self.redirect_url = ""
            self.rotation = False
            self.first_expires_in = FAR_FUTURE_SECONDS
            self.refresh_expires_in = FAR_FUTURE_SECONDS
            self.deny = False
            self.consenting = None

    # -- what tests ask --------------------------------------------------------------------

    def team_of(self, token: str | None) -> str | None:
        issued = self.tokens.get(token or "")
        return issued.workspace.key if issued is not None else None

    def live_tokens(self, key: str) -> list[str]:
        return [t.value for t in self.tokens.values()
                if t.workspace.key == key and not t.revoked and not t.expired]

    def newest_token(self, key: str) -> str:
        """The access token last issued to the workspace (by its install or a refresh)."""
        return [t.value for t in self.tokens.values() if t.workspace.key == key][-1]

    def uninstall(self, key: str) -> None:
        """The workspace removed the app: its tokens stop working at once."""
        with self._lock:
            for issued in self.tokens.values():
                if issued.workspace.key == key:
                    issued.revoked = True

    def expire_tokens(self, key: str) -> None:
        """Time passed: the workspace's access tokens are past their expiry."""
        with self._lock:
            for issued in self.tokens.values():
                if issued.workspace.key == key:
                    issued.expired = True

    # -- serving ---------------------------------------------------------------------------

    def consent(self, query: str) -> FakeResponse:
        """``GET /oauth/v2/authorize?client_id=...&scope=...&state=...``."""
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if params.get("client_id") != CLIENT_ID:
            return FakeResponse(400, b"<h1>Invalid client_id parameter</h1>",
                                {"Content-Type": "text/html"})
        redirect = params.get("redirect_uri") or self.redirect_url
        if not redirect or (self.redirect_url and redirect != self.redirect_url):
            return FakeResponse(400, b"<h1>bad_redirect_uri</h1>", {"Content-Type": "text/html"})
        state = params.get("state", "")
        if self.deny:
            answer = {"error": "access_denied", "state": state}
        else:
            key = self.consenting or next(iter(self.workspaces), None)
            if key is None:
                return FakeResponse(400, b"<h1>no workspace</h1>", {"Content-Type": "text/html"})
            code = f"code-{next(self._counter)}-{key}"
            with self._lock:
                self.codes[code] = key
            answer = {"code": code, "state": state}
        return FakeResponse(302, b"", {"Location": f"{redirect}?{urlencode(answer)}",
                                       "Content-Type": "text/html"})

    def access(self, params: dict[str, Any], authorization: str) -> dict[str, Any]:
        """``oauth.v2.access``: a code for the first tokens, or a refresh token for new ones."""
        client_id, secret = _basic(authorization)
        client_id = client_id or str(params.get("client_id") or "")
        secret = secret or str(params.get("client_secret") or "")
        if client_id != CLIENT_ID:
            return {"ok": False, "error": "invalid_client_id"}
        if secret != CLIENT_SECRET:
            return {"ok": False, "error": "bad_client_secret"}
        if params.get("grant_type") == "refresh_token":
            return self._refresh(str(params.get("refresh_token") or ""))
        code = str(params.get("code") or "")
        with self._lock:
            if code in self.used_codes:
                return {"ok": False, "error": "invalid_code"}
            key = self.codes.pop(code, None)
            if key is None:
                return {"ok": False, "error": "invalid_code"}
            self.used_codes.add(code)
            workspace = self.workspaces[key]
            issued = self._issue(workspace, self.first_expires_in)
        answer: dict[str, Any] = {
            "ok": True, "app_id": APP_ID, "access_token": issued.value, "token_type": "bot",
            "scope": BOT_SCOPES,
            "bot_user_id": workspace.bot_user_id,
            "team": None if workspace.org_install else {"id": workspace.team_id,
                                                        "name": workspace.name},
            "enterprise": ({"id": workspace.enterprise_id, "name": workspace.enterprise_name}
                           if workspace.enterprise_id else None),
            "authed_user": {"id": workspace.installer},
            "is_enterprise_install": workspace.org_install,
        }
        if issued.refresh is not None:
            answer.update(refresh_token=issued.refresh, expires_in=self.first_expires_in)
        return answer

    def _refresh(self, refresh: str) -> dict[str, Any]:
        with self._lock:
            old = next((t for t in self.tokens.values() if t.refresh == refresh), None)
            if old is None or old.revoked:
                return {"ok": False, "error": "invalid_refresh_token"}
            issued = self._issue(old.workspace, self.refresh_expires_in)
            old.refresh = None  # a refresh token is used once
        workspace = issued.workspace
        return {"ok": True, "app_id": APP_ID, "access_token": issued.value, "token_type": "bot",
                "refresh_token": issued.refresh, "expires_in": self.refresh_expires_in,
                "team": {"id": workspace.team_id, "name": workspace.name},
                "enterprise": ({"id": workspace.enterprise_id} if workspace.enterprise_id
                               else None)}

    def _issue(self, workspace: FakeWorkspace, expires_in: int) -> IssuedToken:
        n = next(self._counter)
        prefix = "xoxe.xoxb-1" if self.rotation else "xoxb"
        value = f"{prefix}-{workspace.key}-{n}-{'x' * 24}"
        refresh = f"xoxe-1-{workspace.key}-{n}-{'r' * 40}" if self.rotation else None
        issued = IssuedToken(value, workspace, refresh)
        self.tokens[value] = issued
        return issued

    def revoke(self, token: str | None) -> dict[str, Any]:
        """``auth.revoke``: the calling token stops working."""
        with self._lock:
            issued = self.tokens.get(token or "")
            if issued is not None:
                issued.revoked = True
        return {"ok": True, "revoked": True}

    def token_error(self, token: str | None) -> str | None:
        """Slack's answer to a call with ``token`` (None: accepted)."""
        issued = self.tokens.get(token or "")
        if issued is None:
            return "invalid_auth" if token else "not_authed"
        if issued.revoked:
            return "token_revoked"
        if issued.expired:
            return "token_expired"
        return None

    def auth_test(self, token: str | None) -> dict[str, Any]:
        issued = self.tokens[token or ""]
        workspace = issued.workspace
        return {"ok": True, "url": f"https://{workspace.name.lower()}.slack.com/",
                "team": workspace.name, "user": "todobot", "team_id": workspace.team_id,
                "user_id": workspace.bot_user_id, "bot_id": workspace.bot_id,
                "enterprise_id": workspace.enterprise_id,
                "is_enterprise_install": workspace.org_install}


def _basic(authorization: str) -> tuple[str, str]:
    if not authorization.startswith("Basic "):
        return "", ""
    decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
    client_id, _, secret = decoded.partition(":")
    return client_id, secret

