"""Database connections under concurrency: more busy chats than pooled connections all get
their turn (an earlier design deadlocked there until the pool's 30 s timeout). PostgreSQL."""

from __future__ import annotations

from tests.telegram.conftest import TelegramBot, private_text, run_concurrently

CHATS = 24  # more than the local server's 15 pooled connections


def test_more_busy_chats_than_pool_connections_all_get_their_turn(tg: TelegramBot) -> None:
    updates = [private_text(f"/add Task of {n}", user_id=7_000_000 + n) for n in range(CHATS)]

    statuses = run_concurrently([lambda u=u: tg.post(u)["statusCode"] for u in updates])

    assert statuses == [200] * CHATS
    assert tg.rows("users") == tg.rows("tasks") == CHATS
    assert tg.rows("messages") == 2 * CHATS
    assert len(tg.api.calls_to("sendMessage")) == CHATS
    assert tg.rows("outbox", "sent_at IS NOT NULL") == CHATS
