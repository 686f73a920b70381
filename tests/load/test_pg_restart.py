"""PostgreSQL restarted in the middle of a 200-update burst through ``todobot serve``.

20 chats send 10 updates each (8 ``/add``, 2 free-text turns for the model), each chat in
order on its own connection, all chats at once; when a quarter of the burst has been answered,
this machine's PostgreSQL is restarted (fast: sessions terminated; immediate: as after a
crash, with WAL recovery). Every request must be answered 200 with its update fully stored and
its reply sent, or with a 5xx, which makes Telegram deliver it again. The failed ones are then
redelivered, as Telegram would, until they succeed; at the end every update is stored exactly
once (one delivery claim, one user message and one answer, one task per ``/add``) and every
reply is in the outbox and sent — once the scheduler's sweep has run past the lease of a row
whose sending the restart interrupted (see below). No reply is lost; a reply is sent twice only
in a crash window (sent, and the database gone before it could be marked sent: that update was
answered 5xx at least once), never for an update answered 200 the first time.

Slow (two PostgreSQL restarts); part of ``make test`` and CI like every other test.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot_core.outbox import LEASE
from bot_core.settings import Settings
from handlers.composition import Root
from handlers.sweep import SweepReport, sweep
from tests.fakes.http import FakeResponse
from tests.fakes.openai_server import FakeOpenAI, says
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.load import postgresql_cluster
from tests.load.served import Served
from tests.telegram.conftest import private_text, wait_until

CHATS = 20
ADDS, NOTES = 8, 2
BURST = CHATS * (ADDS + NOTES)
RESTART_AFTER = BURST // 4
MAX_REDELIVERY_ROUNDS = 40

pytestmark = [pytest.mark.slow, pytest.mark.serial]


@dataclass
class Delivery:
    """One update and what the webhook answered each time it was delivered."""

    update: dict[str, Any]
    said: str
    statuses: list[int]

    @property
    def update_id(self) -> int:
        return int(self.update["update_id"])

    @property
    def chat(self) -> int:
        return int(self.update["message"]["chat"]["id"])

    @property
    def done(self) -> bool:
        return bool(self.statuses) and self.statuses[-1] == 200


def echo(request: dict[str, Any]) -> FakeResponse:
    """The model repeats what it was told, so each free-text answer is recognisable."""
    return says(f"Noted: {request['messages'][-1]['content']}")(request)


def _burst() -> list[Delivery]:
    deliveries = []
    for chat in range(CHATS):
        user = 7_300_000 + chat
        for n in range(ADDS + NOTES):
            update = private_text("", user_id=user)
            said = (f"/add item {update['update_id']}" if n % 5 != 4
                    else f"note {update['update_id']}")
            update = private_text(said, user_id=user, update_id=update["update_id"])
            deliveries.append(Delivery(update, said, []))
    return deliveries


def _deliver(served: Served, deliveries: list[Delivery], answered: list[int],
             lock: threading.Lock) -> None:
    """Each chat's pending updates in order on a thread of its own, all chats at once."""
    by_chat: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        by_chat.setdefault(delivery.chat, []).append(delivery)

    def send(chat_deliveries: list[Delivery]) -> None:
        for delivery in chat_deliveries:
            try:
                status = served.telegram(delivery.update)
            except OSError:
                status = -1  # no HTTP answer at all: must not happen
            delivery.statuses.append(status)
            with lock:
                answered.append(status)

    threads = [threading.Thread(target=send, args=(sorted(d, key=lambda x: x.update_id),))
               for d in by_chat.values()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)


def sweep_after_the_leases(database_url: str, telegram: FakeTelegram) -> SweepReport:
    """One scheduler sweep as it will run once every lease taken before now has passed (the
    server's own sweep runs every 5 s on real time): rows whose sender lost the database in
    the middle of a send are sent again."""
    later = LEASE + timedelta(seconds=1)
    root = Root(Settings(database_url=database_url, telegram_bot_token=DEFAULT_TOKEN,
                         telegram_api_base_url=telegram.url),
                clock=lambda: datetime.now(UTC) + later)
    try:
        return sweep(root)
    finally:
        root.close()


def _per_update(engine: Engine, sql: str) -> Counter[str]:
    with engine.connect() as conn:
        return Counter(str(row[0]) for row in conn.execute(text(sql)))


def _assert_all_or_nothing(engine: Engine, deliveries: list[Delivery]) -> None:
    """No update is half stored: a claim comes with its messages (and task), and vice versa."""
    claims = _per_update(engine, "SELECT delivery_key FROM delivery_claims")
    said = _per_update(engine, "SELECT content FROM messages WHERE role = 'user'")
    titles = _per_update(engine, "SELECT title FROM tasks")
    for delivery in deliveries:
        key = str(delivery.update_id)
        assert claims[key] <= 1 and said[delivery.said] == claims[key], delivery
        if delivery.said.startswith("/add "):
            assert titles[delivery.said.removeprefix("/add ")] == claims[key], delivery


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgresql_restarted_mid_burst_every_update_stored_exactly_once(
        served: Served, db: Engine, pg_url: str, llm: FakeOpenAI, telegram_api: FakeTelegram,
        mode: str, capsys: pytest.CaptureFixture[str]) -> None:
    if not postgresql_cluster.controllable():
        pytest.fail("this test restarts the local PostgreSQL cluster (pg_ctlcluster, as root, "
                    "as in CI); deselect it with -m 'not slow' where that is not possible")
    llm.default = echo
    deliveries = _burst()
    answered: list[int] = []
    lock = threading.Lock()
    restart_errors: list[BaseException] = []

    def restart_mid_burst() -> None:
        try:
            wait_until(lambda: len(answered) >= RESTART_AFTER, "a quarter of the burst",
                       timeout=120)
            postgresql_cluster.restart(mode)
        except BaseException as error:  # noqa: BLE001 - asserted on in the test's thread
            restart_errors.append(error)

    restarter = threading.Thread(target=restart_mid_burst)
    try:
        restarter.start()
        _deliver(served, deliveries, answered, lock)
        restarter.join(180)
    finally:
        postgresql_cluster.ensure_running()
    assert restart_errors == []

    first = Counter(d.statuses[0] for d in deliveries)
    assert set(first) <= {200} | set(range(500, 600)), first
    _assert_all_or_nothing(db, deliveries)
    claims = _per_update(db, "SELECT delivery_key FROM delivery_claims")
    assert all(claims[str(d.update_id)] == 1 for d in deliveries if d.done)
    # Stored although answered 5xx: the database died after the turn's commit and before the
    # webhook was done (the reply's delivery, or the commit's acknowledgement itself).
    stored_anyway = {d.update_id for d in deliveries
                     if not d.done and claims[str(d.update_id)] == 1}

    rounds = 0
    while (pending := [d for d in deliveries if not d.done]) and rounds < MAX_REDELIVERY_ROUNDS:
        rounds += 1
        postgresql_cluster.wait_ready()
        _deliver(served, pending, answered, lock)
        assert {d.statuses[-1] for d in pending} <= {200} | set(range(500, 600))

    assert all(d.done for d in deliveries), [d.statuses for d in deliveries if not d.done]
    _assert_all_or_nothing(db, deliveries)
    claims = _per_update(db, "SELECT delivery_key FROM delivery_claims")
    assert all(claims[str(d.update_id)] == 1 for d in deliveries)
    unsent_before_sweep = _per_update(
        db, "SELECT delivery_key FROM outbox WHERE sent_at IS NULL AND failed_at IS NULL")
    swept = sweep_after_the_leases(pg_url, telegram_api)
    assert swept.still_unsent == 0
    with db.connect() as conn:
        counts = {table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                  for table in ("delivery_claims", "messages", "tasks", "users", "outbox")}
        unsent = conn.execute(text("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                              ).scalar_one()
        attempts = {str(key): int(n) for key, n in conn.execute(text(
            "SELECT delivery_key, attempts FROM outbox"))}
    assert counts == {"delivery_claims": BURST, "messages": 2 * BURST, "tasks": CHATS * ADDS,
                      "users": CHATS, "outbox": BURST}
    assert unsent == 0  # every stored turn's reply sent (none refused either)
    assert set(attempts) == {str(d.update_id) for d in deliveries}  # one row per update
    replies = Counter(str(c["text"]) for c in telegram_api.calls_to("sendMessage"))
    twice = 0
    for delivery in deliveries:
        expected = (f": {delivery.said.removeprefix('/add ')}" if delivery.said.startswith("/")
                    else f"Noted: {delivery.said}")
        sent = sum(n for t, n in replies.items() if t.endswith(expected))
        # Never lost; never sent without a lease of its row (each lease sends at most once);
        # only once for an update whose first delivery was answered 200 (its row was marked
        # sent before the answer).
        assert 1 <= sent <= attempts[str(delivery.update_id)], delivery
        if delivery.statuses[0] == 200:
            assert sent == 1, delivery
        twice += sent - 1
    assert served.healthz() == 200

    redelivered = sum(1 for d in deliveries if len(d.statuses) > 1)
    with capsys.disabled():
        print(f"\nPostgreSQL {mode} restart mid-burst: {BURST} updates, first answers "
              f"{dict(sorted(first.items()))}; {redelivered} redelivered in {rounds} "
              f"round(s), {sum(len(d.statuses) for d in deliveries) - BURST} extra deliveries;"
              f" {len(stored_anyway)} stored before their 5xx; "
              f"{sum(unsent_before_sweep.values())} replies left to the sweep after the "
              f"leases, {twice} sent twice (crash window); final rows {counts}")
