"""The webhook's door: secret token, body shape, redeliveries, database failures."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import text

from handlers.telegram import handler
from tests.telegram.conftest import (
    SECRET,
    TelegramBot,
    api_event,
    fixture,
    private_text,
)


@pytest.mark.parametrize("secret", [None, "", "wrong", SECRET + "x", SECRET[:-1],
                                    SECRET.upper()])
def test_forged_or_missing_secret_is_401_and_writes_nothing(tg: TelegramBot,
                                                            secret: str | None) -> None:
    response = tg.post(fixture("private_command_start"), secret=secret)

    assert response["statusCode"] == 401
    assert tg.api.calls == []
    assert tg.nothing_written()


def test_no_secret_configured_refuses_everything(tg: TelegramBot,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from handlers import runtime

    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET")
    runtime.reset()
    response = tg.post(fixture("private_command_start"), secret="")

    assert response["statusCode"] == 401
    assert tg.nothing_written()


@pytest.mark.parametrize("body", [b"not json", b"", b"{\"update_id\": 1", b"\xff\xfe",
                                  b"[1, 2]", b"\"text\"", b"42"])
def test_body_that_is_not_a_json_object_is_400(tg: TelegramBot, body: bytes) -> None:
    response = tg.post(body)

    assert response["statusCode"] == 400
    assert tg.api.calls == []
    assert tg.nothing_written()


def test_secret_is_checked_before_the_body(tg: TelegramBot) -> None:
    assert tg.post(b"not json", secret="wrong")["statusCode"] == 401


def test_base64_encoded_body(tg: TelegramBot) -> None:
    event = api_event(private_text("/add Buy milk"), base64_body=True)

    response = handler(event, None)

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"ok": True}
    assert tg.rows("tasks") == 1


def test_the_same_update_five_times_has_one_effect(tg: TelegramBot) -> None:
    update = private_text("/add Buy milk")

    statuses = [tg.post(update)["statusCode"] for _ in range(5)]

    assert statuses == [200] * 5
    assert tg.rows("tasks") == 1
    assert tg.rows("messages") == 2
    assert tg.rows("delivery_claims") == 1
    assert tg.rows("outbox", "sent_at IS NULL AND failed_at IS NULL") == 0
    assert tg.api.methods() == ["sendMessage"]


def test_the_same_update_five_times_at_once_has_one_effect(tg: TelegramBot) -> None:
    update = private_text("/add Buy milk")
    statuses: list[int] = []
    barrier = threading.Barrier(5)

    def deliver() -> None:
        barrier.wait()
        statuses.append(tg.post(update)["statusCode"])

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert statuses == [200] * 5
    assert tg.rows("tasks") == 1
    assert tg.rows("messages") == 2
    assert tg.api.methods() == ["sendMessage"]


def test_database_failure_is_500_rolls_back_and_the_redelivery_succeeds(
        tg: TelegramBot) -> None:
    """A real error inside the turn's transaction (a trigger refusing the message insert):
    the claim, the task and both messages roll back; Telegram's redelivery then works."""
    with tg.engine.begin() as conn:
        conn.execute(text("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"))
        conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON messages "
                          "FOR EACH ROW EXECUTE FUNCTION refuse()"))
    update = private_text("/add Buy milk")
    try:
        failed = tg.post(update)
        assert failed["statusCode"] == 500
        assert tg.rows("tasks") == 0
        assert tg.rows("delivery_claims") == 0
        assert tg.rows("messages") == 0
        assert tg.rows("outbox") == 1  # kept for the redelivery, its attempt counted
        assert tg.api.calls_to("sendMessage") == []
    finally:
        with tg.engine.begin() as conn:
            conn.execute(text("DROP TRIGGER refuse ON messages"))
            conn.execute(text("DROP FUNCTION refuse()"))

    redelivered = tg.post(update)

    assert redelivered["statusCode"] == 200
    assert tg.rows("tasks") == 1
    assert tg.rows("messages") == 2
    assert tg.rows("outbox", "sent_at IS NULL AND failed_at IS NULL") == 0
    assert [c["text"] for c in tg.api.calls_to("sendMessage")] == ["Added #1: Buy milk"]


def test_database_unreachable_is_500(tg: TelegramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.telegram.conftest import reset_process_state

    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    reset_process_state()

    assert tg.post(private_text("/add Buy milk"))["statusCode"] == 500
    assert tg.api.calls == []


def test_a_poisoned_update_stops_blocking_its_chat_after_a_few_attempts(
        tg: TelegramBot) -> None:
    """An update that fails every time is dropped after MAX_ATTEMPTS, so later updates of the
    chat are not stuck behind it forever."""
    from bot_core.turn_queue import MAX_ATTEMPTS

    poisoned = private_text("/add Buy milk")
    with tg.engine.begin() as conn:
        conn.execute(text("INSERT INTO turn_queue (platform, chat_key, seq, payload, attempts, "
                          "received_at) VALUES ('telegram', :chat, :seq, :payload, :attempts, "
                          "now())"),
                     {"chat": str(poisoned["message"]["chat"]["id"]),
                      "seq": poisoned["update_id"], "payload": json.dumps(poisoned),
                      "attempts": MAX_ATTEMPTS})

    assert tg.post(private_text("/add Call mom"))["statusCode"] == 200

    assert tg.rows("outbox", "sent_at IS NULL AND failed_at IS NULL") == 0
    assert [c["text"] for c in tg.api.calls_to("sendMessage")] == ["Added #1: Call mom"]
