"""The turn queue: the turns of one chat run one at a time, in the platform's order.

Why a queue and not just a lock: a platform may deliver one chat's updates concurrently
(redeliveries, several connections), and a free-text turn is finished in a *deferred*
invocation after the webhook has already answered. A lock alone would serialise turns but in
whatever order they reach it; the queue remembers every received delivery (``seq``: Telegram's
update_id) so whoever holds the chat's lock takes them lowest first.

The protocol, used by the platform adapters:

1. ``enqueue`` the delivery (committed at once, before the webhook answers);
2. hold the chat (:meth:`TurnQueue.holding`) and ``drain`` up to the delivery's own ``seq``.

Whoever holds a chat processes everything pending up to its own delivery, lowest first, and
leaves later ones to their own requests; so every delivery is processed by the time its own
request (or deferred invocation) finishes, and never before an earlier pending one.

Holding a chat: an in-process lock (threads of one server never pile up on database
connections), then on PostgreSQL a session advisory lock on its own connection (processes and
Lambda containers). SQLite has no cross-process locks; it is the single-process local setup.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    delete,
    func,
    select,
    text,
    update,
)
from sqlmodel import col

from bot_core.conversations import claim_delivery
from models.db import UnitOfWork, insert_ignoring_conflicts
from models.tables import QueuedTurn
from models.types import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
"""A delivery whose processing failed this many times is dropped (logged), so that one
poisoned update cannot block its chat forever."""


@dataclass(frozen=True)
class PendingTurn:
    """One queued delivery, as handed to the platform's ``process`` callback."""

    platform: str
    chat_key: str
    seq: int
    payload: str
    attempts: int


class _Gates:
    """Per-chat in-process locks, created on demand and forgotten when nobody holds or waits."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str, *, wait: bool) -> Iterator[bool]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            acquired = lock.acquire(blocking=wait)
            try:
                yield acquired
            finally:
                if acquired:
                    lock.release()
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users <= 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


_GATES = _Gates()


class TurnQueue:
    """The queue on one database. ``lock_wait_seconds`` bounds how long a drain waits for the
    chat (an LLM turn ahead of it); past it the drain fails and the platform retries."""

    def __init__(self, engine: Engine, *, lock_wait_seconds: float = 60.0) -> None:
        self._engine = engine
        self._lock_wait_ms = int(lock_wait_seconds * 1000)
        self._postgresql = engine.dialect.name == "postgresql"

    def enqueue(self, platform: str, chat_key: str, seq: int, payload: str) -> bool:
        """Record a received delivery; False if it is already waiting (a redelivery)."""
        with UnitOfWork(self._engine) as uow:
            inserted = insert_ignoring_conflicts(
                uow.session, QueuedTurn,
                {"platform": platform, "chat_key": chat_key, "seq": seq, "payload": payload,
                 "attempts": 0, "received_at": utcnow()},
                ["platform", "chat_key", "seq"],
            )
            uow.commit()
        return inserted

    def has_earlier(self, platform: str, chat_key: str, seq: int) -> bool:
        """True if an earlier delivery of this chat is still waiting."""
        with self._engine.connect() as conn:
            return _has_earlier(conn, platform, chat_key, seq)

    def waiting(self, platform: str, chat_key: str) -> int:
        """How many deliveries of this chat are waiting (operations and tests)."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(col(QueuedTurn.seq)).where(*_chat(platform, chat_key))
            ).all()
        return len(rows)

    @contextmanager
    def holding(self, platform: str, chat_key: str, *, wait: bool = True
                ) -> Iterator[ChatTurns | None]:
        """Hold the chat: yields its :class:`ChatTurns`, or None when ``wait`` is False and
        somebody else holds it."""
        key = f"{platform}\x1f{chat_key}"
        with _GATES.hold(key, wait=wait) as gated:
            if not gated:
                yield None
                return
            if not self._postgresql:
                yield ChatTurns(self._engine, platform, chat_key, held=None)
                return
            with self._engine.connect() as conn:
                # Autocommit: the lock is the session's, and each queue statement below is
                # atomic on its own; no transaction stays open while a turn runs.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                if not self._advisory_lock(conn, key, wait=wait):
                    yield None
                    return
                try:
                    yield ChatTurns(self._engine, platform, chat_key, held=conn)
                finally:
                    self._advisory_unlock(conn, key)

    def _advisory_lock(self, conn: Connection, key: str, *, wait: bool) -> bool:
        got = conn.execute(text("SELECT pg_try_advisory_lock(hashtextextended(:k, 0))"),
                           {"k": key}).scalar_one()
        if got or not wait:
            return bool(got)
        # Waiting may outlast the engine's statement timeout (an LLM turn is ahead); bound it
        # by lock_timeout instead, for this connection only, and restore both afterwards.
        conn.execute(text("SELECT set_config('statement_timeout', '0', false), "
                          "set_config('lock_timeout', :ms, false)"),
                     {"ms": str(self._lock_wait_ms)})
        try:
            conn.execute(text("SELECT pg_advisory_lock(hashtextextended(:k, 0))"), {"k": key})
        finally:
            conn.execute(text("RESET statement_timeout"))
            conn.execute(text("RESET lock_timeout"))
        return True

    @staticmethod
    def _advisory_unlock(conn: Connection, key: str) -> None:
        try:
            conn.execute(text("SELECT pg_advisory_unlock(hashtextextended(:k, 0))"), {"k": key})
        except Exception:
            # A lock we cannot release must not go back to the pool with its session.
            conn.invalidate()
            raise


class ChatTurns:
    """A held chat: its waiting deliveries, to be processed lowest first.

    On PostgreSQL the queue statements run on the connection that holds the chat's lock (no
    extra pool checkouts); on SQLite each runs in a short transaction of its own.
    """

    def __init__(self, engine: Engine, platform: str, chat_key: str,
                 held: Connection | None) -> None:
        self._engine = engine
        self._held = held
        self.platform = platform
        self.chat_key = chat_key

    def has_earlier(self, seq: int) -> bool:
        """True if a delivery before ``seq`` is still waiting."""
        with self._connection() as conn:
            return _has_earlier(conn, self.platform, self.chat_key, seq)

    def drain(self, upto: int, process: Callable[[PendingTurn], None]) -> int:
        """Process every waiting delivery up to ``upto``, lowest first; returns how many.

        A delivery leaves the queue only after ``process`` returned; if it raises, the delivery
        stays (its attempt counted) and the error propagates, so the platform's retry finds it.
        A delivery processed twice (crash between its turn and its removal) is harmless: the
        turn's delivery claim makes the second run a no-op.
        """
        done = 0
        while (turn := self._take(upto)) is not None:
            process(turn)
            self._remove(turn.seq)
            done += 1
            if turn.seq == upto:
                break  # the delivery this drain was for; later ones have their own drains
        return done

    def _take(self, upto: int) -> PendingTurn | None:
        """The lowest waiting delivery up to ``upto``, its attempt counted in the same
        statement; one that has failed too often is dropped on the way."""
        lowest = (select(func.min(QueuedTurn.seq))
                  .where(*_chat(self.platform, self.chat_key), col(QueuedTurn.seq) <= upto)
                  .scalar_subquery())
        claim = (update(QueuedTurn)
                 .where(*_chat(self.platform, self.chat_key), col(QueuedTurn.seq) == lowest)
                 .values(attempts=col(QueuedTurn.attempts) + 1)
                 .returning(col(QueuedTurn.seq), col(QueuedTurn.payload),
                            col(QueuedTurn.attempts)))
        while True:
            with self._connection() as conn:
                row = conn.execute(claim).first()
            if row is None:
                return None
            seq, payload, attempts = int(row[0]), str(row[1]), int(row[2])
            if attempts <= MAX_ATTEMPTS:
                return PendingTurn(self.platform, self.chat_key, seq, payload, attempts)
            self._remove(seq)
            log.error("dropped %s delivery %s of a chat after %d failed attempts",
                      self.platform, seq, attempts - 1)

    def _remove(self, seq: int) -> None:
        with self._connection() as conn:
            conn.execute(delete(QueuedTurn).where(*_chat(self.platform, self.chat_key),
                                                  col(QueuedTurn.seq) == seq))

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self._held is not None:
            yield self._held
            return
        with self._engine.begin() as conn:
            yield conn


def _has_earlier(conn: Connection, platform: str, chat_key: str, seq: int) -> bool:
    found = conn.execute(
        select(col(QueuedTurn.seq)).where(*_chat(platform, chat_key),
                                          col(QueuedTurn.seq) < seq).limit(1)
    ).first()
    return found is not None


def record_delivery(engine: Engine, platform: str, delivery_key: str) -> bool:
    """Claim a delivery that needs no turn (e.g. a sticker answered with a fixed line), so that
    a redelivery is not answered twice. False if it was already claimed."""
    with UnitOfWork(engine) as uow:
        claimed = claim_delivery(uow.session, platform, delivery_key)
        uow.commit()
    return claimed


def _chat(platform: str, chat_key: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (col(QueuedTurn.platform) == platform, col(QueuedTurn.chat_key) == chat_key)
