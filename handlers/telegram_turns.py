"""One Telegram update from receipt to reply, in its chat's order.

Receipt (:func:`receive`): parse, decide, and for anything that makes a turn or an answer,
queue it (see :mod:`bot_core.turn_queue`) before the webhook answers. Then either process the
chat's queue up to this update right here, or leave it to a deferred invocation:

- outside Lambda (``todobot serve``, ``todobot telegram poll``, tests): right here, waiting for
  the chat if another turn of it is running;
- in Lambda: right here only for a command, a button or a fixed answer, and only if nothing
  earlier of the same chat is waiting and nobody holds the chat; everything else (free text for
  the LLM, or an update queued behind one) is acknowledged and finished by an asynchronous
  invocation of the same function (:func:`run_deferred`).

Processing (:func:`process`): run the turn through the core (one transaction, delivery claim
included, so a redelivered update does nothing), show "typing…" while the brain thinks, then
deliver the reply. Database errors propagate (the webhook answers 5xx and Telegram redelivers);
Telegram errors while replying are logged, since the turn is already stored.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from bot_core.service import needs_brain
from bot_core.turn_queue import PendingTurn, TurnQueue, delivery_claimed, record_delivery
from handlers import event_loop, lambda_async
from handlers.runtime import shared_engine, shared_service
from handlers.telegram_adapter import (
    PLATFORM,
    AnswerOnly,
    Canned,
    Decision,
    Ignore,
    ReplyTarget,
    Turn,
    Unparseable,
    classify,
    is_group,
    parse_update,
)
from handlers.telegram_client import client
from handlers.telegram_sender import Sender

if TYPE_CHECKING:
    from sqlalchemy import Connection
    from telegram import Update

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 60.0
TURN_FAILED_TOAST = "Sorry, that didn't work — please try again in a moment."


@dataclass(frozen=True)
class Deferral:
    """How to finish a turn later: an asynchronous invocation of this Lambda function."""

    function_name: str

    def defer(self, chat_key: str, upto: int) -> None:
        lambda_async.invoke_async(self.function_name,
                                  {"platform": PLATFORM, "chat_key": chat_key, "upto": upto})


@lru_cache(maxsize=1)
def shared_queue() -> TurnQueue:
    """The process's turn queue, on the process's engine."""
    return TurnQueue(shared_engine())


def sender() -> Sender:
    return Sender(client().bot)


def receive(data: dict[str, Any], deferral: Deferral | None) -> None:
    """Handle one update received by the webhook or by polling (see the module docstring)."""
    try:
        update = parse_update(data)
    except Unparseable as error:
        log.warning("ignored an update python-telegram-bot cannot parse (%s)", error)
        return
    decision = _decide(update)
    if isinstance(decision, Ignore):
        log.info("ignored update %s: %s", update.update_id, decision.reason)
        return
    if isinstance(decision, AnswerOnly):
        # Claimed like any delivery, so that a redelivered press is not answered again.
        if record_delivery(shared_engine(), PLATFORM, str(update.update_id)):
            _deliver_safely(sender().answer(decision.callback_query_id, decision.text))
        return
    queue = shared_queue()
    payload = json.dumps(data)
    known = partial(process, known=decision)  # no second parse of this very update
    if deferral is None:
        # The answer waits for the turn (or is an error Telegram retries), so the receipt
        # need not wait for the WAL flush of its own (see bot_core.turn_queue).
        with queue.receiving(PLATFORM, decision.chat_key, decision.seq, payload, wait=True,
                             durable=False) as turns:
            assert turns is not None, "a waiting hold always gets the chat"
            turns.drain(decision.seq, known)
        return
    if isinstance(decision, Turn) and needs_brain(decision.inbound):
        queue.enqueue(PLATFORM, decision.chat_key, decision.seq, payload)
    else:
        with queue.receiving(PLATFORM, decision.chat_key, decision.seq, payload, wait=False,
                             durable=True) as turns:
            if turns is not None and not turns.has_earlier(decision.seq):
                turns.drain(decision.seq, known)
                return
    deferral.defer(decision.chat_key, decision.seq)


def run_deferred(payload: dict[str, Any]) -> None:
    """The asynchronous invocation: process the chat's queue up to the deferred update."""
    chat_key, upto = str(payload["chat_key"]), int(payload["upto"])
    drain(chat_key, upto)


def drain(chat_key: str, upto: int) -> None:
    """Wait for the chat, then process its waiting updates up to ``upto``, lowest first."""
    with shared_queue().holding(PLATFORM, chat_key, wait=True) as turns:
        assert turns is not None, "a waiting hold always gets the chat"
        turns.drain(upto, process)


def process(pending: PendingTurn, known: Decision | None = None) -> None:
    """Process one queued update: its turn (or fixed answer) and the reply. ``known``: the
    decision the webhook already made for the update it received, used if this is it."""
    if known is not None and isinstance(known, Turn | Canned) and known.seq == pending.seq:
        decision: Decision = known
    else:
        decision = _decide(parse_update(json.loads(pending.payload)))
    if isinstance(decision, Turn):
        _turn(decision, pending.connection)
    elif isinstance(decision, Canned):
        if record_delivery(pending.connection or shared_engine(), PLATFORM, str(decision.seq)):
            _deliver_safely(sender().say(decision.text, decision.target))
    else:
        log.warning("queued update %s is no longer actionable", pending.seq)


def _decide(update: Update) -> Decision:
    return classify(update, client().identity(with_username=is_group(update)))


def _turn(turn: Turn, connection: Connection | None) -> None:
    thinking = None
    if needs_brain(turn.inbound):
        # A redelivered update must not show "typing…" again; commands skip this read (their
        # turn's claim answers the same question at no extra cost).
        if delivery_claimed(connection or shared_engine(), PLATFORM, str(turn.seq)):
            log.info("update %s was already processed", turn.seq)
            return
        thinking = _start_typing(turn.target)
    try:
        result = shared_service().handle(turn.inbound, connection=connection)
    except Exception:
        if turn.target.callback_query_id is not None:
            _deliver_safely(sender().answer(turn.target.callback_query_id, TURN_FAILED_TOAST))
        raise
    finally:
        if thinking is not None:
            thinking.cancel()
    if result.duplicate or result.reply is None:
        log.info("update %s was already processed", turn.seq)
        return
    owner = int(turn.inbound.external_user_id)
    _deliver_safely(sender().deliver(result.reply, turn.target, owner))


def _start_typing(target: ReplyTarget) -> Future[None]:
    """Show "typing…" now (waited for, so it comes before the answer), then keep renewing it
    until the returned future is cancelled."""
    _deliver_safely(sender().typing(target))
    return event_loop.start(sender().keep_typing(target))


def _deliver_safely(coro: Any) -> None:
    """Run a Telegram call; failures are logged, not raised: the turn is already stored, and
    a redelivery would not answer again anyway."""
    from telegram.error import TelegramError

    try:
        _run(coro)
    except (TelegramError, FutureTimeout) as error:
        log.warning("Telegram call failed: %s: %s", type(error).__name__, error)


def _run(coro: Any) -> None:
    event_loop.run(coro, timeout=SEND_TIMEOUT_SECONDS)


def reset() -> None:
    """Forget the queue (tests that change the database between cases)."""
    shared_queue.cache_clear()
