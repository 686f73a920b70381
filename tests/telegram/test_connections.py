"""Database connections under concurrency: a turn runs on the connection that holds its chat.

Before, a held chat kept one pooled connection for its lock and took a second for the turn; a
local server with as many busy chats as pool connections (5 + 10 overflow) deadlocked until
the pool's 30 s timeout, answering 500 to every one of them. PostgreSQL, as in production.
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from bot_core.bootstrap import build_service
from bot_core.inbound import Inbound
from bot_core.settings import Settings
from bot_core.turn_queue import PendingTurn, TurnQueue
from models.db import normalise_database_url
from tests.telegram.conftest import TelegramBot, private_text, run_concurrently

CHATS = 24  # more than the local server's 15 pooled connections


def test_more_busy_chats_than_pool_connections_all_get_their_turn(tg: TelegramBot) -> None:
    updates = [private_text(f"/add Task of {n}", user_id=7_000_000 + n) for n in range(CHATS)]

    statuses = run_concurrently([lambda u=u: tg.post(u)["statusCode"] for u in updates])

    assert statuses == [200] * CHATS
    assert tg.rows("users") == tg.rows("tasks") == CHATS
    assert tg.rows("messages") == 2 * CHATS
    assert len(tg.api.calls_to("sendMessage")) == CHATS
    assert tg.rows("turn_queue") == 0


def test_one_pooled_connection_is_enough_for_a_held_chat_and_its_turn(pg_url: str) -> None:
    engine = create_engine(normalise_database_url(pg_url), pool_size=1, max_overflow=0,
                           pool_timeout=2)
    try:
        service = build_service(Settings(database_url=pg_url), engine=engine)
        queue = TurnQueue(engine)
        said = Inbound(platform="p", chat_id="chat", external_user_id="u", text="/add one")

        def process(pending: PendingTurn) -> None:
            assert pending.connection is not None
            service.handle(said, connection=pending.connection)

        with queue.receiving("p", "chat", 1, "{}", wait=True, durable=False) as turns:
            assert turns is not None
            assert turns.drain(1, process) == 1

        with engine.connect() as conn:
            assert conn.execute(text("SELECT title FROM tasks")).scalars().all() == ["one"]
            assert conn.execute(text("SELECT count(*) FROM turn_queue")).scalar_one() == 0
    finally:
        engine.dispose()


def test_a_failed_turn_on_the_held_connection_leaves_nothing_half_written(pg_url: str) -> None:
    """The turn's transaction on the held connection rolls back as a whole; the delivery
    stays queued with its attempt counted, and the connection goes on serving the queue."""
    engine = create_engine(normalise_database_url(pg_url), pool_size=1, max_overflow=0,
                           pool_timeout=2)
    try:
        service = build_service(Settings(database_url=pg_url), engine=engine)
        queue = TurnQueue(engine)
        said = Inbound(platform="p", chat_id="chat", external_user_id="u", text="/add one",
                       delivery_key="d-1")

        def fail_after_the_turn(pending: PendingTurn) -> None:
            assert pending.connection is not None
            conn = pending.connection
            with conn.begin():  # the turn's writes, then a failure before its commit
                conn.execute(text("INSERT INTO delivery_claims (platform, delivery_key, "
                                  "claimed_at) VALUES ('p', 'half', now())"))
                raise RuntimeError("database went away")

        with pytest.raises(RuntimeError), queue.receiving(
                "p", "chat", 1, "{}", wait=True, durable=False) as turns:
            assert turns is not None
            turns.drain(1, fail_after_the_turn)
        with queue.holding("p", "chat") as turns:
            assert turns is not None
            turns.drain(1, lambda pending: service.handle(said,
                                                          connection=pending.connection))

        with engine.connect() as conn:
            claims = conn.execute(text("SELECT delivery_key FROM delivery_claims")).scalars()
            assert list(claims) == ["d-1"]
            assert conn.execute(text("SELECT count(*) FROM tasks")).scalar_one() == 1
    finally:
        engine.dispose()
