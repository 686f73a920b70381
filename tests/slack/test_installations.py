"""Workspace tokens at rest: sealed in the database, unreadable without the key, resealed by
``todobot slack rotate-key``; and the tables Alembic owns match what slack_sdk's stores use."""

from __future__ import annotations

import pytest
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Engine, MetaData, text

from handlers.slack.installations import SealedInstallationStore
from models.sealed import BadEncryptionKey, TokenCipher, UnreadableSecret
from models.tables import SLACK_TOKEN_COLUMNS, slack_bots, slack_installations, slack_oauth_states
from tests.fakes.slack_oauth import CLIENT_ID, FakeWorkspace
from tests.slack.conftest import ENCRYPTION_KEY
from tests.slack.harness import SlackHarness
from tests.slack.oauth_harness import install

ACME = FakeWorkspace("T0ACME", "Acme")


def _raw_tokens(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [value for table in ("slack_bots", "slack_installations")
                for value in conn.execute(text(f"SELECT bot_token FROM {table}")).scalars()]


def test_tokens_in_the_database_are_not_readable_without_the_key(
        oauth: SlackHarness, engine: Engine) -> None:
    oauth.fake.installs.rotation = True
    oauth.fake.installs.add(ACME)
    install(oauth, ACME)
    token = oauth.fake.installs.live_tokens("T0ACME")[0]
    refresh = next(t.refresh for t in oauth.fake.installs.tokens.values())
    assert refresh is not None

    with engine.connect() as conn:
        dump = " ".join(str(value) for table in ("slack_bots", "slack_installations")
                        for row in conn.execute(text(f"SELECT * FROM {table}")) for value in row)
    assert token not in dump and refresh not in dump and "xox" not in dump
    raw = _raw_tokens(engine)
    assert len(raw) == 2 and all(value.startswith("gAAAAA") for value in raw)

    stranger = SealedInstallationStore(CLIENT_ID, engine, TokenCipher([TokenCipher.new_key()]))
    with pytest.raises(UnreadableSecret):
        stranger.find_bot(enterprise_id=None, team_id="T0ACME")
    plain = SQLAlchemyInstallationStore(CLIENT_ID, engine)  # slack_sdk's own, no key
    bot = plain.find_bot(enterprise_id=None, team_id="T0ACME")
    assert bot is not None and bot.bot_token != token
    mine = SealedInstallationStore(CLIENT_ID, engine, TokenCipher([ENCRYPTION_KEY]))
    found = mine.find_bot(enterprise_id=None, team_id="T0ACME")
    assert found is not None and (found.bot_token, found.bot_refresh_token) == (token, refresh)


def test_rotate_key_reseals_every_token_under_the_new_key(
        oauth: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from handlers import composition
    from handlers.cli import main

    oauth.fake.installs.add(ACME)
    install(oauth, ACME)
    token = oauth.fake.installs.live_tokens("T0ACME")[0]
    new = TokenCipher.new_key()
    monkeypatch.setenv("TODOBOT_ENCRYPTION_KEY", f"{new},{ENCRYPTION_KEY}")
    composition.reset()

    assert main(["slack", "rotate-key"]) == 0
    assert "Resealed 2 stored Slack token(s)" in capsys.readouterr().out
    assert main(["slack", "rotate-key"]) == 0  # nothing left to do
    assert "Resealed 0" in capsys.readouterr().out

    only_new = SealedInstallationStore(CLIENT_ID, engine, TokenCipher([new]))
    found = only_new.find_bot(enterprise_id=None, team_id="T0ACME")
    assert found is not None and found.bot_token == token
    with pytest.raises(UnreadableSecret):
        SealedInstallationStore(CLIENT_ID, engine, TokenCipher([ENCRYPTION_KEY])).find_bot(
            enterprise_id=None, team_id="T0ACME")


def test_oauth_without_an_encryption_key_refuses_to_start(
        oauth: SlackHarness, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import composition
    from tests.slack.oauth_harness import get

    monkeypatch.delenv("TODOBOT_ENCRYPTION_KEY")
    composition.reset()

    page = get(oauth, "/slack/install")

    assert page.status == 500 and "not configured" in page.html
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM slack_oauth_states")).scalar() == 0


@pytest.mark.parametrize("key", ["", "not-a-key", "c2hvcnQ="])
def test_a_malformed_key_is_refused(key: str) -> None:
    with pytest.raises(BadEncryptionKey):
        TokenCipher.from_setting(key)


def test_the_tables_hold_every_column_slack_sdk_writes() -> None:
    """A slack_sdk upgrade that adds a column fails here, not at the first install."""
    metadata = MetaData()
    theirs = {
        "slack_installations": SQLAlchemyInstallationStore.build_installations_table(
            metadata, "slack_installations"),
        "slack_bots": SQLAlchemyInstallationStore.build_bots_table(metadata, "slack_bots"),
        "slack_oauth_states": SQLAlchemyOAuthStateStore.build_oauth_states_table(
            metadata, "slack_oauth_states"),
    }
    ours = {table.name: table for table in (slack_installations, slack_bots, slack_oauth_states)}
    for name, table in theirs.items():
        assert set(table.c.keys()) == set(ours[name].c.keys()), name
        for column in table.c:
            mine = ours[name].c[column.name]
            assert column.nullable == mine.nullable, (name, column.name)
    tokens = {c.name for table in ours.values() for c in table.c if "token" in c.name
              and "expires" not in c.name and c.name != "token_type"}
    assert tokens <= SLACK_TOKEN_COLUMNS
