"""Slack payloads -> the core's :class:`Inbound` value.

Pure functions over the parsed request body (dicts, as Bolt hands them over), so every rule of
"who is this, which conversation, what did they say, is it for us at all" is testable without
HTTP. ``None`` means "not a turn for the bot": the request is acknowledged and ignored.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import ValidationError

from bot_core.inbound import ButtonAction, Inbound
from handlers.slack.render import ACTION_PREFIX

log = logging.getLogger(__name__)

PLATFORM = "slack"
HOME_CHAT = "app_home"
SUBCOMMANDS = frozenset({"add", "list", "done", "undo", "delete", "edit", "new", "help",
                         "today", "upcoming", "timezone", "digest", "usage", "link", "unlink",
                         "forget", "export"})
_ALIASES = {"reopen": "undo", "remove": "delete", "rm": "delete", "ls": "list"}

_KINDS = "done|undo|delete|snooze|purge|link|forget|cancel"
_VIEWS = "open|done|all|today|upcoming|reminder"
_SNOOZES = "20m|1h|3h|morning"
_ACTION = re.compile(
    rf"^{ACTION_PREFIX}:(?P<kind>{_KINDS}):(?P<number>\d{{1,8}}):(?P<view>{_VIEWS})"
    rf"(?::(?P<snooze>{_SNOOZES}))?$"
)
ACTION_ID_PATTERN = _ACTION
_BUTTON_VALUE = re.compile(
    rf"^{ACTION_PREFIX}:(?:{_KINDS}):\d{{1,8}}:(?:{_VIEWS})(?::(?:{_SNOOZES}))?"
    rf":(?P<owner>[A-Z0-9]{{1,32}})$"
)
_USER_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]+)(?:\|(?P<name>[^>]*))?>")
_CHANNEL_MENTION = re.compile(r"<#(?P<id>C[A-Z0-9]+)(?:\|(?P<name>[^>]*))?>")
_SPECIAL_MENTION = re.compile(r"<!(?P<name>[a-z]+)(?:\^[^>|]*)?(?:\|(?P<label>[^>]*))?>")
_LINK = re.compile(r"<(?P<url>[a-z][a-z0-9+.-]*:[^>|]*)(?:\|(?P<label>[^>]*))?>")
_TURN_SUBTYPES = frozenset({"file_share", "thread_broadcast"})


def workspace_of(enterprise_id: str | None, team_id: str | None) -> str:
    """The identity scope: the Enterprise Grid org when there is one (its user ids are
    org-wide), else the workspace."""
    return enterprise_id or team_id or ""


def command_text(text: str) -> str:
    """``/todo <text>`` -> the core's text: ``add milk`` -> ``/add milk``, nothing -> ``/list``,
    anything else stays free text for the brain."""
    stripped = unescape(text).strip()
    if not stripped:
        return "/list"
    parts = stripped.split(maxsplit=1)
    name = parts[0].lower().lstrip("/")
    name = _ALIASES.get(name, name)
    if name in SUBCOMMANDS:
        rest = stripped[len(parts[0]):].strip()
        return f"/{name} {rest}".rstrip()
    return stripped


def unescape(text: str) -> str:
    """Undo Slack's ``&amp;``, ``&lt;``, ``&gt;`` escaping (``&amp;`` last)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def plain_text(text: str, bot_user_id: str | None = None) -> str:
    """A message's text as a person would read it: the bot's own mention removed, other
    mentions and links as their labels, entities unescaped."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = _USER_MENTION.sub(lambda m: "@" + (m["name"] or m["id"]), text)
    text = _CHANNEL_MENTION.sub(lambda m: "#" + (m["name"] or m["id"]), text)
    text = _SPECIAL_MENTION.sub(lambda m: "@" + (m["label"] or m["name"]), text)
    text = _LINK.sub(
        lambda m: f"{m['label']} ({m['url']})" if m["label"] else m["url"], text
    )
    return re.sub(r"[ \t]{2,}", " ", unescape(text)).strip()


def _inbound(**fields: Any) -> Inbound | None:
    """The Inbound, or None (acknowledged, ignored) when a field is out of range: a payload
    Slack would never send is not worth a 5xx that makes it send it again."""
    try:
        return Inbound(**fields)
    except ValidationError as error:
        log.warning("ignored a Slack payload: %s", error.errors(include_input=False,
                                                                include_url=False))
        return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def command_inbound(body: dict[str, Any], workspace: str) -> Inbound | None:
    """A slash command (any name: the manifest's ``/todo``, or whatever an admin renamed it to)."""
    user, channel = _str(body.get("user_id")), _str(body.get("channel_id"))
    if user is None or channel is None:
        return None
    trigger = _str(body.get("trigger_id"))
    return _inbound(
        platform=PLATFORM, workspace=workspace, chat_id=channel, external_user_id=user,
        display_name=_str(body.get("user_name")), text=command_text(str(body.get("text") or "")),
        delivery_key=f"command:{trigger}" if trigger else None,
        private=True,  # answered ephemerally, through response_url
    )


def event_inbound(
    body: dict[str, Any], workspace: str, bot_user_id: str | None, bot_id: str | None
) -> Inbound | None:
    """A DM to the bot (``message`` in an ``im``) or an @mention in a channel, else None.

    Messages from bots (``bot_id`` or a bot subtype), our own, edits (``message_changed``),
    deletions and other subtypes are not turns. A mention's conversation is its thread.
    """
    event = body.get("event")
    if not isinstance(event, dict):
        return None
    kind, subtype = event.get("type"), event.get("subtype")
    user, channel = _str(event.get("user")), _str(event.get("channel"))
    if user is None or channel is None or event.get("bot_id") or event.get("bot_profile"):
        return None
    if subtype is not None and subtype not in _TURN_SUBTYPES:
        return None
    if (bot_user_id and user == bot_user_id) or (bot_id and event.get("bot_id") == bot_id):
        return None
    event_id = _str(body.get("event_id"))
    raw = str(event.get("text") or "")
    text = plain_text(raw, bot_user_id)
    if kind == "message":
        if event.get("channel_type") != "im":
            return None  # channel messages reach us only as app_mention
        thread = None
    elif kind == "app_mention":
        if event.get("channel_type") == "im" or channel.startswith("D"):
            return None  # the DM itself arrives as message.im
        if not bot_user_id or f"<@{bot_user_id}" not in raw:
            text = _strip_leading_mention(raw)
        thread = _str(event.get("thread_ts")) or _str(event.get("ts"))
    else:
        return None
    return _inbound(
        platform=PLATFORM, workspace=workspace, chat_id=channel, thread_id=thread,
        external_user_id=user, text=text, delivery_key=f"event:{event_id}" if event_id else None,
        private=kind == "message",  # a DM; a mention is answered in the channel's thread
    )


def _strip_leading_mention(raw: str) -> str:
    return plain_text(re.sub(r"^\s*<@[UW][A-Z0-9]+(?:\|[^>]*)?>", "", raw))


def reply_thread(body: dict[str, Any]) -> str | None:
    """The thread an answer to this event goes into: a mention's thread; in a DM, the thread
    the user wrote in (if any)."""
    event = body.get("event") or {}
    if event.get("type") == "app_mention":
        return _str(event.get("thread_ts")) or _str(event.get("ts"))
    return _str(event.get("thread_ts"))


def decode_action(action_id: str) -> ButtonAction | None:
    """``todo:done:3:open`` -> ButtonAction(done, 3, open); anything else -> None."""
    match = _ACTION.match(action_id)
    if match is None:
        return None
    if (match["kind"] == "snooze") != (match["snooze"] is not None):
        return None
    return ButtonAction(kind=match["kind"], number=int(match["number"]), view=match["view"],
                        snooze=match["snooze"])


def button_owner(body: dict[str, Any]) -> str | None:
    """The Slack user whose list the pressed button was under (see ``button_value``)."""
    actions = body.get("actions") or []
    value = actions[0].get("value") if actions and isinstance(actions[0], dict) else None
    match = _BUTTON_VALUE.match(value) if isinstance(value, str) else None
    return match["owner"] if match else None


def action_inbound(body: dict[str, Any], workspace: str) -> Inbound | None:
    """A press of one of our list buttons, in a message or in the App Home tab."""
    actions = body.get("actions") or []
    user = body.get("user") or {}
    if not actions or not isinstance(user, dict) or _str(user.get("id")) is None:
        return None
    first = actions[0]
    action = decode_action(str(first.get("action_id") or ""))
    if action is None:
        return None
    container = body.get("container") or {}
    chat: str | None
    thread: str | None
    if container.get("type") == "view":
        chat, thread = HOME_CHAT, None
    else:
        chat = _str(container.get("channel_id")) or _str((body.get("channel") or {}).get("id"))
        thread = _str(container.get("thread_ts"))
    if chat is None:
        return None
    trigger = _str(body.get("trigger_id"))
    key = trigger or _str(first.get("action_ts"))
    return _inbound(
        platform=PLATFORM, workspace=workspace, chat_id=chat, thread_id=thread,
        external_user_id=user["id"], display_name=_str(user.get("name")), action=action,
        delivery_key=f"action:{key}" if key else None,
        private=bool(container.get("is_ephemeral")) or chat == HOME_CHAT or chat.startswith("D"),
    )


def home_inbound(body: dict[str, Any], workspace: str) -> Inbound | None:
    """Who opened the App Home tab (only the Home tab, not the Messages tab)."""
    event = body.get("event") or {}
    user = _str(event.get("user"))
    if user is None or event.get("tab", "home") != "home":
        return None
    event_id = _str(body.get("event_id"))
    # The key checked and cleaned as every Inbound field is (it is stored and queried).
    return _inbound(platform=PLATFORM, workspace=workspace, chat_id=HOME_CHAT,
                    external_user_id=user, delivery_key=f"home:{event_id}" if event_id else None,
                    private=True)


def shortcut_inbound(body: dict[str, Any], workspace: str, permalink: str) -> Inbound | None:
    """The "Add as task" message shortcut: ``/add <first line>`` with the link back to the
    message (and the full text when the first line is not all of it) as the description."""
    user = body.get("user") or {}
    channel = body.get("channel") or {}
    message = body.get("message") or {}
    if _str(user.get("id")) is None or _str(channel.get("id")) is None:
        return None
    text = plain_text(str(message.get("text") or ""))
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    title = first_line or "Slack message"
    if len(title) > 200:
        title = title[:199].rstrip() + "…"
    description = f"From Slack: {permalink}"
    if text.strip() and text.strip() != title:
        description = f"{description}\n{text.strip()}"
    if len(description) > 1000:
        description = description[:999] + "…"
    trigger = _str(body.get("trigger_id"))
    return _inbound(
        platform=PLATFORM, workspace=workspace, chat_id=channel["id"],
        external_user_id=user["id"], display_name=_str(user.get("name")),
        text=f"/add {title}\n{description}",
        delivery_key=f"shortcut:{trigger}" if trigger else None, private=True,
    )


def fallback_permalink(body: dict[str, Any]) -> str:
    """Slack's documented permalink shape, for when chat.getPermalink is not allowed (a private
    channel the bot is not in)."""
    team = body.get("team") or {}
    channel = (body.get("channel") or {}).get("id", "")
    ts = str((body.get("message") or {}).get("ts") or body.get("message_ts") or "")
    domain = team.get("domain") or "app"
    return f"https://{domain}.slack.com/archives/{channel}/p{ts.replace('.', '')}"
