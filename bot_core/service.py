"""The turn: one inbound message in, one reply out, in one transaction."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session

from bot_core.accounts import account_turn
from bot_core.brains.base import Brain, BrainRequest, BrainUnavailable
from bot_core.commands import KNOWN_COMMANDS, CommandRouter, list_reply, parse_command
from bot_core.conversations import (
    HistoryMessage,
    claim_delivery,
    current_conversation,
    delivery_claimed,
    recent_history,
    start_conversation,
    store_turn,
)
from bot_core.identity import resolve_user_id
from bot_core.inbound import ButtonAction, Inbound, ListView
from bot_core.limits import SLOW_DOWN_TEXT, Verdict, count_message
from bot_core.outbox import add_to_outbox
from bot_core.profile import SettingsStore, read_settings
from bot_core.replayed_tools import ReplayedTools, replay, same_outcome
from bot_core.reply import Reply
from bot_core.tasks import Origin, TaskTools, ToolCall, Tools, strip_control_characters
from bot_core.texts import HELP_TEXT, NEW_CONVERSATION_TEXT
from bot_core.timing.local import Profile, zone_of
from bot_core.usage import Allowance, Meter, allowance, first_notice, notice_text, record_usage
from models.db import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 4096
"""What of a message is read and stored: Telegram's own maximum for a text message. Slack allows
40,000 characters, but a to-do is never that long, and a 6 MB body must not be stored whole."""
CUT_TEXT = "(Your message was long, so I read only its first 4,096 characters.)"


@dataclass(frozen=True)
class Limits:
    """Per-person limits (0: none): messages and presses a minute, model tokens a local day,
    and everyone's model tokens a UTC month."""

    messages_per_minute: int = 0
    daily_tokens: int = 0
    monthly_tokens: int = 0
CHANGED_MEANWHILE = "(Your list changed while I was thinking; this is what happened.)"


@dataclass(frozen=True)
class TurnResult:
    """The reply, the outbox row that will carry it (when a target was given), or
    ``duplicate=True`` when this delivery was already processed."""

    reply: Reply | None
    duplicate: bool = False
    outbox_id: int | None = None


@dataclass(frozen=True)
class Where:
    """Where a reply goes: the platform's own target (JSON, opaque to the core)."""

    target: str
    platform: str
    workspace: str = ""
    delivery_key: str | None = None


def needs_brain(inbound: Inbound) -> bool:
    """True if the turn goes to the brain (free text), False for commands and buttons."""
    if inbound.action is not None or not inbound.text:
        return False
    command = parse_command(inbound.text)
    return command is None


@dataclass(frozen=True)
class _Context:
    """What a brain turn reads before the model is asked (committed on its own)."""

    user_id: str
    conversation_id: int
    history: list[HistoryMessage]
    profile: Profile
    allowance: Allowance


class TodoService:
    """Runs turns. Built once per process by :func:`bot_core.bootstrap.build_service`.

    A command or button is one transaction. A free-text turn is three steps, none of which holds
    a transaction while the brain thinks: read the context (user, conversation, history), let
    the brain act through :class:`ReplayedTools`, then one transaction that claims the
    delivery, replays the tool calls, and stores the messages and the outbox row.
    """

    def __init__(
        self,
        unit_of_work: UnitOfWorkFactory,
        brain: Callable[[], Brain],
        *,
        history_max_messages: int = 20,
        history_max_chars: int = 8000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        limits: Limits | None = None,
        fallback: Callable[[], Brain] | None = None,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._brain_factory = brain
        self._brain: Brain | None = None
        self._limits = limits or Limits()
        self._router = CommandRouter(daily_tokens=self._limits.daily_tokens)
        self._fallback_factory = fallback
        self._fallback: Brain | None = None
        self._history_max_messages = history_max_messages
        self._history_max_chars = history_max_chars
        self._clock = clock

    @property
    def brain(self) -> Brain:
        """The brain, built on first free-text turn (commands never pay for it)."""
        if self._brain is None:
            self._brain = self._brain_factory()
        return self._brain

    @property
    def fallback(self) -> Brain:
        """The brain for someone whose model allowance is spent (the offline rules)."""
        if self._fallback is None:
            if self._fallback_factory is None:
                from bot_core.brains.offline import OfflineBrain

                self._fallback = OfflineBrain()
            else:
                self._fallback = self._fallback_factory()
        return self._fallback

    def handle(self, inbound: Inbound, *, target: str | None = None,
               thinking: Callable[[], AbstractContextManager[None]] | None = None,
               chat_target: str | None = None) -> TurnResult:
        """Process one turn and store it with its reply (and, given ``target``, the outbox row
        that will deliver it) in one transaction.

        ``thinking`` is entered while the brain works on a free-text turn (the platform's
        "typing…"), only once the delivery is known to be new: a redelivery shows nothing.
        Database errors propagate after a full rollback, so the queue runs the turn again; LLM
        failures are answered with an apology, the user's message kept and no task changed.
        ``chat_target`` is where this chat member's unprompted messages go (the reminders of
        tasks made here, the digest set here), in the platform's own JSON.
        """
        where = (Where(target, inbound.platform, inbound.workspace, inbound.delivery_key)
                 if target is not None else None)
        origin = (Origin(inbound.platform, inbound.workspace, chat_target)
                  if chat_target is not None else None)
        if needs_brain(inbound):
            return self._brain_turn(inbound, where, thinking or nullcontext, origin)
        with self._unit_of_work() as uow:
            session = uow.session
            if inbound.delivery_key and not claim_delivery(
                    session, inbound.platform, inbound.delivery_key):
                return TurnResult(reply=None, duplicate=True)
            user_id = self._user(session, inbound)
            now = self._clock()
            verdict = count_message(session, user_id, now, self._limits.messages_per_minute)
            if verdict != "ok":
                return self._over_rate(uow, verdict, where, user_id)
            conversation_id = current_conversation(
                session, user_id, inbound.platform, inbound.chat_key)
            tools = TaskTools(session, user_id, now=now, profile=self._profile(session, user_id),
                              origin=origin)
            settings = SettingsStore(session, user_id, now, origin)
            account = account_turn(session, inbound, user_id, now,
                                   origin.target if origin is not None else None)
            said, stored_reply = _user_text(inbound), None
            if account is not None and account.user_id is None:  # forgotten: keep nothing
                outbox_id = self._queue_reply(session, where, account.reply)
                uow.commit()
                return TurnResult(reply=account.reply, outbox_id=outbox_id)
            if account is not None:
                reply = account.reply
                said = account.stored_said or said
                stored_reply = account.stored_reply
                if account.user_id != user_id:  # merged into the other side, or unlinked
                    user_id = account.user_id or user_id
                    conversation_id = current_conversation(
                        session, user_id, inbound.platform, inbound.chat_key)
            else:
                reply, conversation_id = self._instant(session, inbound, tools, settings,
                                                       conversation_id)
            reply = _asking_zone(reply, tools.calls)
            if _was_cut(inbound):
                reply = reply.model_copy(update={"text": f"{reply.text}\n{CUT_TEXT}"})
            store_turn(session, conversation_id, user_id, said,
                       stored_reply or reply.as_plain_text(), tools.calls, now=now)
            outbox_id = self._queue_reply(session, where, reply, user_id)
            uow.commit()
        return TurnResult(reply=reply, outbox_id=outbox_id)

    def say(self, where: Where, reply: Reply) -> int | None:
        """A fixed answer that makes no turn (a sticker answered with a line, a toast on a
        stale button): claimed like any delivery so a redelivery is not answered twice. The
        outbox row's id, or None if the delivery was already claimed."""
        with self._unit_of_work() as uow:
            if where.delivery_key and not claim_delivery(uow.session, where.platform,
                                                         where.delivery_key):
                return None
            outbox_id = self._queue_reply(uow.session, where, reply)
            uow.commit()
        return outbox_id

    def overview(self, inbound: Inbound, view: ListView = "open", *,
                 target: str | None = None, delivery_key: str | None = None) -> TurnResult:
        """The user's list for ``view``, without a turn: no message is stored and no delivery
        claimed (only the user, on first contact).

        For surfaces that show the list whenever they are opened (Slack's App Home tab), where
        storing a "/list" turn per glance would fill the conversation with noise.
        ``delivery_key`` is kept on the outbox row (to find it when the delivery runs again).
        """
        where = (Where(target, inbound.platform, inbound.workspace, delivery_key)
                 if target else None)
        with self._unit_of_work() as uow:
            user_id = self._user(uow.session, inbound)
            tools = TaskTools(uow.session, user_id, now=self._clock(),
                              profile=self._profile(uow.session, user_id))
            reply = list_reply(tools, view)
            outbox_id = self._queue_reply(uow.session, where, reply, user_id)
            uow.commit()
        return TurnResult(reply=reply, outbox_id=outbox_id)

    # -- commands and buttons --------------------------------------------------------------

    def _instant(self, session: Session, inbound: Inbound, tools: Tools,
                 settings: SettingsStore, conversation_id: int) -> tuple[Reply, int]:
        if inbound.action is not None:
            return self._router.press(inbound.action, tools), conversation_id
        command = parse_command(_user_text(inbound))
        if command is None:  # an empty text
            return Reply(text=HELP_TEXT), conversation_id
        if command.name == "new":
            fresh = start_conversation(session, settings.user_id, inbound.platform,
                                       inbound.chat_key)
            return Reply(text=NEW_CONVERSATION_TEXT), fresh
        if command.name in KNOWN_COMMANDS:
            reply = self._router.run(command, tools, inbound.display_name, settings)
            return reply, conversation_id
        return Reply(text=f"I don't know /{command.name}.\n{HELP_TEXT}"), conversation_id

    # -- free text -------------------------------------------------------------------------

    def _brain_turn(self, inbound: Inbound, where: Where | None,
                    thinking: Callable[[], AbstractContextManager[None]],
                    origin: Origin | None) -> TurnResult:
        context = self._read_context(inbound, where)
        if isinstance(context, TurnResult):
            return context
        user_text = _user_text(inbound)
        now = self._clock()
        tools = ReplayedTools(self._unit_of_work, context.user_id, now=now,
                              profile=context.profile, origin=origin)
        meter = Meter()
        with thinking():
            reply = self._think(inbound, user_text, context, tools, meter)
        day = now.astimezone(context.profile.zone).date()
        with self._unit_of_work() as uow:
            session = uow.session
            if inbound.delivery_key and not claim_delivery(
                    session, inbound.platform, inbound.delivery_key):
                return TurnResult(reply=None, duplicate=True)
            final = replay(tools.bound(session), tools.calls)
            if not same_outcome(tools.calls, final.calls):
                log.info("tasks changed while the brain thought; answering with the outcome")
                reply = _outcome_reply(final.calls)
            reply = _asking_zone(reply, final.calls)
            over = context.allowance.over
            if over is not None and first_notice(session, context.user_id, day, over):
                reply = reply.model_copy(update={"text": f"{reply.text}\n{notice_text(over)}"})
            if _was_cut(inbound):
                reply = reply.model_copy(update={"text": f"{reply.text}\n{CUT_TEXT}"})
            record_usage(session, context.user_id, day, now, meter)
            store_turn(session, context.conversation_id, context.user_id, user_text,
                       reply.as_plain_text(), final.calls, now=now, usage=meter.to_json())
            outbox_id = self._queue_reply(session, where, reply, context.user_id)
            uow.commit()
        return TurnResult(reply=reply, outbox_id=outbox_id)

    def _read_context(self, inbound: Inbound, where: Where | None) -> _Context | TurnResult:
        """User (created on first contact), conversation, history and model allowance,
        committed before the brain is asked; a finished TurnResult when this delivery was
        already processed or is over the rate limit."""
        with self._unit_of_work() as uow:
            session = uow.session
            if inbound.delivery_key and delivery_claimed(session, inbound.platform,
                                                         inbound.delivery_key):
                return TurnResult(reply=None, duplicate=True)
            user_id = self._user(session, inbound)
            now = self._clock()
            verdict = count_message(session, user_id, now, self._limits.messages_per_minute)
            if verdict != "ok":
                if inbound.delivery_key and not claim_delivery(
                        session, inbound.platform, inbound.delivery_key):
                    return TurnResult(reply=None, duplicate=True)
                return self._over_rate(uow, verdict, where, user_id)
            conversation_id = current_conversation(
                session, user_id, inbound.platform, inbound.chat_key)
            history = recent_history(session, conversation_id, self._history_max_messages,
                                     self._history_max_chars)
            profile = self._profile(session, user_id)
            spent = allowance(session, user_id, now.astimezone(profile.zone).date(), now,
                              daily=self._limits.daily_tokens,
                              monthly=self._limits.monthly_tokens)
            uow.commit()
        return _Context(user_id, conversation_id, history, profile, spent)

    def _over_rate(self, uow: UnitOfWork, verdict: Verdict, where: Where | None,
                   user_id: str) -> TurnResult:
        """Past the rate limit: "slow down" the first time this minute, then nothing; no turn
        is stored (the claim, already in this transaction, keeps a redelivery from counting)."""
        outbox_id = None
        reply = None
        if verdict == "slow_down":
            reply = Reply(text=SLOW_DOWN_TEXT)
            outbox_id = self._queue_reply(uow.session, where, reply, user_id)
        uow.commit()
        return TurnResult(reply=reply, outbox_id=outbox_id)

    def _think(self, inbound: Inbound, text: str, context: _Context, tools: ReplayedTools,
               meter: Meter) -> Reply:
        if not text.strip():
            return Reply(text=HELP_TEXT)
        request = BrainRequest(
            text=text[:MAX_INPUT_CHARS], history=context.history, now=tools.now,
            display_name=inbound.display_name, profile=tools.profile, meter=meter,
        )
        brain = self.fallback if context.allowance.over is not None else self.brain
        try:
            return brain.answer(request, tools)
        except BrainUnavailable as failure:
            log.warning("brain unavailable (%s); no task changed", failure.reason)
            tools.calls.clear()
            return Reply(text=failure.user_message)

    # -- shared ----------------------------------------------------------------------------

    def _user(self, session: Session, inbound: Inbound) -> str:
        user_id = resolve_user_id(session, inbound.platform, inbound.workspace,
                                  inbound.external_user_id, inbound.display_name)
        if inbound.timezone and zone_of(inbound.timezone).key == inbound.timezone:
            # The platform knows the person's zone (Slack): keep it current.
            SettingsStore(session, user_id, self._clock(), None).keep_timezone(inbound.timezone)
        return user_id

    @staticmethod
    def _profile(session: Session, user_id: str) -> Profile:
        return read_settings(session, user_id).profile

    def _queue_reply(self, session: Session, where: Where | None, reply: Reply,
                     user_id: str | None = None) -> int | None:
        if where is None:
            return None
        return add_to_outbox(session, platform=where.platform, workspace=where.workspace,
                             delivery_key=where.delivery_key, target=where.target, reply=reply,
                             now=self._clock(), user_id=user_id)


def _asking_zone(reply: Reply, calls: list[ToolCall]) -> Reply:
    """Mark the reply when a time in it was read in the assumed zone."""
    if any(call.result.zone_assumed for call in calls):
        return reply.model_copy(update={"ask_zone": True})
    return reply


def _outcome_reply(calls: list[ToolCall]) -> Reply:
    """What the tools really did, when it differs from what the brain was told."""
    lines = [call.result.message for call in calls] or ["Nothing was changed."]
    return Reply(text="\n".join([*lines, CHANGED_MEANWHILE]))


def _user_text(inbound: Inbound) -> str:
    """What the user "said", for storage: their text (its first :data:`MAX_INPUT_CHARS`), or
    the button they pressed."""
    if inbound.action is not None:
        return _describe_action(inbound.action)
    return strip_control_characters((inbound.text or "")[:MAX_INPUT_CHARS]).strip()


def _was_cut(inbound: Inbound) -> bool:
    return inbound.action is None and len(inbound.text or "") > MAX_INPUT_CHARS


def _describe_action(action: ButtonAction) -> str:
    return f"/{action.kind} {action.number}"
