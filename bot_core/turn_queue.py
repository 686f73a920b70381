"""The turn queue: the turns of one chat run one at a time, in the platform's order.

Why a queue and not just a lock: a platform may deliver one chat's updates concurrently
(redeliveries, several connections), and a free-text turn is finished in a *deferred*
invocation after the webhook has already answered. A lock alone would serialise turns but in
whatever order they reach it; the queue remembers every received delivery (``seq``: Telegram's
update_id) so whoever holds the chat's lock takes them lowest first.

The protocol, used by the platform adapters:

1. ``enqueue`` the delivery (committed at once, before the webhook answers);
2. hold the chat (:meth:`TurnQueue.holding`) and ``drain`` up to the delivery's own ``seq``.

:meth:`TurnQueue.receiving` does both for a webhook that processes its delivery at once, in
fewer round trips when the chat is free (the common case, and the one a warm turn pays for).

Whoever holds a chat processes everything pending up to its own delivery, lowest first, and
leaves later ones to their own requests; so every delivery is processed by the time its own
request (or deferred invocation) finishes, and never before an earlier pending one.

Holding a chat: an in-process lock (threads of one server never pile up on database
connections), then on PostgreSQL a session advisory lock on its own connection (processes and
Lambda containers). That connection also runs the turns (:attr:`PendingTurn.connection`): one
connection per held chat, so a server with as many busy chats as pool connections cannot
deadlock with every holder waiting for a second one. SQLite has no cross-process locks; it is
the single-process local setup.

Durability: on PostgreSQL the queue's own bookkeeping (the attempt count, the removal, and the
receipt when the caller says so) commits without waiting for the WAL flush. Losing one of those
in a database crash is harmless: a lost count is one retry more, a lost removal makes the
delivery run again as a no-op (the turn's delivery claim), and a lost receipt belongs to a
request that had not been answered yet, since an inline turn's own synchronous commit flushes
the receipt with it. A receipt the platform is told about before any turn runs (a deferred
turn) is written durably.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Update,
    delete,
    func,
    select,
    text,
    update,
)
from sqlmodel import col

from bot_core.conversations import ChatBusy, claim_delivery
from models.db import UnitOfWork, insert_ignoring_conflicts
from models.tables import DeliveryClaim, QueuedTurn
from models.types import utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
MAX_AGE = timedelta(minutes=10)
"""A delivery still waiting after this long is dropped (logged) instead of run: its deferred
invocation failed for good (Lambda gives up on async events after 5 minutes), and answering it
hours later, ahead of the message that happened to wake its chat, would be out of place."""
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
    connection: Connection | None = field(default=None, compare=False, repr=False)
    """Where the turn's unit of work runs: the connection holding the chat (PostgreSQL),
    in a transaction of its own while ``process`` runs; None on SQLite (use the engine)."""


class _Gates:
    """Per-chat in-process locks, created on demand and forgotten when nobody holds or waits."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str, *, wait: bool, timeout: float) -> Iterator[bool]:
        """Yields whether the chat's lock was taken; with ``wait``, waits at most ``timeout``
        seconds and then raises :class:`ChatBusy` (a server's worker threads must never all
        pile up behind one chat's slow turn)."""
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            acquired = lock.acquire(timeout=timeout) if wait else lock.acquire(blocking=False)
            if wait and not acquired:
                raise ChatBusy(f"chat busy for more than {timeout:g} s")
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
        key = _lock_key(platform, chat_key)
        with _GATES.hold(key, wait=wait, timeout=self._lock_wait_ms / 1000) as gated:
            if not gated:
                yield None
                return
            with self._held(platform, chat_key,
                            lambda conn: self._advisory_lock(conn, key, wait=wait)) as turns:
                yield turns

    @contextmanager
    def receiving(self, platform: str, chat_key: str, seq: int, payload: str, *, wait: bool,
                  durable: bool) -> Iterator[ChatTurns | None]:
        """:meth:`enqueue` the delivery, then :meth:`holding` its chat.

        When nobody in this process holds the chat, on PostgreSQL, the insert and the first
        attempt at the chat's lock are one statement on the connection that then holds the
        chat. Otherwise the delivery is queued first, then the chat waited for, so whoever
        holds it meanwhile finds it. ``durable=False`` lets the insert commit without waiting
        for the WAL flush: only for a caller that answers the platform after processing the
        delivery (whose turn commits synchronously) or with an error (the platform retries).
        """
        key = _lock_key(platform, chat_key)
        if self._postgresql:
            with _GATES.hold(key, wait=False, timeout=0) as gated:
                if gated:
                    def lock(conn: Connection) -> bool:
                        return self._enqueue_and_lock(conn, key, platform, chat_key, seq,
                                                      payload, wait=wait, durable=durable)

                    with self._held(platform, chat_key, lock) as turns:
                        yield turns
                    return
        self.enqueue(platform, chat_key, seq, payload)
        with self.holding(platform, chat_key, wait=wait) as turns:
            yield turns

    @contextmanager
    def _held(self, platform: str, chat_key: str, lock: Callable[[Connection], bool]
              ) -> Iterator[ChatTurns | None]:
        """The chat's turns on a connection that ``lock`` took the chat's lock on (PostgreSQL;
        None if it could not), released afterwards."""
        if not self._postgresql:
            yield ChatTurns(self._engine, platform, chat_key, held=None)
            return
        with self._engine.connect() as conn:
            # Autocommit: the lock is the session's, and each queue statement below is
            # atomic on its own; no transaction stays open between turns.
            conn.execution_options(isolation_level="AUTOCOMMIT")
            if not lock(conn):
                yield None
                return
            try:
                yield ChatTurns(self._engine, platform, chat_key, held=conn)
            finally:
                self._advisory_unlock(conn, _lock_key(platform, chat_key))

    def _enqueue_and_lock(self, conn: Connection, key: str, platform: str, chat_key: str,
                          seq: int, payload: str, *, wait: bool, durable: bool) -> bool:
        statement = _ENQUEUE_AND_TRY_LOCK if durable else _ENQUEUE_AND_TRY_LOCK_NO_FLUSH
        got = conn.execute(statement, {"platform": platform, "chat_key": chat_key, "seq": seq,
                                       "payload": payload, "k": key}).scalar_one()
        if got or not wait:
            return bool(got)
        return self._advisory_lock(conn, key, wait=True)

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

    On PostgreSQL the queue statements and the turns run on the connection that holds the
    chat's lock (no extra pool checkouts); on SQLite each queue statement runs in a short
    transaction of its own and the turns use the engine.
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
            with self._turn_transaction():
                process(turn)
            self._remove(turn.seq)
            done += 1
            if turn.seq == upto:
                break  # the delivery this drain was for; later ones have their own drains
        return done

    def _take(self, upto: int) -> PendingTurn | None:
        """The lowest waiting delivery up to ``upto``, its attempt counted in the same
        statement; one that has failed too often is dropped on the way."""
        while True:
            with self._connection() as conn:
                if self._held is not None:
                    row = conn.execute(_TAKE_NO_FLUSH, {"platform": self.platform,
                                                        "chat_key": self.chat_key,
                                                        "upto": upto}).first()
                else:
                    row = conn.execute(_take_statement(self.platform, self.chat_key,
                                                       upto)).first()
            if row is None:
                return None
            seq, payload, attempts = int(row[0]), str(row[1]), int(row[2])
            age = utcnow() - _aware(row[3])
            if attempts <= MAX_ATTEMPTS and age <= MAX_AGE:
                return PendingTurn(self.platform, self.chat_key, seq, payload, attempts,
                                   connection=self._held)
            self._remove(seq)
            log.error("dropped %s delivery %s of a chat after %d failed attempts, %d s old",
                      self.platform, seq, attempts - 1, age.total_seconds())

    def _remove(self, seq: int) -> None:
        with self._connection() as conn:
            if self._held is not None:
                conn.execute(_REMOVE_NO_FLUSH, {"platform": self.platform,
                                                "chat_key": self.chat_key, "seq": seq})
            else:
                conn.execute(delete(QueuedTurn).where(*_chat(self.platform, self.chat_key),
                                                      col(QueuedTurn.seq) == seq))

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self._held is not None:
            yield self._held
            return
        with self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _turn_transaction(self) -> Iterator[None]:
        """While ``process`` runs, the held connection leaves autocommit so that the turn's
        unit of work on it is one transaction; back to autocommit afterwards."""
        conn = self._held
        if conn is None:
            yield
            return
        conn.commit()  # ends SQLAlchemy's autobegun (no-op) transaction; nothing is sent
        conn.execution_options(isolation_level=conn.default_isolation_level)
        try:
            yield
        finally:
            if conn.in_transaction():
                conn.rollback()  # whatever process() left open, never half-committed
            conn.execution_options(isolation_level="AUTOCOMMIT")


def _has_earlier(conn: Connection, platform: str, chat_key: str, seq: int) -> bool:
    found = conn.execute(
        select(col(QueuedTurn.seq)).where(*_chat(platform, chat_key),
                                          col(QueuedTurn.seq) < seq).limit(1)
    ).first()
    return found is not None


def record_delivery(bind: Engine | Connection, platform: str, delivery_key: str) -> bool:
    """Claim a delivery that needs no turn (e.g. a sticker answered with a fixed line), so that
    a redelivery is not answered twice. False if it was already claimed."""
    with UnitOfWork(bind) as uow:
        claimed = claim_delivery(uow.session, platform, delivery_key)
        uow.commit()
    return claimed


def delivery_claimed(bind: Engine | Connection, platform: str, delivery_key: str) -> bool:
    """True if this delivery was already processed (a read; the turn's own claim is what makes
    processing happen once). Lets a redelivery skip what comes before the turn, such as the
    "typing…" shown while the brain thinks."""
    with UnitOfWork(bind) as uow:
        found = uow.session.execute(
            select(col(DeliveryClaim.platform)).where(
                col(DeliveryClaim.platform) == platform,
                col(DeliveryClaim.delivery_key) == delivery_key)
        ).first()
    return found is not None


def _chat(platform: str, chat_key: str) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    return (col(QueuedTurn.platform) == platform, col(QueuedTurn.chat_key) == chat_key)


def _aware(moment: datetime) -> datetime:
    """``received_at`` as read back: aware UTC (raw SQL on SQLite would give a naive one)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _lock_key(platform: str, chat_key: str) -> str:
    return f"{platform}\x1f{chat_key}"


def _take_statement(platform: str, chat_key: str, upto: int) -> Update:
    lowest = (select(func.min(QueuedTurn.seq))
              .where(*_chat(platform, chat_key), col(QueuedTurn.seq) <= upto)
              .scalar_subquery())
    return (update(QueuedTurn)
            .where(*_chat(platform, chat_key), col(QueuedTurn.seq) == lowest)
            .values(attempts=col(QueuedTurn.attempts) + 1)
            .returning(col(QueuedTurn.seq), col(QueuedTurn.payload), col(QueuedTurn.attempts),
                       col(QueuedTurn.received_at)))


# PostgreSQL statements of the held connection. ``no_flush`` makes the statement's own
# (autocommit) transaction commit without waiting for the WAL flush; see the module docstring
# for why that is safe for each of them.
_NO_FLUSH = "WITH no_flush AS (SELECT set_config('synchronous_commit', 'off', true)) "
_ENQUEUE = (
    "queued AS (INSERT INTO turn_queue (platform, chat_key, seq, payload, attempts, received_at)"
    " VALUES (:platform, :chat_key, :seq, :payload, 0, now())"
    " ON CONFLICT (platform, chat_key, seq) DO NOTHING RETURNING seq) "
)
_ENQUEUE_AND_TRY_LOCK = text(
    "WITH " + _ENQUEUE + "SELECT pg_try_advisory_lock(hashtextextended(:k, 0))")
_ENQUEUE_AND_TRY_LOCK_NO_FLUSH = text(
    _NO_FLUSH + ", " + _ENQUEUE
    + "SELECT pg_try_advisory_lock(hashtextextended(:k, 0)) FROM no_flush")
_TAKE_NO_FLUSH = text(
    _NO_FLUSH + "UPDATE turn_queue SET attempts = turn_queue.attempts + 1 FROM no_flush"
    " WHERE platform = :platform AND chat_key = :chat_key AND seq = ("
    "SELECT min(seq) FROM turn_queue WHERE platform = :platform AND chat_key = :chat_key"
    " AND seq <= :upto) RETURNING seq, payload, attempts, received_at")
_REMOVE_NO_FLUSH = text(
    _NO_FLUSH + "DELETE FROM turn_queue USING no_flush"
    " WHERE platform = :platform AND chat_key = :chat_key AND seq = :seq")
