"""The webhook's door: secret token, body shape, redeliveries, database failures."""

from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import text

from handlers.telegram import handler
from tests.fakes.openai_server import FakeOpenAI, calls, says
from tests.telegram.conftest import (
    SECRET,
    TelegramBot,
    api_event,
    fixture,
    private_text,
    reset_process_state,
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
    monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET")
    reset_process_state()
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
    assert tg.unsent() == 0
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


def _refuse_messages(tg: TelegramBot, content: str | None = None) -> None:
    """A real error inside the turn's transaction: a trigger refusing the message insert (every
    one, or only those with ``content``)."""
    condition = "" if content is None else f"WHEN (NEW.content = '{content}') "
    with tg.engine.begin() as conn:
        conn.execute(text("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                          "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"))
        conn.execute(text(f"CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW "
                          f"{condition}EXECUTE FUNCTION refuse()"))


def _stop_refusing(tg: TelegramBot) -> None:
    with tg.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER refuse ON messages"))
        conn.execute(text("DROP FUNCTION refuse()"))


def test_database_failure_is_500_rolls_back_and_the_redelivery_succeeds(
        tg: TelegramBot) -> None:
    """The claim, the task, both messages and the outbox row are one transaction: they roll
    back together, nothing is sent, and Telegram's redelivery then works."""
    _refuse_messages(tg)
    update = private_text("/add Buy milk")
    try:
        failed = tg.post(update)
        assert failed["statusCode"] == 500
        assert tg.nothing_written()  # the outbox row went with the rest of the turn
        assert tg.api.calls == []
    finally:
        _stop_refusing(tg)

    redelivered = tg.post(update)

    assert redelivered["statusCode"] == 200
    assert tg.rows("tasks") == 1
    assert tg.rows("messages") == 2
    assert tg.unsent() == 0
    assert [c["text"] for c in tg.api.calls_to("sendMessage")] == ["Added #1: Buy milk"]


def test_database_failure_after_the_model_answered_is_500_and_the_redelivery_asks_again(
        tg: TelegramBot, llm: FakeOpenAI) -> None:
    """A free-text turn reads its context and lets the model act without a transaction; the
    final transaction (claim, replayed tool calls, messages, outbox row) fails as a whole: no
    task, no claim, nothing sent. The redelivery runs the turn again, answered once."""
    llm.default = calls(("add_task", {"title": "Buy milk"}))
    _refuse_messages(tg)
    update = private_text("remind me to buy milk")
    try:
        assert tg.post(update)["statusCode"] == 500
        assert tg.rows("tasks") == tg.rows("delivery_claims") == tg.rows("outbox") == 0
        assert tg.rows("messages") == 0
        assert tg.api.calls_to("sendMessage") == []
    finally:
        _stop_refusing(tg)
    llm.script(calls(("add_task", {"title": "Buy milk"})), says("Added #1: Buy milk."))
    llm.default = None

    assert tg.post(update)["statusCode"] == 200

    assert tg.rows("tasks") == 1
    assert tg.user_messages() == ["remind me to buy milk"]
    assert tg.api.sent_texts() == ["Added #1: Buy milk."]
    assert tg.unsent() == 0


def test_database_unreachable_is_500(tg: TelegramBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    reset_process_state()

    assert tg.post(private_text("/add Buy milk"))["statusCode"] == 500
    assert tg.api.calls == []


def test_an_update_whose_turn_always_fails_is_500_each_time_and_blocks_nobody(
        tg: TelegramBot) -> None:
    """Nothing holds a failed update in the process: each redelivery is answered 500 and
    writes nothing (Telegram gives up on its own after its retries), and the chat's next update
    is not stuck behind it."""
    poisoned = private_text("/add Buy poison")
    _refuse_messages(tg, "/add Buy poison")
    try:
        statuses = [tg.post(poisoned)["statusCode"] for _ in range(5)]
        assert statuses == [500] * 5
        assert tg.nothing_written()
        assert tg.api.calls == []

        assert tg.post(private_text("/add Call mom"))["statusCode"] == 200
        assert tg.post(poisoned)["statusCode"] == 500  # still failing, still alone
    finally:
        _stop_refusing(tg)

    assert tg.rows("tasks") == 1
    assert tg.rows("delivery_claims") == 1
    assert tg.unsent() == 0
    assert tg.api.sent_texts() == ["Added #1: Call mom"]
