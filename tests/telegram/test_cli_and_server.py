"""``todobot telegram set-webhook`` / ``poll`` against the fake Bot API, and the webhook route
of ``todobot serve`` (Starlette test client, and a real uvicorn on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
import time
from functools import partial

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from handlers import composition, http_app
from handlers.cli import main
from handlers.http_app import build_app
from tests.telegram.conftest import (
    SECRET,
    MovableClock,
    TelegramBot,
    fixture,
    install_root,
    private_text,
    reset_process_state,
    run_concurrently,
    wait_until,
)

URL = "https://todobot.example.com/telegram/webhook"


def test_set_webhook_registers_secret_updates_and_menu(tg: TelegramBot,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["telegram", "set-webhook", URL, "--drop-pending-updates"]) == 0

    assert tg.api.methods() == ["setWebhook", "setMyCommands"]
    (hook,) = tg.api.calls_to("setWebhook")
    assert hook["url"] == URL
    assert hook["secret_token"] == SECRET
    assert hook["allowed_updates"] == ["message", "callback_query"]
    assert hook["drop_pending_updates"] == "true"
    (menu,) = tg.api.calls_to("setMyCommands")
    assert [c["command"] for c in menu["commands"]] == [
        "add", "list", "today", "upcoming", "done", "undo", "edit", "delete", "timezone",
        "digest", "usage", "new", "link", "export", "forget", "help"]
    out = capsys.readouterr()
    assert SECRET not in out.out + out.err
    assert tg.api.token not in out.out + out.err


def test_set_webhook_keeps_pending_updates_unless_asked(tg: TelegramBot) -> None:
    assert main(["telegram", "set-webhook", URL]) == 0
    assert tg.api.calls_to("setWebhook")[0]["drop_pending_updates"] == "false"


@pytest.mark.parametrize("secret", [None, "has spaces", "x" * 257])
def test_set_webhook_refuses_a_missing_or_invalid_secret(
        tg: TelegramBot, monkeypatch: pytest.MonkeyPatch, secret: str | None) -> None:
    if secret is None:
        monkeypatch.delenv("TELEGRAM_WEBHOOK_SECRET")
    else:
        monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", secret)
    reset_process_state()

    assert main(["telegram", "set-webhook", URL]) == 2
    assert tg.api.calls == []


def test_poll_once_processes_waiting_updates_like_the_webhook(tg: TelegramBot) -> None:
    first, second = private_text("/add Buy milk"), private_text("/list")
    tg.api.updates.extend([first, fixture("legacy_doc_voice_message") | {
        "update_id": first["update_id"] + 1}, second | {"update_id": first["update_id"] + 2}])

    assert main(["telegram", "poll", "--once"]) == 0

    gets = tg.api.calls_to("getUpdates")
    assert [g.get("offset") for g in gets] == [None, str(first["update_id"] + 3)]
    assert gets[0]["allowed_updates"] == ["message", "callback_query"]
    assert tg.api.sent_texts()[0] == "Added #1: Buy milk"
    assert tg.api.sent[-1]["text"] == "Your open tasks:\n☐ #1 Buy milk"
    assert tg.api.updates == []  # confirmed, so Telegram forgets them
    assert tg.rows("messages") == 4


def test_poll_explains_that_a_webhook_is_in_the_way(tg: TelegramBot,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    tg.api.webhook = {"url": URL}

    assert main(["telegram", "poll", "--once"]) == 1

    assert "--delete-webhook" in capsys.readouterr().err
    tg.api.updates.append(private_text("/add Buy milk"))
    assert main(["telegram", "poll", "--once", "--delete-webhook"]) == 0
    assert "deleteWebhook" in tg.api.methods()
    assert tg.rows("tasks") == 1


def _serve_app() -> Starlette:
    """The app ``todobot serve`` runs (local: Slack's route and the background sweep too)."""
    return build_app(composition.root(), local=True)


def test_serve_route_with_the_starlette_test_client(tg: TelegramBot) -> None:
    client = TestClient(_serve_app())
    update = private_text("/add Buy milk")
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    ok = client.post("/telegram/webhook", content=json.dumps(update), headers=headers)
    forged = client.post("/telegram/webhook", content=json.dumps(update),
                         headers={"X-Telegram-Bot-Api-Secret-Token": "nope"})
    garbage = client.post("/telegram/webhook", content=b"{", headers=headers)

    assert (ok.status_code, ok.json()) == (200, {"ok": True})
    assert forged.status_code == 401
    assert garbage.status_code == 400
    assert tg.rows("tasks") == 1
    assert tg.api.sent_texts() == ["Added #1: Buy milk"]


def test_serve_route_on_a_real_uvicorn(tg: TelegramBot) -> None:
    server = uvicorn.Server(uvicorn.Config(_serve_app(), host="127.0.0.1", port=0,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        updates = [private_text(f"/add Task {n}", user_id=2000 + n) for n in range(8)]

        def deliver(update: dict[str, object]) -> int:
            return httpx.post(f"http://127.0.0.1:{port}/telegram/webhook", json=update,
                              headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
                              timeout=30).status_code

        statuses = run_concurrently([partial(deliver, u) for u in updates])
    finally:
        server.should_exit = True
        thread.join(30)

    assert statuses == [200] * 8
    assert tg.rows("tasks") == 8
    assert sorted(tg.api.sent_texts()) == sorted(f"Added #1: Task {n}" for n in range(8))


def test_serve_health_check_reaches_the_database(tg: TelegramBot,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    assert TestClient(_serve_app()).get("/healthz").json() == {"ok": True}

    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/none")
    reset_process_state()
    down = TestClient(_serve_app()).get("/healthz")
    assert down.status_code == 503
    assert down.json()["ok"] is False


def test_serve_sweeps_the_outbox_in_the_background(tg: TelegramBot,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply Telegram refused with a 502 (retried by the scheduler, 10 s later) arrives
    without another request: ``todobot serve`` sweeps as the scheduler function does."""
    monkeypatch.setattr(http_app, "SWEEP_EVERY_SECONDS", 0.05)
    clock = MovableClock()
    install_root(clock=clock)
    tg.api.fail_next("sendMessage", 502, html=True)
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}

    with TestClient(_serve_app()) as client:  # runs the lifespan: the sweeping task
        ok = client.post("/telegram/webhook", content=json.dumps(private_text("/add Milk")),
                         headers=headers)
        assert ok.status_code == 200
        assert tg.unsent() == 1 and tg.api.sent == []
        clock.advance(60)
        wait_until(lambda: tg.unsent() == 0, "the background sweep to send the reply")

    assert tg.api.sent_texts() == ["Added #1: Milk", "Added #1: Milk"]  # the 502, then sent
    assert [m["text"] for m in tg.api.sent] == ["Added #1: Milk"]


def test_scheduler_run_sends_what_is_due(tg: TelegramBot,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    tg.api.fail_next("sendMessage", 500, "Internal Server Error")
    assert tg.post(private_text("/add Milk"))["statusCode"] == 200
    assert tg.unsent() == 1
    with tg.engine.begin() as conn:  # the retry falls due (as if its backoff had passed)
        conn.execute(text("UPDATE outbox SET next_attempt_at = next_attempt_at - "
                          "interval '1 hour'"))

    assert main(["scheduler", "run"]) == 0

    assert "1 replies retried (0 still unsent)" in capsys.readouterr().out
    assert [m["text"] for m in tg.api.sent] == ["Added #1: Milk"]
    assert tg.unsent() == 0
    assert main(["scheduler", "run"]) == 0
    assert [m["text"] for m in tg.api.sent] == ["Added #1: Milk"]
