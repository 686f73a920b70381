"""Sends what the core said to Telegram through python-telegram-bot (coroutines for the
container loop).

- Messages go out as HTML with everything escaped; if Telegram still refuses the entities
  ("can't parse entities"), the same text is sent again as plain text.
- Long replies arrive as several messages split between lines; the keyboard rides on the last.
- A button press is always answered (the spinner on the button stops, the outcome shows as a
  toast), and the list it was under is edited in place; if that message cannot be edited any
  more, the list is sent anew.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bot_core.reply import Reply
from handlers.telegram_adapter import ReplyTarget
from handlers.telegram_render import Rendered, render

if TYPE_CHECKING:
    from telegram import Bot, InlineKeyboardMarkup, ReplyParameters
    from telegram.error import BadRequest

log = logging.getLogger(__name__)

MAX_TOAST_CHARS = 200
TYPING_EVERY_SECONDS = 4.5  # Telegram shows "typing…" for 5 s per chat action


class Sender:
    """Talks to one bot."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot

    async def deliver(self, reply: Reply, target: ReplyTarget, owner: int) -> None:
        """Send ``reply`` where ``target`` says; for a button press, answer and edit."""
        if target.callback_query_id is not None:
            await self.answer(target.callback_query_id, reply.text.split("\n", 1)[0])
        if target.list_message_id is not None:
            edited = render(reply, owner, single_message=True)
            if await self._edit(target, target.list_message_id, edited):
                return
        await self._send(target, render(reply, owner))

    async def say(self, text: str, target: ReplyTarget) -> None:
        """Send a fixed line (escaped like everything else)."""
        await self._send(target, render(Reply(text=text), owner=0))

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

    async def _send(self, target: ReplyTarget, rendered: Rendered) -> None:
        from telegram import LinkPreviewOptions
        from telegram.constants import ParseMode
        from telegram.error import BadRequest

        plain = False
        last = len(rendered.html) - 1
        for index, (html_text, plain_text) in enumerate(zip(rendered.html, rendered.plain,
                                                           strict=True)):
            markup = _markup(rendered) if index == last else None
            quote = _quote(target) if index == 0 else None
            if not plain:
                try:
                    await self._bot.send_message(
                        target.chat_id, html_text, parse_mode=ParseMode.HTML,
                        reply_markup=markup, message_thread_id=target.thread_id,
                        reply_parameters=quote,
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                    )
                    continue
                except BadRequest as error:
                    if not _entities_refused(error):
                        raise
                    log.warning("Telegram refused our HTML (%s); sending plain text",
                                error.message)
                    plain = True
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
                    reply_markup=_markup(rendered),
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


def _entities_refused(error: BadRequest) -> bool:
    return "can't parse entities" in error.message.lower()


def _markup(rendered: Rendered) -> InlineKeyboardMarkup | None:
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
