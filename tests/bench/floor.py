"""The floor of a Telegram ``/add`` turn: what it must cost at the very least, measured here.

The statements the turn makes, by plain psycopg with hand-written SQL on one warm connection:
in one transaction the delivery claim, the identity lookup, the chat's conversation, the task
counter, the task, both messages (one INSERT) and the outbox row; then the outbox row's lease
(``UPDATE ... RETURNING``), one keep-alive HTTP POST of the same ``sendMessage`` body
python-telegram-bot sends, to the same fake Bot API, and the row marked sent — each of those
two updates a statement of its own, committed at once, as the product commits them on their
own. No ORM, no queue, no Telegram library, no event loop: the warm turn benchmark divides by
this, timed in the same run.
"""

from __future__ import annotations

import http.client
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import psycopg

from models.db import normalise_database_url

PLATFORM = "telegram"
CHAT = "990000001"
LEASE = timedelta(minutes=2)


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
        """One ``/add``: the turn's rows and its outbox row in one transaction, then the
        reply leased, sent and marked sent."""
        self._seq += 1
        title = f"Floor task {self._seq}"
        now = datetime.now(UTC)
        db = self._db
        with db.transaction():
            key = f"floor-{self._seq}-{id(self)}"
            claimed = db.execute(
                "INSERT INTO delivery_claims (platform, delivery_key, claimed_at) "
                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING platform",
                (PLATFORM, key, now)).fetchone()
            assert claimed is not None
            row = db.execute(
                "SELECT user_id FROM chat_identities WHERE platform = %s AND workspace = '' "
                "AND external_user_id = %s", (PLATFORM, CHAT)).fetchone()
            assert row is not None
            user_id = row[0]
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
            row = db.execute(
                "INSERT INTO outbox (platform, workspace, delivery_key, target, reply, "
                "created_at, next_attempt_at, attempts, progress) "
                "VALUES (%s, '', %s, %s, %s, %s, %s, 0, 0) RETURNING id",
                (PLATFORM, key, json.dumps({"chat_id": int(CHAT)}),
                 json.dumps({"text": reply}), now, now)).fetchone()
            assert row is not None
            outbox_id = row[0]
        # Autocommit: each statement its own transaction.
        leased = db.execute(
            "UPDATE outbox SET attempts = attempts + 1, lease_until = %s WHERE id = %s "
            "AND sent_at IS NULL AND failed_at IS NULL "
            "AND (lease_until IS NULL OR lease_until < %s) RETURNING reply",
            (now + LEASE, outbox_id, now)).fetchone()
        assert leased is not None
        self._send(json.loads(leased[0])["text"])
        db.execute("UPDATE outbox SET sent_at = %s, lease_until = NULL, failure = NULL "
                   "WHERE id = %s", (datetime.now(UTC), outbox_id))

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
