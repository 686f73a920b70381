"""The Web API client of one workspace, outside a Slack request: the worker's sends and
``users.info``, and the scheduler's reminders and digests.

Each call finds the workspace's newest bot in the installation store (one indexed SELECT, no
cache: an uninstall in another container takes effect at the next call), refreshes its token
first when token rotation is on and the token expires within
:data:`ROTATE_MINUTES_BEFORE_EXPIRY` (slack_sdk's ``TokenRotator``, the same as Bolt's authorize
uses on the request path), and gives a client with that token. A workspace with no bot (never
installed, or uninstalled) raises :class:`NotInstalled`: nothing is sent there.

Which bot: identities are scoped by the Enterprise Grid org when there is one (``workspace``),
so deliveries also carry the team (``team``) and whether the app was installed org-wide
(``org``). An org-wide install's bot has no team; a workspace install's has one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackTokenRotationError
from slack_sdk.oauth.installation_store import Bot
from slack_sdk.oauth.token_rotation import TokenRotator

from handlers.slack.installations import SealedInstallationStore

log = logging.getLogger(__name__)

ROTATE_MINUTES_BEFORE_EXPIRY = 120
"""Bolt's default: a token with less than this left is refreshed before it is used."""


class NotInstalled(LookupError):
    """The app is not installed in this workspace (or was uninstalled)."""


ClientFor = Callable[[str, "str | None", bool], WebClient]
"""``(workspace, team, org) -> client``: the Root's ``slack_client_for``."""


@dataclass(frozen=True)
class Tenant:
    """Which installation speaks for a delivery."""

    enterprise_id: str | None
    team_id: str | None
    org_install: bool = False

    @classmethod
    def of(cls, workspace: str, team: str | None = None, org: bool = False) -> Tenant:
        """From a delivery's identity scope (``workspace``: org or team id) and its team."""
        if team and team != workspace:
            return cls(workspace or None, team, org)
        if workspace.startswith("E"):  # an org id with no team known: the org-wide install
            return cls(workspace, None, True)
        return cls(None, workspace or team or None, org)


class WorkspaceClients:
    """Clients per workspace from the installation store, tokens refreshed before expiry."""

    def __init__(self, store: SealedInstallationStore, rotator: TokenRotator,
                 client: WebClient) -> None:
        self._store = store
        self._rotator = rotator
        self._client = client

    def client_for(self, workspace: str, team: str | None = None, org: bool = False
                   ) -> WebClient:
        bot = self.bot_for(Tenant.of(workspace, team, org))
        return WebClient(token=bot.bot_token, base_url=self._client.base_url,
                         timeout=self._client.timeout,
                         retry_handlers=list(self._client.retry_handlers))

    def bot_for(self, tenant: Tenant) -> Bot:
        bot = self._find(tenant)
        if bot is None or not bot.bot_token:
            raise NotInstalled(f"no installation for enterprise {tenant.enterprise_id} "
                               f"team {tenant.team_id}")
        try:
            refreshed = self._rotator.perform_bot_token_rotation(
                bot=bot, minutes_before_expiration=ROTATE_MINUTES_BEFORE_EXPIRY)
        except SlackTokenRotationError as error:
            # The refresh token was revoked (an uninstall whose event is still on its way) or
            # Slack is down: the old token may still work until it expires.
            log.warning("refreshing the bot token of team %s failed (%s)", tenant.team_id,
                        error.api_error.response.get("error"))
            return bot
        if refreshed is None:
            return bot
        self._store.save_bot(refreshed)
        log.info("refreshed the bot token of enterprise %s team %s", tenant.enterprise_id,
                 tenant.team_id)
        return refreshed

    def _find(self, tenant: Tenant) -> Bot | None:
        first = self._store.find_bot(enterprise_id=tenant.enterprise_id,
                                     team_id=tenant.team_id,
                                     is_enterprise_install=tenant.org_install)
        if first is not None or tenant.enterprise_id is None:
            return first
        # In an org the other kind of install may be the one that is there.
        return self._store.find_bot(enterprise_id=tenant.enterprise_id,
                                    team_id=tenant.team_id,
                                    is_enterprise_install=not tenant.org_install)
