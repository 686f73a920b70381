"""Slack payload -> Inbound: the /todo subcommands, who and where, what is not a turn."""

from __future__ import annotations

from typing import Any

import pytest

from handlers.slack.inbound import (
    command_inbound,
    command_text,
    event_inbound,
    plain_text,
    reply_thread,
)
from tests.slack.harness import fixture_json


@pytest.mark.parametrize(("typed", "core"), [
    ("", "/list"),
    ("   ", "/list"),
    ("add Buy milk", "/add Buy milk"),
    ("ADD  Buy milk", "/add Buy milk"),
    ("list", "/list"),
    ("list all", "/list all"),
    ("done 3", "/done 3"),
    ("undo 3", "/undo 3"),
    ("reopen 3", "/undo 3"),
    ("delete 2", "/delete 2"),
    ("edit 2 Call mom", "/edit 2 Call mom"),
    ("new", "/new"),
    ("help", "/help"),
    ("/add x", "/add x"),
    ("add a &amp; b", "/add a & b"),
    ("remind me to call mom", "remind me to call mom"),
    ("adding things", "adding things"),
])
def test_todo_text_becomes_the_core_command(typed: str, core: str) -> None:
    assert command_text(typed) == core


def test_plain_text_of_a_message() -> None:
    raw = ("<@UBOT> ping <@U123|alice> in <#C1|general> <!here> about "
           "<https://x.y/z?a=1&amp;b=2|the doc> &lt;3")
    assert plain_text(raw, "UBOT") == (
        "ping @alice in #general @here about the doc (https://x.y/z?a=1&b=2) <3")


def _event(**fields: Any) -> dict[str, Any]:
    payload = fixture_json("event_callback_message_im_docs.json")
    payload["event"].update(fields)
    return payload


def test_our_own_and_other_bots_messages_are_not_turns() -> None:
    assert event_inbound(_event(), "T1", "UBOT", "BBOT") is not None
    assert event_inbound(_event(user="UBOT"), "T1", "UBOT", "BBOT") is None
    assert event_inbound(_event(bot_id="BBOT"), "T1", "UBOT", "BBOT") is None
    assert event_inbound(_event(bot_id="B999"), "T1", "UBOT", "BBOT") is None
    for subtype in ("bot_message", "message_changed", "message_deleted", "channel_join"):
        assert event_inbound(_event(subtype=subtype), "T1", "UBOT", "BBOT") is None
    assert event_inbound(_event(channel_type="channel"), "T1", "UBOT", "BBOT") is None


def test_dm_delivery_key_and_conversation() -> None:
    inbound = event_inbound(_event(), "T123ABC456", "UBOT", "BBOT")
    assert inbound is not None
    assert inbound.delivery_key == "event:Ev0PV52K21"
    assert inbound.chat_key == "T123ABC456:D024BE91L"
    assert reply_thread(_event()) is None
    assert reply_thread(_event(thread_ts="1.2")) == "1.2"


def test_mention_in_a_thread_belongs_to_that_thread() -> None:
    payload = fixture_json("event_callback_app_mention_docs.json")
    payload["event"]["thread_ts"] = "1515449000.000001"
    inbound = event_inbound(payload, "T123ABC456", "U0LAN0Z89", "B1")
    assert inbound is not None
    assert inbound.thread_id == "1515449000.000001"
    assert inbound.text == "is it everything a river should be?"
    assert reply_thread(payload) == "1515449000.000001"


def test_command_payload_identity() -> None:
    inbound = command_inbound({"user_id": "W1", "channel_id": "C1", "text": "",
                               "trigger_id": "9.9.9", "user_name": "ann"}, "E1")
    assert inbound is not None
    assert (inbound.workspace, inbound.external_user_id, inbound.chat_id) == ("E1", "W1", "C1")
    assert (inbound.text, inbound.delivery_key) == ("/list", "command:9.9.9")
    assert command_inbound({"channel_id": "C1"}, "E1") is None


def test_out_of_range_fields_are_ignored_not_crashed_on() -> None:
    assert command_inbound({"user_id": "W" * 100, "channel_id": "C1", "text": "add x"},
                           "E1") is None
    too_long_thread = _event(type="message", thread_ts="9" * 200)
    assert event_inbound(too_long_thread, "T1", "UBOT", "BBOT") is not None  # DM: no thread
    mention = fixture_json("event_callback_app_mention_docs.json")
    mention["event"]["thread_ts"] = "9" * 200
    assert event_inbound(mention, "T1", "UBOT", "BBOT") is None
