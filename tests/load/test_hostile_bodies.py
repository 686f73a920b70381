"""Hostile bodies through the platform handlers: oversized requests (4 KB to 6 MB, the Lambda
payload limit), JSON nested deeper than Python's stack, odd Unicode in titles (lone
surrogates, NUL, bidi overrides, zero-width characters, emoji sequences) and markup in titles
and free text (HTML for Telegram, mrkdwn mentions for Slack).

Forged ones are refused before anything is read (401, nothing written); authentic ones are
answered 200 (or 400 for a body that is not JSON), with a reply that Telegram or Slack accepts
and that shows the user's text as text, never as markup.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine, text

from handlers.slack.inbound import plain_text
from tests.conftest import count
from tests.fakes.telegram_api import visible_text
from tests.load.test_hostile_telegram import assert_acceptable_to_telegram
from tests.slack.harness import FORM, SlackHarness, apigw_event, signed_headers
from tests.telegram.conftest import TelegramBot, private_text

SIZES = {"4097-chars": 4097, "1MB": 2**20, "3MB": 3 * 2**20, "6MB": 6 * 2**20 - 4096}
ODD_TITLES = {  # as sent -> as stored and shown
    "nul": ("buy\x00 milk", "buy milk"),
    "lone-surrogates": ("buy \ud800milk\udfff", "buy \ufffdmilk\ufffd"),
    "bidi-override": ("\u202ekl\u200fim yub\u202c", "\u202ekl\u200fim yub\u202c"),
    "zero-width": ("b\u200buy\u200d mi\ufeffl\u2060k", "b\u200buy\u200d mi\ufeffl\u2060k"),
    "emoji-sequence": ("\U0001f468\u200d\U0001f469\u200d\U0001f467 family \U0001f1fa\U0001f1e6",
                       "\U0001f468\u200d\U0001f469\u200d\U0001f467 family \U0001f1fa\U0001f1e6"),
    "rtl-and-combining": ("\u05e7\u05e0\u05d4 \u05d7\u05dc\u05d1 e\u0301\u0327",
                          "\u05e7\u05e0\u05d4 \u05d7\u05dc\u05d1 e\u0301\u0327"),
    "astral-plane": ("\U00010348\U0001d11e\U0010fffd", "\U00010348\U0001d11e\U0010fffd"),
}
UNSENT = "sent_at IS NULL AND failed_at IS NULL"
MARKUP = "<b>bold</b> & <!channel> <@U123|boss> <#C1> <https://evil.example|click> *x* _y_"


def nested(depth: int) -> str:
    return '{"update_id": 1, "message": ' + '{"a": ' * depth + "1" + "}" * depth + "}"


def _titles(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT title FROM tasks ORDER BY number")).scalars())


# -- Telegram ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_telegram_oversized_free_text_is_answered(tg: TelegramBot, size: int) -> None:
    response = tg.post(private_text("a" * size))

    assert response["statusCode"] == 200
    for call in tg.api.calls:
        assert_acceptable_to_telegram(call)
    assert tg.api.methods() == ["sendChatAction", "sendMessage"]
    assert tg.rows("messages") == 2
    assert tg.rows("outbox", UNSENT) == 0


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_telegram_oversized_title_is_refused_politely(tg: TelegramBot, size: int) -> None:
    response = tg.post(private_text("/add " + "x" * size))

    assert response["statusCode"] == 200
    (sent,) = tg.api.calls_to("sendMessage")
    assert_acceptable_to_telegram(sent)
    assert "200" in sent["text"]  # says how long a title may be
    assert tg.rows("tasks") == 0
    assert tg.rows("outbox", UNSENT) == 0


@pytest.mark.parametrize("body", [
    b"{" + b"x" * SIZES["6MB"], b"\xff" * SIZES["1MB"], nested(100_000).encode(),
    nested(5_000).encode(), b"[" * SIZES["1MB"]],
    ids=["6MB-not-json", "1MB-not-utf8", "nested-100000", "nested-5000", "1MB-of-brackets"])
def test_telegram_unreadable_body_is_400_and_forged_401(tg: TelegramBot, body: bytes) -> None:
    assert tg.post(body, secret="forged")["statusCode"] == 401
    assert tg.post(body)["statusCode"] == 400
    assert tg.api.calls == []
    assert tg.nothing_written()


def test_telegram_update_nested_within_the_json_limit_is_ignored(tg: TelegramBot) -> None:
    """Deep enough for python-telegram-bot's recursive parser, not for json."""
    update = private_text("hello")
    message = update["message"]
    for _ in range(900):
        message = {**message, "reply_to_message": message}
    update["message"] = message

    assert tg.post(update)["statusCode"] == 200
    assert tg.api.calls == []


@pytest.mark.parametrize("date", [6.77680361916768e16, 10**20, -(10**20), 2**63],
                         ids=["float-past-time_t", "1e20", "-1e20", "2**63"])
def test_telegram_date_out_of_range_is_ignored(tg: TelegramBot, date: float) -> None:
    """Found by the hypothesis suite: python-telegram-bot's timestamp conversion raised
    OSError or OverflowError, answered 500, so Telegram would redeliver it for hours."""
    update = private_text("/add milk")
    update["message"]["date"] = date

    assert tg.post(update)["statusCode"] == 200
    assert tg.api.calls == []
    assert tg.nothing_written()


@pytest.mark.parametrize("odd", list(ODD_TITLES.values()), ids=list(ODD_TITLES))
def test_telegram_odd_unicode_titles(tg_any_db: TelegramBot, odd: tuple[str, str]) -> None:
    sent_title, stored_title = odd
    tg = tg_any_db
    for said in (f"/add {sent_title}", "/list", f"add {sent_title}"):
        assert tg.post(private_text(said))["statusCode"] == 200

    assert _titles(tg.engine) == [stored_title] * 2
    for call in tg.api.calls:
        assert_acceptable_to_telegram(call)
    listed = tg.api.calls_to("sendMessage")[1]
    assert visible_text(listed["text"], listed.get("parse_mode")).endswith(
        f"#1 {stored_title}")


def test_telegram_markup_in_titles_and_free_text_is_shown_as_text(tg: TelegramBot) -> None:
    tg.post(private_text(f"add {MARKUP}"))  # free text: the brain's path
    tg.post(private_text("/list"))

    assert _titles(tg.engine) == [MARKUP]
    added, listed = tg.api.calls_to("sendMessage")
    for call in (added, listed):
        assert_acceptable_to_telegram(call)
        assert MARKUP in visible_text(call["text"], call.get("parse_mode"))


# -- Slack ------------------------------------------------------------------------------------


def _dm(text_: str, event_id: str = "EvBIG") -> str:
    return json.dumps({
        "token": "x", "team_id": "T123ABC456", "api_app_id": "A0MDYCDME",
        "type": "event_callback", "event_id": event_id, "event_time": 1,
        "event": {"type": "message", "channel": "D024BE91L", "channel_type": "im",
                  "user": "U2147483697", "text": text_, "ts": "1515449522.000016"}})


def _mrkdwn_texts(slack: SlackHarness) -> list[str]:
    """Every text the bot showed in Slack: fallback texts and section texts, Web API and
    response_url alike."""
    shown: list[str] = []
    messages: list[dict[str, Any]] = [c.params for c in slack.fake.calls
                                      if c.method != "auth.test"]
    messages += [p.message for p in slack.fake.hook_posts]
    for message in messages:
        shown.append(str(message.get("text", "")))
        blocks = message.get("blocks") or []
        shown.extend(str(b["text"]["text"]) for b in blocks if "text" in b)
    return shown


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_slack_oversized_dm_and_command_are_answered(slack: SlackHarness, engine: Engine,
                                                     size: int) -> None:
    assert slack.send_json(json.loads(_dm("a" * size)))["statusCode"] == 200
    command = slack.command("add " + "x" * size)

    assert command["statusCode"] == 200
    (answer,) = slack.fake.hook_posts  # the command's answer, through its response_url
    assert "200" in str(answer.message["text"])  # the title limit, told
    (post,) = slack.fake.calls_to("chat.postMessage")
    assert len(str(post.params["text"])) <= 3000
    assert count(engine, "messages") == 4
    assert count(engine, "tasks") == 0
    assert count(engine, "outbox", UNSENT) == 0


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
@pytest.mark.parametrize("body", [
    "{" + "x" * SIZES["6MB"], "[" * SIZES["1MB"], nested(100_000), nested(5_000),
    "payload=" + "%5B" * 100_000],
    ids=["6MB-not-json", "1MB-of-brackets", "nested-100000", "nested-5000", "nested-form"])
def test_slack_unreadable_body_is_400_and_forged_401(slack: SlackHarness, engine: Engine,
                                                     body: str) -> None:
    content_type = FORM if body.startswith("payload=") else "application/json"
    forged = signed_headers(body, content_type=content_type, secret="forged")
    signed = signed_headers(body, content_type=content_type)

    assert slack.call(apigw_event(body, forged))["statusCode"] == 401
    assert slack.call(apigw_event(body, signed))["statusCode"] in (200, 400)
    assert slack.fake.calls == []
    assert count(engine, "users") == 0


@pytest.mark.parametrize("odd", list(ODD_TITLES.values()), ids=list(ODD_TITLES))
def test_slack_odd_unicode_titles(slack: SlackHarness, engine: Engine,
                                  odd: tuple[str, str]) -> None:
    """Through DMs (JSON carries every one of them; form bodies with broken UTF-8 are in the
    hypothesis suite): the brain's path, the command path, then the list."""
    sent_title, stored_title = odd
    for n, said in enumerate((f"add {sent_title}", f"/add {sent_title}", "/list")):
        assert slack.send_json(json.loads(_dm(said, f"EvODD{n}")))["statusCode"] == 200

    assert _titles(engine) == [stored_title] * 2
    listed = slack.fake.calls_to("chat.postMessage")[-1].params
    sections = [b["text"]["text"] for b in listed["blocks"] if b.get("type") == "section"]
    for number in (1, 2):
        assert any(f"*#{number}* {stored_title}" in s for s in sections), sections


def test_slack_markup_in_titles_and_dms_is_shown_as_text(slack: SlackHarness,
                                                         engine: Engine) -> None:
    """Slack's own markup in a message (a mention, a link) is read as what the user sees;
    anything left that looks like markup is escaped wherever the bot shows it."""
    slack.send_json(json.loads(_dm(f"add {MARKUP}")))  # the DM path: chat.postMessage
    slack.command(f"add {MARKUP}")  # the slash command path: the ack
    slack.press("todo:done:1:open")  # the button path: response_url, replace_original

    assert _titles(engine) == [plain_text(MARKUP), MARKUP]
    shown = _mrkdwn_texts(slack)
    assert len(shown) >= 4
    for piece in shown:
        for raw in ("<!channel>", "<@U123", "<#C1>", "<https://evil", "<b>"):
            assert raw not in piece, piece
    assert any("&lt;!channel&gt;" in piece for piece in shown)
