"""Where workspace installations and OAuth states live: slack_sdk's SQLAlchemy stores on the
project's database, in the tables Alembic made (migration 0006; ``create_tables()`` is never
called), with two changes:

- the installation store seals every token column (:data:`models.tables.SLACK_TOKEN_COLUMNS`)
  with the Fernet key(s) from ``TODOBOT_ENCRYPTION_KEY``: its own statements carry the sealing
  type, so every path that reads or writes a token (Bolt's authorize, the OAuth callback, token
  rotation, the uninstall listeners) goes through it;
- the state store takes the injected clock instead of ``time.time()``, so that tests can let a
  state expire, and can prune what expired (the scheduler does, every sweep).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, and_, delete, select

from models.sealed import SealedText, TokenCipher
from models.tables import SLACK_TOKEN_COLUMNS

log = logging.getLogger(__name__)


class SealedInstallationStore(SQLAlchemyInstallationStore):
    """slack_sdk's installation store whose token columns are sealed at rest."""

    def __init__(self, client_id: str, engine: Engine, cipher: TokenCipher) -> None:
        super().__init__(client_id=client_id, engine=engine,
                         logger=logging.getLogger("todobot.slack.installations"))
        sealed = SealedText(cipher)
        for table in (self.installations, self.bots):
            for column in table.c:
                if column.name in SLACK_TOKEN_COLUMNS:
                    column.type = sealed


def naive_utc(moment: datetime) -> datetime:
    """slack_sdk's tables hold naive UTC (``TIMESTAMP WITHOUT TIME ZONE``)."""
    return moment.astimezone(UTC).replace(tzinfo=None)


class ClockedStateStore(SQLAlchemyOAuthStateStore):
    """The OAuth ``state`` store: one row per install page view, consumed once by the callback
    within ``expiration_seconds``; expired rows are pruned by :meth:`prune`."""

    def __init__(self, expiration_seconds: int, engine: Engine,
                 clock: Callable[[], datetime]) -> None:
        super().__init__(expiration_seconds=expiration_seconds, engine=engine,
                         logger=logging.getLogger("todobot.slack.states"))
        self._clock = clock

    def issue(self, *args: object, **kwargs: object) -> str:
        state = str(uuid.uuid4())
        expire_at = naive_utc(self._clock() + timedelta(seconds=self.expiration_seconds))
        with self.engine.begin() as conn:
            conn.execute(self.oauth_states.insert(), {"state": state, "expire_at": expire_at})
        return state

    def consume(self, state: str) -> bool:
        """True once for a state issued here and not expired; deleted either way it matched."""
        now = naive_utc(self._clock())
        c = self.oauth_states.c
        with self.engine.begin() as conn:  # DELETE ... RETURNING: two callbacks can't both win
            taken = conn.execute(delete(self.oauth_states).where(c.state == state)
                                 .returning(c.expire_at)).scalars().all()
        return any(expire_at > now for expire_at in taken)

    def prune(self) -> int:
        """Delete the states that expired (never consumed: abandoned installs)."""
        c = self.oauth_states.c
        with self.engine.begin() as conn:
            result = conn.execute(delete(self.oauth_states).where(
                and_(c.expire_at <= naive_utc(self._clock()))))
        return int(result.rowcount or 0)


def reseal_tokens(engine: Engine, cipher: TokenCipher) -> int:
    """Seal every stored token with the first key of ``cipher`` (after a new key was put first
    in ``TODOBOT_ENCRYPTION_KEY``); returns how many values were resealed. Once it ran, the
    old keys can be dropped from the setting. Values already under the first key are left."""
    from models.tables import slack_bots, slack_installations

    resealed = 0
    with engine.begin() as conn:
        for table in (slack_installations, slack_bots):
            columns = [c for c in table.c if c.name in SLACK_TOKEN_COLUMNS]
            for row in conn.execute(select(table.c.id, *columns)).mappings():
                changes = {c.name: cipher.reseal(row[c.name]) for c in columns
                           if row[c.name] is not None
                           and not cipher.sealed_by_first_key(row[c.name])}
                if changes:
                    conn.execute(table.update().where(table.c.id == row["id"]).values(**changes))
                    resealed += len(changes)
    return resealed
