"""The floor of a Telegram ``/add`` turn: what it must cost at the very least, measured here.

The same rows the turn writes (delivery claim, identity lookup, the conversation's lock, the
chat's conversation, the task counter, the task, both messages), written by plain psycopg in
one transaction with hand-written SQL, then one keep-alive HTTP POST of the same
``sendMessage`` body python-telegram-bot sends, to the same fake Bot API. No ORM, no queue, no
Telegram library: the warm turn benchmark divides by this, timed in the same run.
"""

from __future__ import annotations

import http.client
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import psycopg

from models.db import normalise_database_url

PLATFORM = "telegram"
CHAT = "990000001"


def libpq_url(url: str) -> str:
    """A SQLAlchemy ``postgresql+psycopg://`` URL as psycopg itself takes it."""
    return normalise_database_url(url).replace("postgresql+psycopg://", "postgresql://", 1)


class FloorTurn:
    """One chat's ``/add`` turns written the cheapest way, on one warm connection."""

    def __init__(self, database_url: str, api_url: str, token: str) -> None:
        self._db = psycopg.connect(libpq_url(database_url), autocommit=True)
        parts = urlsplit(api_url)
        self._http = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port)
        self._path = f"/bot{token}/sendMessage"
        self._seq = 0
        self.user_id = "floor-user"
        self._seed()

    def _seed(self) -> None:
        """The user, identity and conversation a returning user already has."""
        now = datetime.now(UTC)
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO users (id, display_name, last_task_number, created_at) "
                "VALUES (%s, 'Floor', 0, %s) ON CONFLICT DO NOTHING", (self.user_id, now))
            self._db.execute(
                "INSERT INTO chat_identities (platform, workspace, external_user_id, user_id, "
                "created_at) VALUES (%s, '', %s, %s, %s) ON CONFLICT DO NOTHING",
                (PLATFORM, CHAT, self.user_id, now))
            self._db.execute(
                "INSERT INTO conversations (user_id, platform, chat_key, created_at) "
                "VALUES (%s, %s, %s, %s)", (self.user_id, PLATFORM, CHAT, now))

    def turn(self) -> None:
        """One ``/add``: the turn's rows in one transaction, then the reply."""
        self._seq += 1
        title = f"Floor task {self._seq}"
        now = datetime.now(UTC)
        db = self._db
        with db.transaction():
            claimed = db.execute(
                "INSERT INTO delivery_claims (platform, delivery_key, claimed_at) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING platform",
                (PLATFORM, f"floor-{self._seq}-{id(self)}", now)).fetchone()
            assert claimed is not None
            row = db.execute(
                "SELECT user_id FROM chat_identities WHERE platform = %s AND workspace = '' "
                "AND external_user_id = %s", (PLATFORM, CHAT)).fetchone()
            assert row is not None
            user_id = row[0]
            # The conversation's lock, as the turn takes it (bot_core.conversations.lock_chat).
            db.execute("SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
                       (f"{user_id}\x1f{PLATFORM}\x1f{CHAT}",))
            row = db.execute(
                "SELECT id FROM conversations WHERE user_id = %s AND platform = %s "
                "AND chat_key = %s ORDER BY id DESC LIMIT 1", (user_id, PLATFORM, CHAT)
            ).fetchone()
            assert row is not None
            conversation_id = row[0]
            row = db.execute(
                "UPDATE users SET last_task_number = last_task_number + 1 WHERE id = %s "
                "RETURNING last_task_number", (user_id,)).fetchone()
            assert row is not None
            number = row[0]
            db.execute(
                "INSERT INTO tasks (user_id, number, title, completed, created_at, updated_at) "
                "VALUES (%s, %s, %s, false, %s, %s) RETURNING id",
                (user_id, number, title, now, now))
            reply = f"Added #{number}: {title}"
            db.execute(
                "INSERT INTO messages (conversation_id, user_id, role, content, created_at) "
                "VALUES (%s, %s, 'user', %s, %s), (%s, %s, 'assistant', %s, %s)",
                (conversation_id, user_id, f"/add {title}", now,
                 conversation_id, user_id, reply, now))
        self._send(reply)

    def _send(self, text: str) -> None:
        body = urlencode({"chat_id": CHAT, "text": text,
                          "link_preview_options": json.dumps({"is_disabled": True}),
                          "parse_mode": "HTML"})
        self._http.request("POST", self._path, body=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"})
        answer: Any = json.loads(self._http.getresponse().read())
        assert answer["ok"], answer

    def close(self) -> None:
        self._http.close()
        self._db.close()
