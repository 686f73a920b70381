"""Each Slack user's timezone, from ``users.info`` (scope ``users:read``), so that "tomorrow at
5pm" means 17:00 where they are without asking them.

Asked in the worker, not the webhook (the ack must stay fast), at a user's first turn in a
container and again after :data:`KEEP_SECONDS`, so a user who travels is kept current. The
cache only saves calls: losing it (a new container) costs one ``users.info``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk.errors import SlackApiError

from bot_core.inbound import Inbound
from handlers.slack.workspaces import ClientFor, NotInstalled

log = logging.getLogger(__name__)

KEEP_SECONDS = 3600.0
MAX_REMEMBERED = 5000


class SlackPeople:
    """Adds the Slack user's IANA zone to an inbound value."""

    def __init__(self, client_for: ClientFor,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client_for = client_for
        self._monotonic = monotonic
        self._zones: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def with_timezone(self, inbound: Inbound, target: Mapping[str, Any]) -> Inbound:
        """``inbound`` with ``timezone`` set when Slack tells one (unchanged on any failure:
        the turn goes on in the zone already stored); ``target`` names the team in an org."""
        zone = self.timezone_of(inbound.workspace, inbound.external_user_id,
                                target.get("team"), bool(target.get("org")))
        return inbound.model_copy(update={"timezone": zone}) if zone else inbound

    def timezone_of(self, workspace: str, user: str, team: str | None = None,
                    org: bool = False) -> str | None:
        key = (workspace, user)
        now = self._monotonic()
        with self._lock:
            known = self._zones.get(key)
        if known is not None and now - known[0] < KEEP_SECONDS:
            return known[1]
        try:
            response = self._client_for(workspace, team, org).users_info(user=user)
        except SlackApiError as error:
            log.info("users.info failed (%s); the stored zone stays",
                     error.response.get("error"))
            return None
        except NotInstalled:
            return None
        except OSError as error:
            log.info("users.info unreachable (%s); the stored zone stays", type(error).__name__)
            return None
        profile = response.get("user") or {}
        zone = profile.get("tz") if isinstance(profile, dict) else None
        zone = zone if isinstance(zone, str) and 0 < len(zone) <= 64 else None
        with self._lock:
            if len(self._zones) >= MAX_REMEMBERED:
                self._zones.clear()
            self._zones[key] = (now, zone)
        return zone
