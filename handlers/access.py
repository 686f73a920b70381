"""Who may talk to the bot: ``TELEGRAM_ALLOWED_USERS`` and ``SLACK_ALLOWED_TEAMS``.

Each list is parsed once, when the webhook is built (commas and/or spaces between entries); an
unset or empty list lets everyone in. This is the webhook's decision, made on the payload alone
(webhooks read and write nothing in the database); the one part that needs the database — a
group chat an allowed user added the bot to (``allowed_chats``) — is the worker's, see
:mod:`bot_core.strangers`.

Telegram: a private chat is allowed when its user's id or @username (any case) is listed. A
group is allowed when its chat id is listed, when the sender is an allowed user (their own
messages work in any group), or when an allowed user added the bot to it (the worker checks
that). Slack: the team id (or the Enterprise Grid org id) is listed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot_core.settings import Settings

_SEPARATORS = re.compile(r"[\s,;]+")
GROUP_TYPES = frozenset({"group", "supergroup"})


@dataclass(frozen=True)
class AllowList:
    """One parsed list: ``None`` entries mean "unset: everyone"."""

    ids: frozenset[str] | None = None
    usernames: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str | None) -> AllowList:
        """``"714862471, @Alice -1001914618483"`` -> ids {714862471, -1001914618483},
        usernames {alice}; unset or blank -> everyone."""
        entries = [entry for entry in _SEPARATORS.split(text or "") if entry]
        if not entries:
            return cls()
        ids = frozenset(entry for entry in entries if not entry.startswith("@"))
        names = frozenset(entry[1:].lower() for entry in entries
                          if entry.startswith("@") and len(entry) > 1)
        return cls(ids=ids, usernames=names)

    @property
    def everyone(self) -> bool:
        return self.ids is None

    def has_id(self, value: str | int | None) -> bool:
        return self.ids is None or (value is not None and str(value) in self.ids)

    def has_username(self, username: str | None) -> bool:
        if self.ids is None:
            return True
        return bool(username) and username is not None and (
            username.lstrip("@").lower() in self.usernames)


class Access:
    """The allow-list decision, for both platforms."""

    def __init__(self, telegram: AllowList | None = None, slack: AllowList | None = None) -> None:
        self._telegram = telegram or AllowList()
        self._slack = slack or AllowList()

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        return cls(AllowList.parse(settings.telegram_allowed_users),
                   AllowList.parse(settings.slack_allowed_teams))

    # -- Telegram --------------------------------------------------------------------------

    @property
    def telegram_restricted(self) -> bool:
        """True when ``TELEGRAM_ALLOWED_USERS`` is set (a join is then worth recording)."""
        return not self._telegram.everyone

    def telegram_user(self, user_id: int | str, username: str | None) -> bool:
        """Is this Telegram account listed (by id or @username)?"""
        return self._telegram.has_id(user_id) or self._telegram.has_username(username)

    def telegram(self, user_id: int | str, username: str | None, chat_id: int | str,
                 chat_type: str | None, *, chat_added: bool = False) -> bool:
        """May this person talk to the bot in this chat? ``chat_added``: the group is one an
        allowed user added the bot to (known to the worker only)."""
        if self.telegram_user(user_id, username):
            return True
        if chat_type in GROUP_TYPES:
            return chat_added or (self._telegram.ids is not None
                                  and str(chat_id) in self._telegram.ids)
        return False

    # -- Slack -----------------------------------------------------------------------------

    def slack(self, team_id: str | None, enterprise_id: str | None = None) -> bool:
        """May this workspace (or Enterprise Grid org) talk to the bot?"""
        if self._slack.everyone:
            return True
        return any(value and self._slack.has_id(value) for value in (team_id, enterprise_id))
