"""Says outbox rows in Telegram through python-telegram-bot, and tells the outbox how it went.

- Messages go out as HTML with everything escaped; if Telegram still refuses the entities
  ("can't parse entities"), the same text is sent again as plain text.
- Long replies arrive as several messages split between lines; the keyboard rides on the last.
- A button press is always answered (the spinner on the button stops, the outcome shows as a
  toast), and the list it was under is edited in place; if that message cannot be edited any
  more, the list is sent anew.
- Each of those is one step; a retry goes on after the steps already done
  (``OutboxItem.progress``), so a reply split in three whose second part met a 429 does not
  repeat the first.
- Telegram's answers map onto outcomes: ``RetryAfter`` (429) is retried after its own
  ``retry_after``, network trouble, timeouts and 5xx after a backoff; ``Forbidden`` (the user
  blocked the bot, it was removed from the group) and other 400s are refusals, recorded and
  not retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from bot_core.outbox import OutboxItem, Refused, RetryLater, SendOutcome, Sent
from bot_core.reply import Reply, ReplyFile
from handlers import event_loop
from handlers.telegram.parse import ReplyTarget
from handlers.telegram.render import Rendered, render

if TYPE_CHECKING:
    from telegram import Bot, InlineKeyboardMarkup, ReplyKeyboardMarkup, ReplyParameters
    from telegram.error import BadRequest, TelegramError

    Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup

log = logging.getLogger(__name__)

MAX_TOAST_CHARS = 200
TYPING_EVERY_SECONDS = 4.5  # Telegram shows "typing…" for 5 s per chat action
SEND_TIMEOUT_SECONDS = 60.0
T = TypeVar("T")


class _Steps:
    """Counts the steps of one delivery and skips those an earlier attempt already did."""

    def __init__(self, done_before: int) -> None:
        self.done_before = done_before
        self.done = 0

    async def run(self, action: Callable[[], Awaitable[T]], skipped: T) -> T:
        index = self.done
        if index < self.done_before:
            self.done += 1
            return skipped
        result = await action()
        self.done += 1
        return result


class TelegramReplySender:
    """The outbox's Telegram sender: sync entry points over the container's event loop."""

    def __init__(self, bot: Bot) -> None:
        self.api = Sender(bot)

    def send(self, item: OutboxItem) -> SendOutcome:
        """Deliver what is left of ``item``."""
        from telegram.error import TelegramError

        target = ReplyTarget.from_json(item.target)
        steps = _Steps(item.progress)
        try:
            event_loop.run(self.api.deliver(item.reply, target, steps),
                           timeout=SEND_TIMEOUT_SECONDS)
        except TelegramError as error:
            return outcome_of(error, steps.done)
        except FutureTimeout:
            return RetryLater("timed out", progress=steps.done)
        return Sent()

    @contextmanager
    def thinking(self, target: Mapping[str, Any]) -> Iterator[None]:
        """"typing…" in the chat until the block ends (best effort: failures are logged)."""
        from telegram.error import TelegramError

        where = ReplyTarget.from_dict(dict(target))
        if where.callback_query_id is not None or where.toast_only:
            yield
            return
        try:
            event_loop.run(self.api.typing(where), timeout=10)
        except (TelegramError, FutureTimeout) as error:
            log.info("typing action failed: %s", type(error).__name__)
        renewing = event_loop.start(self.api.keep_typing(where))
        try:
            yield
        finally:
            renewing.cancel()


def outcome_of(error: TelegramError, progress: int) -> SendOutcome:
    """What a Telegram error means for the outbox row."""
    from telegram.error import BadRequest, ChatMigrated, Forbidden, InvalidToken, RetryAfter

    if isinstance(error, RetryAfter):
        wait = error.retry_after
        seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
        return RetryLater("429 flood control", after_seconds=seconds, progress=progress)
    if isinstance(error, Forbidden):  # blocked by the user, kicked from the group
        return Refused(f"forbidden: {error.message}", gone=True)
    if isinstance(error, ChatMigrated):
        return Refused(f"chat migrated to {error.new_chat_id}")
    if isinstance(error, BadRequest):
        gone = "chat not found" in error.message.lower()
        return Refused(f"bad request: {error.message}", gone=gone)
    if isinstance(error, InvalidToken):
        return RetryLater("invalid token", progress=progress)
    return RetryLater(f"{type(error).__name__}: {error.message}", progress=progress)


class Sender:
    """Talks to one bot (coroutines for the container's event loop)."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def deliver(self, reply: Reply, target: ReplyTarget, steps: _Steps) -> None:
        """Send ``reply`` where ``target`` says; for a button press, answer and edit."""
        query = target.callback_query_id
        if query is not None:
            await steps.run(lambda: self.answer(query, reply.text.split("\n", 1)[0]), None)
            if target.toast_only:
                return
        message_id = target.list_message_id
        if message_id is not None:
            edited = render(reply, target.owner, single_message=True)
            # Skipped means an earlier attempt tried it and it could not be edited.
            if await steps.run(lambda: self._edit(target, message_id, edited), False):
                return
        else:
            # Files first (/export), so the words "here is your data" never come without them.
            for file in reply.files:
                await steps.run(partial(self._document, target, file), None)
        await self._send(target, render(reply, target.owner), steps)

    async def _document(self, target: ReplyTarget, file: ReplyFile) -> None:
        """One file (``/export``) as a document in the chat."""
        await self._bot.send_document(target.chat_id, document=file.content.encode(),
                                      filename=file.name, message_thread_id=target.thread_id)

    async def answer(self, callback_query_id: str, text: str) -> None:
        """Answer a button press; an expired or already answered query is only logged."""
        from telegram.error import BadRequest

        try:
            await self._bot.answer_callback_query(callback_query_id, text=text[:MAX_TOAST_CHARS])
        except BadRequest as error:
            log.info("callback query not answered: %s", error.message)

    async def typing(self, target: ReplyTarget) -> None:
        """Show "typing…" in the chat once."""
        from telegram.constants import ChatAction

        await self._bot.send_chat_action(target.chat_id, ChatAction.TYPING,
                                         message_thread_id=target.thread_id)

    async def keep_typing(self, target: ReplyTarget) -> None:
        """Renew "typing…" until cancelled (an LLM turn may outlast one chat action)."""
        from telegram.error import TelegramError

        while True:
            await asyncio.sleep(TYPING_EVERY_SECONDS)
            try:
                await self.typing(target)
            except TelegramError as error:
                log.info("typing action failed: %s", error.message)

    async def _send(self, target: ReplyTarget, rendered: Rendered, steps: _Steps) -> None:
        last = len(rendered.html) - 1
        plain = [False]  # once Telegram refused our HTML, the rest goes as plain text
        for index, (html_text, plain_text) in enumerate(zip(rendered.html, rendered.plain,
                                                           strict=True)):
            markup = _markup(rendered, target) if index == last else None
            quote = _quote(target) if index == 0 else None

            async def one(html_text: str = html_text, plain_text: str = plain_text,
                          markup: Markup | None = markup,
                          quote: ReplyParameters | None = quote) -> None:
                await self._send_one(target, html_text, plain_text, markup, quote, plain)

            await steps.run(one, None)

    async def _send_one(self, target: ReplyTarget, html_text: str, plain_text: str,
                        markup: Markup | None, quote: ReplyParameters | None,
                        plain: list[bool]) -> None:
        from telegram import LinkPreviewOptions
        from telegram.constants import ParseMode
        from telegram.error import BadRequest

        if not plain[0]:
            try:
                await self._bot.send_message(
                    target.chat_id, html_text, parse_mode=ParseMode.HTML,
                    reply_markup=markup, message_thread_id=target.thread_id,
                    reply_parameters=quote,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
                return
            except BadRequest as error:
                if not _entities_refused(error):
                    raise
                log.warning("Telegram refused our HTML (%s); sending plain text",
                            error.message)
                plain[0] = True
        await self._bot.send_message(
            target.chat_id, plain_text, reply_markup=markup,
            message_thread_id=target.thread_id, reply_parameters=quote,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    async def _edit(self, target: ReplyTarget, message_id: int, rendered: Rendered) -> bool:
        """Edit the list message; False if it cannot be edited (then a new one is sent)."""
        from telegram import LinkPreviewOptions
        from telegram.constants import ParseMode
        from telegram.error import BadRequest

        attempts: list[tuple[str, str | None]] = [(rendered.html[0], ParseMode.HTML),
                                                  (rendered.plain[0], None)]
        for text, parse_mode in attempts:
            try:
                await self._bot.edit_message_text(
                    text, chat_id=target.chat_id, message_id=message_id, parse_mode=parse_mode,
                    reply_markup=_inline_markup(rendered),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
                return True
            except BadRequest as error:
                if "message is not modified" in error.message.lower():
                    return True
                if parse_mode is not None and _entities_refused(error):
                    log.warning("Telegram refused our HTML (%s); editing with plain text",
                                error.message)
                    continue
                log.info("list message not edited (%s); sending a new one", error.message)
                return False
        return False


SHARE_LOCATION_LABEL = "📍 Share my location (sets my timezone)"


def _entities_refused(error: BadRequest) -> bool:
    return "can't parse entities" in error.message.lower()


def _markup(rendered: Rendered, target: ReplyTarget) -> Markup | None:
    """The inline buttons; or, in a private chat whose user's zone is not known, a one-time
    "share location" button (Telegram tells no timezone; the location is looked up offline)."""
    from telegram import KeyboardButton, ReplyKeyboardMarkup

    if not rendered.keyboard and rendered.ask_location and target.chat_id > 0:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(SHARE_LOCATION_LABEL, request_location=True)]],
            one_time_keyboard=True, resize_keyboard=True)
    return _inline_markup(rendered)


def _inline_markup(rendered: Rendered) -> InlineKeyboardMarkup | None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    if not rendered.keyboard:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row]
         for row in rendered.keyboard]
    )


def _quote(target: ReplyTarget) -> ReplyParameters | None:
    from telegram import ReplyParameters

    if target.reply_to is None:
        return None
    return ReplyParameters(message_id=target.reply_to, allow_sending_without_reply=True)
