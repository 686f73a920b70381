"""Installing the app in any workspace: Bolt's OAuth flow (``GET /slack/install`` issues a state
and shows the "Add to Slack" page; ``GET /slack/oauth_redirect`` checks the state against its
cookie and the store, exchanges the code through ``oauth.v2.access``, stores the installation)
with Todobot's pages, and the listeners that drop a workspace's tokens when it removes the app.

Bolt's flow does the security work: the state is random, single use (consumed from the store),
bound to the browser that started (an HttpOnly cookie), and expires; a failed check stores
nothing and answers a failure page with Bolt's suggested status (400 or 401).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.error import BoltError
from slack_bolt.listener.builtins import TokenRevocationListeners
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store import Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from bot_core.settings import Settings
from handlers.access import Access
from handlers.slack.pages import (
    HEADERS,
    INSTALL_PATH,
    REDIRECT_PATH,
    failure_page,
    install_page,
    success_page,
)

log = logging.getLogger(__name__)

TOKEN_ROTATION_MINUTES = 120
"""Refresh a rotating token that expires within this (Bolt's default)."""


class TeamNotAllowed(BoltError):
    """``SLACK_ALLOWED_TEAMS`` does not list the workspace (nor its org) that is installing."""


class TodobotOAuthFlow(OAuthFlow):
    """Bolt's flow with Todobot's install page; an install by a workspace the allow-list
    (``SLACK_ALLOWED_TEAMS``) does not admit is refused before anything is stored."""

    access: Access = Access()

    def store_installation(self, request: BoltRequest, installation: Installation) -> None:
        if not self.access.slack(installation.team_id, installation.enterprise_id):
            self._revoke(installation)
            raise TeamNotAllowed("this workspace is not on SLACK_ALLOWED_TEAMS")
        super().store_installation(request, installation)

    def _revoke(self, installation: Installation) -> None:
        """Slack issued tokens before the allow-list could say no: give them back, so the app
        is not left installed there with a live token nobody keeps."""
        for token in (installation.bot_token, installation.user_token):
            if not token:
                continue
            try:
                self.client.auth_revoke(token=token)
            except SlackApiError as error:
                log.warning("auth.revoke of a refused install failed (%s)",
                            error.response.get("error"))

    def build_install_page_html(self, url: str, request: BoltRequest) -> str:
        minutes = max(1, self.settings.state_expiration_seconds // 60)
        return install_page(url, list(self.settings.scopes or []), minutes)

    def handle_installation(self, request: BoltRequest) -> BoltResponse:
        response = super().handle_installation(request)
        response.headers.update({k.lower(): [v] for k, v in HEADERS.items()})
        return response


class _NoCodes(logging.Filter):
    """Bolt's flow logs a failed exchange with its one-time code; the code goes, the rest of
    the line stays."""

    _CODE = re.compile(r"code: \S+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "code:" in message:
            record.msg, record.args = self._CODE.sub("code: [redacted]", message), None
        return True


def _flow_logger() -> logging.Logger:
    logger = logging.getLogger("todobot.slack.oauth")
    if not any(isinstance(f, _NoCodes) for f in logger.filters):
        logger.addFilter(_NoCodes())
    return logger


def scopes_of(settings: Settings) -> list[str]:
    return [scope.strip() for scope in settings.slack_scopes.split(",") if scope.strip()]


def build_oauth_flow(settings: Settings, installation_store: InstallationStore,
                     state_store: OAuthStateStore, client: WebClient) -> TodobotOAuthFlow:
    """The flow on the project's stores; ``client`` carries ``SLACK_API_BASE_URL``."""
    secret = settings.slack_client_secret.get_secret_value() if settings.slack_client_secret \
        else ""
    oauth_settings = OAuthSettings(
        client_id=settings.slack_client_id, client_secret=secret,
        scopes=scopes_of(settings), user_scopes=[],
        redirect_uri=settings.slack_redirect_uri,
        install_path=INSTALL_PATH, redirect_uri_path=REDIRECT_PATH,
        authorization_url=settings.slack_authorize_url,
        callback_options=CallbackOptions(success=_succeeded, failure=_failed),
        installation_store=installation_store, state_store=state_store,
        state_expiration_seconds=settings.slack_state_seconds,
        token_rotation_expiration_minutes=TOKEN_ROTATION_MINUTES,
        logger=_flow_logger(),
    )
    flow = TodobotOAuthFlow(client=client, settings=oauth_settings, logger=_flow_logger())
    flow.access = Access.from_settings(settings)
    return flow


def _succeeded(args: SuccessArgs) -> BoltResponse:
    installation = args.installation
    log.info("installed in enterprise %s team %s (org-wide: %s)", installation.enterprise_id,
             installation.team_id, installation.is_enterprise_install)
    team_name = (installation.enterprise_name if installation.is_enterprise_install
                 else installation.team_name)
    html = success_page(team_name, installation.team_id or installation.enterprise_id,
                        installation.app_id, bool(installation.is_enterprise_install))
    return BoltResponse(status=200, body=html, headers=_headers_clearing_state(args))


def _failed(args: FailureArgs) -> BoltResponse:
    reason, status = args.reason, args.suggested_status_code
    if isinstance(args.error, TeamNotAllowed):
        reason, status = "team_not_allowed", 403
    log.info("an installation failed: %s", reason)
    return BoltResponse(status=status, body=failure_page(reason),
                        headers=_headers_clearing_state(args))


def _headers_clearing_state(args: SuccessArgs | FailureArgs) -> dict[str, Any]:
    headers: dict[str, Any] = dict(HEADERS)
    utils = args.settings.state_utils
    headers["Set-Cookie"] = [utils.build_set_cookie_for_deletion()]
    return headers


def register_uninstall_listeners(app: App, store: InstallationStore) -> None:
    """``app_uninstalled`` drops every token of the workspace (or org), ``tokens_revoked`` the
    revoked ones, through Bolt's own listeners. Bolt passes the event's team even for an org-wide
    install, whose rows have none; the org's own rows are meant then."""
    builtins = TokenRevocationListeners(store)

    def uninstalled(context: BoltContext) -> None:
        scoped = _install_scope(context)
        builtins.handle_app_uninstalled_events(scoped)
        log.info("app_uninstalled: removed the tokens of enterprise %s team %s",
                 scoped.enterprise_id, scoped.team_id)

    def revoked(event: dict[str, Any], context: BoltContext) -> None:
        scoped = _install_scope(context)
        builtins.handle_tokens_revoked_events(event, scoped)
        if (event.get("tokens") or {}).get("bot"):  # the installation rows hold a copy
            store.delete_installation(enterprise_id=scoped.enterprise_id,
                                      team_id=scoped.team_id)
        log.info("tokens_revoked: removed revoked tokens of enterprise %s team %s",
                 scoped.enterprise_id, scoped.team_id)

    app.event("app_uninstalled")(uninstalled)
    app.event("tokens_revoked")(revoked)


def _install_scope(context: BoltContext) -> BoltContext:
    if not context.is_enterprise_install:
        return context
    scoped = BoltContext(dict(context))
    scoped.pop("team_id", None)
    return scoped
