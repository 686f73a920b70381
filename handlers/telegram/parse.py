"""Telegram ``Update`` -> what to do with it: a core turn, a fixed answer, or nothing.

Translation only; no I/O. Which updates Todobot acts on:

- private chats: every text message; anything else a person sends (sticker, photo, voice...)
  gets a short fixed answer;
- groups: only what is addressed to the bot — a command meant for it (``/add@thisbot``, or a
  bare command that is one of ours; ``/report`` for a moderation bot is not), a reply to one of
  its messages, or a message mentioning it (the mention is removed from the text);
- button presses under our lists, by the person whose list it is;
- the bot added to a group (``new_chat_members`` holds it): a :class:`Join`, which the webhook
  keeps only when an allow-list is set and the person who added it is on it;
- everything else (edits, membership changes, other bots, service messages) is ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any

from bot_core.commands import KNOWN_COMMANDS
from bot_core.inbound import Inbound
from handlers.telegram import buttons
from handlers.telegram.client import BotIdentity

if TYPE_CHECKING:
    from telegram import CallbackQuery, Message, Update

PLATFORM = "telegram"
MIN_UPDATE_ID, MAX_UPDATE_ID = -(2**63), 2**63 - 1

NON_TEXT_TEXT = "I can only read text for now — type your task as a message, or send /help."
STALE_BUTTON_TEXT = "That button no longer works — send /list for a fresh list."
NO_ZONE_THERE_TEXT = ("I couldn't find a timezone at that spot — send /timezone <city>, "
                      "e.g. /timezone Berlin.")
NOT_YOUR_LIST_TEXT = "That list belongs to someone else — send /list for yours."


@dataclass(frozen=True)
class ReplyTarget:
    """Where and how to answer; travels with the delivery and is stored in the outbox."""

    chat_id: int
    thread_id: int | None = None  # forum topic the message was in
    reply_to: int | None = None  # the user's message, quoted in groups so it is clear whom
    callback_query_id: str | None = None  # a button press to answer
    list_message_id: int | None = None  # the list the pressed button is under: edited in place
    owner: int = 0  # the Telegram user whose list the reply's buttons act on
    toast_only: bool = False  # answer the button press with a toast, nothing else

    def in_chat(self) -> ReplyTarget:
        """A new message into the same chat (and topic) with this owner's buttons: where the
        reminders of tasks made here go."""
        return ReplyTarget(chat_id=self.chat_id, thread_id=self.thread_id, owner=self.owner)

    def to_dict(self) -> dict[str, Any]:
        # ``is not``: 0 == False, and a chat id 0 dropped here made the row unsendable
        return {key: value for key, value in asdict(self).items()
                if value is not None and value is not False
                and not (key == "owner" and value == 0)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReplyTarget:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    @classmethod
    def from_json(cls, text: str) -> ReplyTarget:
        loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise ValueError("a Telegram reply target is a JSON object")
        return cls.from_dict(loaded)


@dataclass(frozen=True)
class Turn:
    """A message or button press for the core."""

    inbound: Inbound
    target: ReplyTarget
    seq: int

    @property
    def chat_key(self) -> str:
        return self.inbound.chat_key


@dataclass(frozen=True)
class Say:
    """Something answered with a fixed line and no turn (non-text content; a toast for a
    button that no longer works or is not the presser's), once per delivery."""

    text: str
    target: ReplyTarget
    seq: int
    chat_key: str
    user_id: int


@dataclass(frozen=True)
class Join:
    """Someone added the bot to a group chat."""

    chat_id: int
    added_by: int
    added_by_username: str | None
    added_by_name: str
    seq: int

    @property
    def target(self) -> ReplyTarget:
        return ReplyTarget(chat_id=self.chat_id)

    @property
    def chat_key(self) -> str:
        return _chat_key(self.chat_id, None)


@dataclass(frozen=True)
class Sender:
    """Who sent an update and in which chat: what the allow-list decides on."""

    user_id: int
    username: str | None
    chat_id: int
    chat_type: str | None

    @property
    def in_group(self) -> bool:
        return self.chat_type in ("group", "supergroup")


@dataclass(frozen=True)
class Ignore:
    """Nothing to do (answered 200 so Telegram does not redeliver)."""

    reason: str


Decision = Turn | Say | Join | Ignore


class Unparseable(ValueError):
    """The payload is JSON but not an Update python-telegram-bot can read."""


def parse_update(data: Any) -> Update:
    """``Update.de_json`` without a bot (nothing here calls Telegram)."""
    from telegram import Update

    if not isinstance(data, dict):
        raise Unparseable("not a JSON object")
    update_id = data.get("update_id")
    # The update_id orders the chat's queue (a BIGINT) and keys the delivery claim; the
    # library would accept null or a string and let the insert fail with a 500 on every retry.
    if type(update_id) is not int or not MIN_UPDATE_ID <= update_id <= MAX_UPDATE_ID:
        raise Unparseable("update_id is not a 64-bit integer")
    try:
        update = Update.de_json(data, None)
    except (TypeError, KeyError, IndexError, ValueError, AttributeError, RecursionError,
            OverflowError, OSError) as error:  # OSError, OverflowError: a date out of range
        raise Unparseable(f"{type(error).__name__}: {error}") from error
    return update


def chat_type(update: Update) -> str | None:
    """The type of the chat the update is about (tells whether the bot's username is needed)."""
    chat = update.effective_chat
    return chat.type if chat is not None else None


def is_group(update: Update) -> bool:
    return chat_type(update) in ("group", "supergroup")


def sender_of(update: Update) -> Sender | None:
    """The person and chat of a message or button press (None for anything else)."""
    if update.message is not None:
        message = update.message
        user = message.from_user
        if user is None:
            return None
        return Sender(user.id, user.username, message.chat.id, message.chat.type)
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message is not None else None
        return Sender(query.from_user.id, query.from_user.username,
                      chat.id if chat is not None else query.from_user.id,
                      chat.type if chat is not None else "private")
    return None


def classify(update: Update, me: BotIdentity) -> Decision:
    """Decide what ``update`` asks of the bot; a payload too malformed to decide on is ignored.

    python-telegram-bot builds an Update from almost any JSON without checking types, so the
    errors surface here (an int where text belongs, entity offsets that split a character, an
    id too long for an Inbound). Answering 500 would make Telegram redeliver the same payload
    for hours while the chat's later updates wait behind it.
    """
    try:
        return _classify(update, me)
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        return Ignore(f"malformed update ({type(error).__name__})")


def _classify(update: Update, me: BotIdentity) -> Decision:
    if update.message is not None:
        return _message(update.message, update.update_id, me)
    if update.callback_query is not None:
        return _button(update.callback_query, update.update_id)
    kind = next((name for name in ("edited_message", "my_chat_member", "channel_post")
                 if getattr(update, name, None) is not None), "unhandled kind")
    return Ignore(kind)


def _message(message: Message, update_id: int, me: BotIdentity) -> Decision:
    user = message.from_user
    if user is None or user.is_bot:
        return Ignore("not sent by a person")
    chat = message.chat
    _ints(user.id, chat.id, message.message_id)
    if chat.type in ("group", "supergroup") and any(
            member.id == me.id for member in message.new_chat_members or ()):
        return Join(chat.id, user.id, user.username, user.full_name or user.username or "",
                    update_id)
    if chat.type == "private":
        text = message.text
        reply_to = None
    elif chat.type in ("group", "supergroup"):
        addressed, text = _addressed(message, me)
        if not addressed:
            return Ignore("group message not addressed to the bot")
        reply_to = message.message_id
    else:
        return Ignore(f"{chat.type} chat")
    thread = message.message_thread_id if message.is_topic_message else None
    if thread is not None:
        _ints(thread)
    target = ReplyTarget(chat_id=chat.id, thread_id=thread, reply_to=reply_to, owner=user.id)
    if message.location is not None and message.text is None:
        text = _timezone_at(message.location.latitude, message.location.longitude)
        if text is None:
            return Say(NO_ZONE_THERE_TEXT, target, update_id, _chat_key(chat.id, thread), user.id)
    elif message.text is None:
        if message.effective_attachment is None and not message.caption:
            return Ignore("service message")
        return Say(NON_TEXT_TEXT, target, update_id, _chat_key(chat.id, thread), user.id)
    inbound = Inbound(
        platform=PLATFORM, chat_id=str(chat.id), thread_id=str(thread) if thread else None,
        external_user_id=str(user.id), display_name=user.full_name or user.username,
        text=text, delivery_key=str(update_id), private=chat.type == "private",
    )
    return Turn(inbound, target, update_id)


def _timezone_at(latitude: Any, longitude: Any) -> str | None:
    """A shared location becomes ``/timezone <zone>`` (looked up offline), None at sea."""
    from bot_core.timing.zones import zone_from_location

    if not isinstance(latitude, int | float) or not isinstance(longitude, int | float):
        return None
    zone = zone_from_location(float(latitude), float(longitude))
    return f"/timezone {zone}" if zone else None


def _addressed(message: Message, me: BotIdentity) -> tuple[bool, str | None]:
    """Is this group message for the bot? And its text with the bot's mention removed."""
    text = message.text
    replied = message.reply_to_message
    if (replied is not None and replied.from_user is not None and replied.from_user.id == me.id
            and not (message.is_topic_message and replied.forum_topic_created is not None)):
        return True, text
    if text is None:
        return False, None
    username = me.username.lower()
    for entity, value in message.parse_entities().items():
        if entity.type == "bot_command" and entity.offset == 0:
            name, _, target = value[1:].partition("@")
            if target:
                return bool(username) and target.lower() == username, text
            return name.lower() in KNOWN_COMMANDS, text
        if entity.type == "mention" and username and value[1:].lower() == username:
            return True, _without_mention(text, me.username)
        if entity.type == "text_mention" and entity.user is not None and entity.user.id == me.id:
            return True, text
    return False, text


def _without_mention(text: str, username: str) -> str:
    return re.sub(rf"(?i)@{re.escape(username)}\b", " ", text).strip()


def _button(query: CallbackQuery, update_id: int) -> Decision:
    from telegram import Message

    if not isinstance(query.id, str) or not _encodable(query.id):
        # The id goes back to Telegram (answerCallbackQuery): a lone surrogate there fails
        # every send, and the reply would be retried for hours.
        raise TypeError("callback query id is not a string Telegram could have sent")
    press = buttons.decode(query.data)
    message = query.message
    user = query.from_user
    _ints(user.id)
    if press is None or message is None or press.owner != user.id:
        chat_id = message.chat.id if message is not None else user.id
        _ints(chat_id)
        toast = ReplyTarget(chat_id=chat_id, callback_query_id=query.id, toast_only=True)
        text = NOT_YOUR_LIST_TEXT if press is not None and message is not None else (
            STALE_BUTTON_TEXT)
        return Say(text, toast, update_id, _chat_key(chat_id, None), user.id)
    chat = message.chat
    thread = (message.message_thread_id
              if isinstance(message, Message) and message.is_topic_message else None)
    _ints(chat.id, message.message_id, *([] if thread is None else [thread]))
    inbound = Inbound(
        platform=PLATFORM, chat_id=str(chat.id), thread_id=str(thread) if thread else None,
        external_user_id=str(user.id), display_name=user.full_name or user.username,
        action=press.action, delivery_key=str(update_id), private=chat.type == "private",
    )
    target = ReplyTarget(chat_id=chat.id, thread_id=thread, callback_query_id=query.id,
                         list_message_id=message.message_id, owner=user.id)
    return Turn(inbound, target, update_id)


def _ints(*values: object) -> None:
    """Raise TypeError unless every value is an int: the ids we store, compare and send back
    (python-telegram-bot keeps whatever type the JSON had, ``null`` included)."""
    if not all(type(value) is int for value in values):
        raise TypeError("an id is not an integer")


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _chat_key(chat_id: int, thread_id: int | None) -> str:
    """The same key :attr:`Inbound.chat_key` gives a Telegram chat (no workspace)."""
    return f"{chat_id}:{thread_id}" if thread_id else str(chat_id)
