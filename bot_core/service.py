"""The turn: one inbound message in, one reply out, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from bot_core.brains.base import Brain, BrainRequest, BrainUnavailable
from bot_core.commands import KNOWN_COMMANDS, CommandRouter, list_reply, parse_command
from bot_core.conversations import (
    ChatBusy,
    bound_lock_waits,
    claim_delivery,
    current_conversation,
    lock_chat,
    recent_history,
    start_conversation,
    store_turn,
)
from bot_core.identity import resolve_user_id
from bot_core.inbound import ButtonAction, Inbound, ListView
from bot_core.reply import Reply
from bot_core.tasks import TaskTools, strip_control_characters
from bot_core.texts import HELP_TEXT, NEW_CONVERSATION_TEXT
from models.db import UnitOfWork, UnitOfWorkFactory

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 4000
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL: lock_timeout expired
INSTANT_TURN_LOCK_WAIT = 2.5
"""Seconds a command or button waits for its chat (or a row) held by another turn: within
Slack's 3 s, and a clear "busy" beats a timeout."""
BRAIN_TURN_LOCK_WAIT = 60.0
"""Seconds a free-text (deferred) turn waits for the LLM turn ahead of it in the same chat."""


@dataclass(frozen=True)
class TurnResult:
    """The reply to send, or ``duplicate=True`` when this delivery was already processed."""

    reply: Reply | None
    duplicate: bool = False


def needs_brain(inbound: Inbound) -> bool:
    """True if the turn goes to the brain (free text), False for commands and buttons.

    Platform adapters use this to decide whether to answer inside the webhook or defer.
    """
    if inbound.action is not None or not inbound.text:
        return False
    command = parse_command(inbound.text)
    return command is None


class TodoService:
    """Runs turns. Built once per process by :func:`bot_core.bootstrap.build_service`."""

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        brain: Callable[[], Brain],
        *,
        history_max_messages: int = 20,
        history_max_chars: int = 8000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._unit_of_work = unit_of_work
        self._brain_factory = brain
        self._brain: Brain | None = None
        self._router = CommandRouter()
        self._history_max_messages = history_max_messages
        self._history_max_chars = history_max_chars
        self._clock = clock

    @property
    def brain(self) -> Brain:
        """The brain, built on first free-text turn (commands never pay for it)."""
        if self._brain is None:
            self._brain = self._brain_factory()
        return self._brain

    def handle(self, inbound: Inbound, *, connection: Connection | None = None) -> TurnResult:
        """Process one turn: claim the delivery, find the user and conversation, answer, and
        store the user's message, the answer and every task change together.

        Database errors propagate after a full rollback (the webhook then answers 5xx and the
        platform redelivers); LLM failures are answered with an apology, the user's message
        kept and task changes of the failed attempt undone. ``connection``: run the turn's
        transaction on a connection the caller holds (the turn queue's) instead of taking
        another one from the pool.
        """
        unit_of_work = UnitOfWork(connection) if connection is not None else self._unit_of_work()
        try:
            with unit_of_work as uow:
                result = self._turn(uow.session, inbound)
                if not result.duplicate:
                    uow.commit()
                return result
        except OperationalError as error:
            if getattr(error.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
                raise ChatBusy("a row this turn needs is held by another turn") from error
            raise

    def _turn(self, session: Session, inbound: Inbound) -> TurnResult:
        """The turn's work inside its transaction (the caller commits)."""
        instant = not needs_brain(inbound)
        if instant:
            bound_lock_waits(session, INSTANT_TURN_LOCK_WAIT)
        if inbound.delivery_key and not claim_delivery(
            session, inbound.platform, inbound.delivery_key
        ):
            return TurnResult(reply=None, duplicate=True)
        user_id = resolve_user_id(
            session, inbound.platform, inbound.workspace, inbound.external_user_id,
            inbound.display_name,
        )
        lock_chat(session, user_id, inbound.platform, inbound.chat_key,
                  wait_seconds=INSTANT_TURN_LOCK_WAIT if instant else BRAIN_TURN_LOCK_WAIT)
        conversation_id = current_conversation(
            session, user_id, inbound.platform, inbound.chat_key
        )
        tools = TaskTools(session, user_id)
        user_text = _user_text(inbound)
        if inbound.action is not None:
            reply = self._router.press(inbound.action, tools)
        else:
            command = parse_command(user_text)
            if command is not None and command.name == "new":
                conversation_id = start_conversation(
                    session, user_id, inbound.platform, inbound.chat_key
                )
                reply = Reply(text=NEW_CONVERSATION_TEXT)
            elif command is not None and command.name in KNOWN_COMMANDS:
                reply = self._router.run(command, tools, inbound.display_name)
            elif command is not None:
                reply = Reply(text=f"I don't know /{command.name}.\n{HELP_TEXT}")
            else:
                reply = self._think(session, conversation_id, inbound, user_text, tools)
        store_turn(session, conversation_id, user_id, user_text, reply.as_plain_text(),
                   tools.calls)
        return TurnResult(reply=reply)

    def overview(self, inbound: Inbound, view: ListView = "open") -> Reply:
        """The user's list for ``view``, without a turn: no message is stored and no delivery
        claimed (only the user, on first contact).

        For surfaces that show the list whenever they are opened (Slack's App Home tab), where
        storing a "/list" turn per glance would fill the conversation with noise.
        """
        with self._unit_of_work() as uow:
            user_id = resolve_user_id(
                uow.session, inbound.platform, inbound.workspace, inbound.external_user_id,
                inbound.display_name,
            )
            reply = list_reply(TaskTools(uow.session, user_id), view)
            uow.commit()
        return reply

    def _think(
        self, session: Session, conversation_id: int, inbound: Inbound, text: str,
        tools: TaskTools,
    ) -> Reply:
        if not text.strip():
            return Reply(text=HELP_TEXT)
        history = recent_history(
            session, conversation_id, self._history_max_messages, self._history_max_chars
        )
        request = BrainRequest(
            text=text[:MAX_INPUT_CHARS], history=history, now=self._clock(),
            display_name=inbound.display_name,
        )
        attempt = session.begin_nested()
        try:
            reply = self.brain.answer(request, tools)
        except BrainUnavailable as failure:
            attempt.rollback()
            log.warning("brain unavailable (%s); task changes of this turn rolled back",
                        failure.reason)
            tools.calls.clear()
            return Reply(text=failure.user_message)
        except BaseException:
            attempt.rollback()
            raise
        attempt.commit()
        return reply


def _user_text(inbound: Inbound) -> str:
    """What the user "said", for storage: their text, or the button they pressed."""
    if inbound.action is not None:
        return _describe_action(inbound.action)
    return strip_control_characters(inbound.text or "").strip()


def _describe_action(action: ButtonAction) -> str:
    return f"/{action.kind} {action.number}"
