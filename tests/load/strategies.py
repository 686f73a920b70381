"""Hypothesis strategies for hostile platform payloads (Telegram updates, Slack requests).

Why builders rather than ``st.from_type`` or raw JSON alone: a random JSON blob is rejected at
the first field and never reaches the core. These strategies keep the skeleton a platform sends
(so most examples become real turns, button presses, commands) and make every leaf hostile:
odd numbers, wrong types, missing keys, lone surrogates, RTL and zero-width characters, NUL,
markup, texts past the platforms' limits. A share of pure garbage JSON is mixed in as well.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import strategies as st

COMMAND_WORDS = ["/add", "/list", "/done", "/undo", "/delete", "/edit", "/new", "/start",
                 "/help", "/list all", "/list done", "add", "done", "delete", "remind me to",
                 "change task 1 to", "remove the", "reopen", "mark", "/add@ai999_bot",
                 "/todo", "list", "edit 1", "undo", "help", "new"]

ODD_CHARACTERS = [
    "\x00", "\ud800", "\udfff", "\ud83d", "\u202e", "\u200f", "\u200b", "\u200d", "\ufeff",
    "\u2066", "\u0663", "\u00b2", "\u0301", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\uffff", "\U0010ffff", "\x1b[31m", "\r\n", "\t", "&", "<", ">", "&amp;", "<b>", "</i>",
    "<!channel>", "<@U123>", "*bold*", "_it_", "`code`", "```", "~st~", "\\", "\"", "'",
]

MARKUP = ["<b>bold</b>", "<script>alert(1)</script>", "&lt;not&gt;", "a & b", "x<y>z",
          "<!channel> ping", "<!here|here>", "<@UTODOBOT> hi", "<#C123|general>",
          "<https://evil.example|click me>", "*bold* _it_ ~st~ `c`", "</pre><a href='x'>",
          "<tg-spoiler>s</tg-spoiler>", "&#0;", "&#x110000;", "&bogus;"]

odd_text = st.lists(st.sampled_from(ODD_CHARACTERS), min_size=1, max_size=8).map("".join)
"""Short runs of the characters that break naive code: lone surrogates, bidi controls,
zero-width joiners, NUL, escape sequences, markup characters."""

surrogate_text = st.text(
    alphabet=st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010), max_size=20)

hostile_text = st.one_of(
    st.text(max_size=200),
    odd_text,
    surrogate_text,
    st.sampled_from(MARKUP),
    st.builds(lambda word, rest: f"{word} {rest}", st.sampled_from(COMMAND_WORDS),
              st.one_of(st.text(max_size=120), odd_text, st.sampled_from(MARKUP))),
    st.builds(lambda word, n: f"{word} {n}", st.sampled_from(COMMAND_WORDS),
              st.integers(min_value=-10**20, max_value=10**20)),
    st.builds(lambda word, n, c: f"{word} {c * n}", st.sampled_from(COMMAND_WORDS),
              st.integers(min_value=190, max_value=5000), st.sampled_from(["a", "é", "😀", "<&>"])),
)
"""Text a person (or a modified client) could send."""

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                      st.floats(allow_nan=False, allow_infinity=False), hostile_text)
json_value = st.recursive(
    json_leaf,
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=12,
)
"""Any JSON value (the garbage a wrong sender might post)."""


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The value, or a wrong-typed one, or nothing (key dropped by :func:`fields`)."""
    return st.one_of(strategy, strategy, strategy, json_leaf, st.just(_MISSING))


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


@st.composite
def fields(draw: st.DrawFn, spec: dict[str, st.SearchStrategy[Any]]) -> dict[str, Any]:
    """A dict drawn key by key from ``spec``; keys drawn as missing are left out."""
    drawn = {key: draw(strategy) for key, strategy in spec.items()}
    return {key: value for key, value in drawn.items() if value is not _MISSING}


class _Fresh:
    """Stands where a delivery key goes until :func:`with_fresh_keys` fills it in."""

    def __repr__(self) -> str:
        return "<fresh>"


FRESH = _Fresh()
fresh = st.just(FRESH)


def with_fresh_keys(payload: dict[str, Any]) -> dict[str, Any]:
    """Delivery keys (update_id, event_id, trigger_id) derived from the rest of the payload.

    Hypothesis favours small, repeated values, and a repeated key is a redelivery, which never
    reaches the core (redeliveries have tests of their own). A digest of the payload keeps
    different payloads apart and makes an identical one a true redelivery.
    """
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=repr).encode())
    for key, value in payload.items():
        if value is FRESH:
            payload[key] = (int(digest.hexdigest()[:8], 16) % 2**31 + 1 if key == "update_id"
                            else digest.hexdigest()[:16])
    return payload


# -- mutations --------------------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A well-formed payload, mostly as it is, sometimes with a key or two dropped or replaced
    by any JSON value anywhere in the tree (what a changed or broken sender produces)."""
    payload = draw(base)
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 0, 1, 1, 2, 3]))):
        path = _all_paths(payload)
        if not path:
            break
        container, key = draw(st.sampled_from(path))
        if draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(json_value)
    return payload


def _all_paths(node: Any) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.append((node, key))
            found.extend(_all_paths(value))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.append((node, index))
            found.extend(_all_paths(value))
    return found


# -- Telegram ----------------------------------------------------------------------------------

BOT_ID = 6067617432
telegram_user_ids = st.one_of(st.sampled_from([714862471, 5519214459, 42, BOT_ID]),
                              st.integers(min_value=1, max_value=2**52),
                              st.sampled_from([2**63 - 1, 2**70, -5, 0]))
telegram_chat_ids = st.one_of(st.sampled_from([714862471, -1001914618483, 42]),
                              st.integers(min_value=-(2**52), max_value=2**52),
                              st.sampled_from([2**63 - 1, -(2**70), 0]))


def telegram_user(user_ids: st.SearchStrategy[int] = telegram_user_ids
                  ) -> st.SearchStrategy[dict[str, Any]]:
    return fields({
        "id": user_ids, "is_bot": st.sampled_from([False, False, False, True]),
        "first_name": hostile_text,
        "last_name": st.one_of(st.just(_MISSING), hostile_text),
        "username": st.one_of(st.just(_MISSING), hostile_text),
        "language_code": st.one_of(st.just(_MISSING), st.sampled_from(["en", "ar", "x" * 40])),
    })


def telegram_chat() -> st.SearchStrategy[dict[str, Any]]:
    return fields({
        "id": telegram_chat_ids,
        "type": st.sampled_from(["private"] * 4 + ["group", "supergroup", "supergroup",
                                                   "channel", "sender", "unknown"]),
        "title": st.one_of(st.just(_MISSING), hostile_text),
        "first_name": st.one_of(st.just(_MISSING), hostile_text),
        "is_forum": st.one_of(st.just(_MISSING), st.booleans()),
    })


def telegram_entities(text_length: int) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Entities with offsets inside, at the edge of and past the text."""
    bound = max(text_length + 3, 3)
    entity = fields({
        "type": st.sampled_from(["bot_command", "bot_command", "mention", "text_mention", "url",
                                 "bold", "hashtag", "custom_emoji", "made_up"]),
        "offset": st.one_of(st.just(0), st.integers(min_value=-2, max_value=bound)),
        "length": st.integers(min_value=-2, max_value=bound),
        "user": st.one_of(st.just(_MISSING), telegram_user(st.sampled_from([BOT_ID, 42]))),
        "url": st.one_of(st.just(_MISSING), hostile_text),
    })
    return st.lists(entity, max_size=3)


callback_data = st.one_of(
    hostile_text,
    st.builds(lambda k, n, v, o: f"t1:{k}:{n}:{v}:{o}",
              st.sampled_from(["d", "u", "x", "q", ""]),
              st.one_of(st.integers(min_value=-5, max_value=10**9).map(str), odd_text,
                        st.sampled_from(["\u00b2", "\u0663", "1\u0301", "0x1", " 1", "1_0"])),
              st.sampled_from(["o", "d", "a", "z"]),
              st.one_of(st.sampled_from(["714862471", "42"]),
                        st.integers(min_value=-10**13, max_value=10**13).map(str),
                        st.sampled_from(["-", "\u00b2", "--1", "\u00b9", "9" * 30]))),
)


@st.composite
def telegram_message(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(st.one_of(hostile_text, hostile_text, hostile_text, st.just(_MISSING)))
    length = len(text) if isinstance(text, str) else 0
    message = draw(fields({
        "message_id": st.integers(min_value=1, max_value=2**31),
        "from": telegram_user(),
        "chat": telegram_chat(),
        "date": st.integers(min_value=0, max_value=2**33),
        "entities": st.one_of(st.just(_MISSING), telegram_entities(length)),
        "caption": st.one_of(st.just(_MISSING), st.just(_MISSING), hostile_text),
        "message_thread_id": st.one_of(st.just(_MISSING), st.integers(-5, 10**6)),
        "is_topic_message": st.one_of(st.just(_MISSING), st.booleans()),
        "sticker": st.one_of(st.just(_MISSING), st.just(_MISSING), st.fixed_dictionaries({
            "file_id": hostile_text, "file_unique_id": st.just("u"), "type": st.just("regular"),
            "width": st.just(512), "height": st.just(512), "is_animated": st.booleans(),
            "is_video": st.booleans()})),
        "reply_to_message": st.one_of(st.just(_MISSING), st.just(_MISSING), st.fixed_dictionaries({
            "message_id": st.integers(1, 10**6), "date": st.just(1_700_000_000),
            "chat": telegram_chat(), "text": hostile_text,
            "from": telegram_user(st.sampled_from([BOT_ID, 42])),
            "forum_topic_created": st.one_of(st.none(), st.just({"name": "t",
                                                                 "icon_color": 1})),
        })),
    }))
    if text is not _MISSING:
        message["text"] = text
    if message.get("sticker") is None:
        message.pop("sticker", None)
    if message.get("reply_to_message", {}).get("forum_topic_created", 0) is None:
        del message["reply_to_message"]["forum_topic_created"]
    return message


@st.composite
def _telegram_update(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["message"] * 6 + ["callback_query"] * 3 + [
        "edited_message", "channel_post", "my_chat_member", "garbage"]))
    update: dict[str, Any] = {"update_id": draw(st.one_of(
        fresh, fresh, fresh, fresh,
        st.integers(min_value=-2**70, max_value=2**70),
        st.sampled_from([0, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1])))}
    if kind in ("message", "edited_message", "channel_post"):
        update[kind] = draw(telegram_message())
    elif kind == "callback_query":
        update[kind] = draw(fields({
            "id": hostile_text, "from": telegram_user(),
            "chat_instance": hostile_text, "data": st.one_of(st.just(_MISSING), callback_data),
            "message": st.one_of(st.just(_MISSING), telegram_message()),
        }))
    elif kind == "my_chat_member":
        update[kind] = draw(json_value)
    else:
        update.update(draw(st.dictionaries(st.text(max_size=15), json_value, max_size=4)))
    return update


def telegram_update() -> st.SearchStrategy[dict[str, Any]]:
    """One update, mostly shaped like Telegram's (messages, button presses, other kinds) with
    hostile values, sometimes with parts dropped or replaced. Few users and chats recur, so
    turns meet existing users, conversations and task numbers."""
    return mutated(_telegram_update()).map(with_fresh_keys)


# -- Slack -------------------------------------------------------------------------------------

slack_user_ids = st.one_of(st.sampled_from(["U2147483697", "W111", "U0LAN0Z89"]),
                           st.sampled_from(["UTODOBOT", "U" + "9" * 80]), hostile_text)
slack_channels = st.one_of(st.sampled_from(["D024BE91L", "C111", "C123ABC456", "G1"]),
                           hostile_text)
slack_teams = st.one_of(st.sampled_from(["T111", "T123ABC456"]), hostile_text)
slack_ts = st.one_of(st.sampled_from(["1515449522.000016", "1700000000.000001"]), hostile_text)
action_ids = st.one_of(
    st.builds(lambda k, n, v: f"todo:{k}:{n}:{v}", st.sampled_from(["done", "undo", "delete"]),
              st.integers(min_value=0, max_value=10**9), st.sampled_from(["open", "done", "all"])),
    st.sampled_from(["todo:done:\u00b2:open", "todo:done:\u0661:open", "todo:x:1:open",
                     "todo:", "todo:done:1:open\n"]),
    hostile_text,
)


@st.composite
def _usually(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    # The hostile branch on the largest number: hypothesis often draws the simplest (zero).
    return draw(hostile_text) if draw(st.integers(0, 7)) == 7 else draw(strategy)


def common(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Seven times in eight the usual values (so that requests reach the core), else hostile
    text."""
    return _usually(strategy)


@st.composite
def _rarely(draw: st.DrawFn, strategy: st.SearchStrategy[Any]) -> Any:
    return draw(strategy) if draw(st.integers(0, 5)) == 5 else _MISSING


def rarely(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A key present one time in six."""
    return _rarely(strategy)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(_MISSING), strategy)


@st.composite
def _slack_event_body(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["message", "message", "message", "app_mention",
                                 "app_home_opened", "reaction_added", "made_up"]))
    channel = draw(common(st.sampled_from(
        ["D024BE91L", "D024BE91L", "C123ABC456"] if kind != "app_mention" else ["C123ABC456"])))
    event = draw(fields({
        "type": st.just(kind), "channel": st.just(channel),
        "channel_type": st.just("im" if str(channel).startswith("D") else "channel"),
        "user": common(st.sampled_from(["U2147483697", "W111", "U0LAN0Z89", "UTODOBOT"])),
        "text": st.one_of(hostile_text, hostile_text.map("<@UTODOBOT> ".__add__)),
        "ts": common(slack_ts), "thread_ts": optional(slack_ts),
        "subtype": rarely(st.sampled_from(["bot_message", "message_changed", "file_share",
                                           "thread_broadcast", "x"])),
        "bot_id": rarely(hostile_text),
        "tab": optional(st.sampled_from(["home", "messages", "x"])),
    }))
    return draw(fields({
        "token": hostile_text, "team_id": common(st.sampled_from(["T111", "T123ABC456"])),
        "enterprise_id": st.one_of(st.just(_MISSING), st.just(_MISSING), slack_teams),
        "api_app_id": st.just("A0MDYCDME"),
        "type": st.sampled_from(["event_callback"] * 8 + ["url_verification",
                                                          "app_rate_limited", "x"]),
        "event_id": common(fresh),
        "event_time": st.integers(min_value=0, max_value=2**40),
        "challenge": optional(hostile_text),
        "event": st.just(event),
    }))


def slack_event_body() -> st.SearchStrategy[dict[str, Any]]:
    """An Events API envelope (DMs, mentions, Home opened, edits, bots...) with hostile values,
    sometimes with parts dropped or replaced."""
    return mutated(_slack_event_body()).map(with_fresh_keys)


def slash_command_body(response_url: str) -> st.SearchStrategy[str]:
    """A slash command's form body with hostile values (keys sometimes dropped or replaced),
    response_url on the fake."""
    form = fields({
        "token": hostile_text, "team_id": common(st.sampled_from(["T111", "T123ABC456"])),
        "team_domain": hostile_text,
        "enterprise_id": st.one_of(st.just(_MISSING), st.just(_MISSING), slack_teams),
        "channel_id": common(st.sampled_from(["D024BE91L", "C111"])),
        "channel_name": hostile_text,
        "user_id": common(st.sampled_from(["U2147483697", "W111"])),
        "user_name": hostile_text,
        "command": st.sampled_from(["/todo", "/todo", "/todo", "/other"]),
        "text": hostile_text, "api_app_id": st.just("A0MDYCDME"),
        "trigger_id": common(fresh),
    })
    # Slack always sends a response_url, and it is where the answer goes: never mutated.
    return mutated(form).map(with_fresh_keys).map(
        lambda body: _urlencode(body | {"response_url": response_url}))


def interactivity_body(response_url: str) -> st.SearchStrategy[str]:
    """block_actions (our buttons and others), shortcuts and garbage, as Slack posts them:
    one form field ``payload`` holding JSON."""
    action = fields({
        "action_id": action_ids, "value": optional(action_ids), "type": st.just("button"),
        "block_id": hostile_text, "action_ts": slack_ts,
    })
    payload = fields({
        "type": st.sampled_from(["block_actions"] * 6 + [
            "message_action", "shortcut", "view_submission", "x"]),
        "callback_id": optional(st.sampled_from(["add_as_task", "add_as_task", "other"])),
        "user": fields({"id": common(st.sampled_from(["U2147483697", "W111"])),
                        "name": hostile_text, "team_id": st.just("T111")}),
        "team": fields({"id": st.just("T111"), "domain": optional(hostile_text)}),
        "channel": fields({"id": common(st.sampled_from(["D024BE91L", "C111"]))}),
        "container": fields({
            "type": st.sampled_from(["message", "message", "view", "x"]),
            "channel_id": common(st.sampled_from(["D024BE91L", "C111"])),
            "message_ts": slack_ts, "thread_ts": optional(slack_ts)}),
        "trigger_id": common(fresh),
        "actions": st.lists(action, min_size=1, max_size=2),
        "message": fields({"text": hostile_text, "ts": slack_ts}),
        "message_ts": slack_ts,
    })
    with_hook = mutated(payload).map(with_fresh_keys).map(
        lambda body: json.dumps(body | {"response_url": response_url}))
    raw = st.one_of(*[with_hook] * 6, json_value.map(json.dumps), hostile_text)
    return raw.map(lambda text: _urlencode({"payload": text}))


def _urlencode(values: dict[str, Any]) -> str:
    return urlencode({str(key): _form_value(value) for key, value in values.items()})


def _form_value(value: Any) -> bytes:
    """What a form field would carry; lone surrogates as the bytes a broken client would send
    (urlencode cannot encode them as text)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return text.encode("utf-8", "surrogatepass")
