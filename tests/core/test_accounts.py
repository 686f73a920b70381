"""One person across apps, at the core: link codes, the merge, unlink, forget (both
databases). Through the real webhooks of both apps: tests/accounts/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, inspect, text

from bot_core.accounts import WRONG_CODE
from bot_core.inbound import ButtonAction
from bot_core.reply import Reply
from bot_core.service import TodoService
from tests.conftest import ServiceFactory, count, inbound
from tests.fakes.clock import SetClock

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
EMPTY = "Nothing open — nice! Add a task with /add <title>."
TG = {"platform": "telegram", "user": "42", "chat": "42"}
SL = {"platform": "slack", "user": "U7", "chat": "D7", "workspace": "T1"}
CODE = re.compile(r"\b([A-Z0-9]{4}-[A-Z0-9]{4})\b")
_keys = iter(range(1, 10**6))


def turn(service: TodoService, said: str | None = None, *, action: ButtonAction | None = None,
         **who: object) -> Reply:
    result = service.handle(inbound(said, action=action, delivery=f"d{next(_keys)}",
                                    **who), target='{"to": "chat"}')  # type: ignore[arg-type]
    assert result.reply is not None
    return result.reply


def text_of(service: TodoService, said: str, **who: object) -> str:
    return turn(service, said, **who).as_plain_text()


def code_in(reply: Reply) -> str:
    found = CODE.search(reply.text)
    assert found is not None, reply.text
    return found.group(1)


def link_button(reply: Reply) -> ButtonAction:
    (link,) = [a for a in reply.actions if a.kind == "link"]
    return ButtonAction(kind="link", number=link.number)


def forget_button(reply: Reply) -> ButtonAction:
    (forget,) = [a for a in reply.actions if a.kind == "forget"]
    return ButtonAction(kind="forget", number=forget.number)


def rows_of(engine: Engine, person: str, accounts: list[tuple[str, str, str]]) -> dict[str, int]:
    """Rows that name the person in every table the tests know (tests.conftest.TABLES), by
    their user id or by one of their accounts."""
    from tests.conftest import TABLES

    by_account = {"link_attempts": ("platform", "workspace", "external_id"),
                  "strangers": ("platform", "workspace", "external_id"),
                  "link_codes": ("claimed_platform", "claimed_workspace",
                                 "claimed_external_id")}
    found: dict[str, int] = {}
    with engine.connect() as conn:
        for table in TABLES:
            columns = {c["name"] for c in inspect(conn).get_columns(table)}
            total = 0
            if "user_id" in columns:
                total += int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE user_id = :p"),
                                          {"p": person}).scalar_one())
            if table == "users":
                total += int(conn.execute(text("SELECT count(*) FROM users WHERE id = :p"),
                                          {"p": person}).scalar_one())
            if table in by_account:
                a, b, c = by_account[table]
                for account in accounts:
                    total += int(conn.execute(text(
                        f"SELECT count(*) FROM {table} WHERE {a} = :x AND {b} = :y AND {c} = :z"),
                        dict(zip("xyz", account, strict=True))).scalar_one())
            found[table] = total
    return found


@pytest.fixture
def clock() -> SetClock:
    return SetClock(NOW)


@pytest.fixture
def service(make_service: ServiceFactory, clock: SetClock) -> TodoService:
    return make_service(clock=clock)


def _linked(service: TodoService) -> Reply:
    code = code_in(turn(service, "/link", **TG))
    question = turn(service, f"/link {code}", **SL)
    return turn(service, action=link_button(question), **SL)


def test_linking_merges_the_lists_with_numbers_after_the_other_sides(
        service: TodoService, engine: Engine) -> None:
    for title in ("buy milk", "call mom"):
        text_of(service, f"/add {title}", **TG)
    for title in ("pay rent", "book flights", "water plants"):
        text_of(service, f"/add {title}", **SL)
    text_of(service, "/done 2", **SL)

    offer = turn(service, "/link", **TG)
    assert "Nothing is linked yet" in offer.text
    question = turn(service, f"/link {code_in(offer).lower().replace('-', ' ')}", **SL)
    assert "Your 3 tasks here will join it as #3–#5" in question.text
    assert [a.kind for a in question.actions] == ["link", "cancel"]
    assert count(engine, "users") == 2  # nothing merged before the button

    done = turn(service, action=link_button(question), **SL)

    assert done.text.endswith("#1 → #3, #2 → #4, #3 → #5.")
    assert count(engine, "users") == 1 and count(engine, "chat_identities") == 2
    for who in (TG, SL):
        listed = text_of(service, "/list all", **who)
        assert listed.splitlines()[1:] == ["☐ #1 buy milk", "☐ #2 call mom",
                                           "☐ #3 pay rent", "☐ #5 water plants",
                                           "☑ #4 book flights"]
    assert text_of(service, "/done 3", **TG) == "Done: #3 pay rent"  # made in Slack
    assert text_of(service, "/done 1", **SL) == "Done: #1 buy milk"  # made in Telegram
    assert text_of(service, "/add one more", **SL) == "Added #6: one more"
    assert "Linked with: Slack" in turn(service, "/link", **TG).text
    with engine.connect() as conn:  # conversations stay per chat
        chats = conn.execute(text("SELECT platform, chat_key FROM conversations "
                                  "ORDER BY platform")).all()
    assert [tuple(c) for c in chats] == [("slack", "T1:D7"), ("telegram", "42")]


def test_reminders_follow_each_task_to_the_app_it_was_made_in(
        service: TodoService, engine: Engine, clock: SetClock) -> None:
    from functools import partial

    from bot_core.reminders import Reminders
    from models.db import UnitOfWork

    tg = service.handle(inbound("/add call mom at 10am", delivery="r1", **TG),  # type: ignore
                        target='{"chat": "tg"}', chat_target='{"chat": "tg"}')
    sl = service.handle(inbound("/add pay rent at 11am", delivery="r2", **SL),  # type: ignore
                        target='{"chat": "sl"}', chat_target='{"chat": "sl"}')
    assert tg.reply is not None and sl.reply is not None
    _linked(service)
    clock.advance(hours=3)

    written = Reminders(partial(UnitOfWork, engine), clock).write_due()

    assert len(written) == 2
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT platform, workspace, target, user_id FROM outbox "
                                 "WHERE delivery_key LIKE 'remind:%' ORDER BY platform")).all()
    people = {row.user_id for row in rows}
    assert [(r.platform, r.workspace, r.target) for r in rows] == [
        ("slack", "T1", '{"chat": "sl"}'), ("telegram", "", '{"chat": "tg"}')]
    assert len(people) == 1


@pytest.mark.parametrize("case", ["wrong", "expired", "used", "own", "other presser", "group",
                                  "claimed by another"])
def test_bad_codes_are_refused(service: TodoService, engine: Engine, clock: SetClock,
                               case: str) -> None:
    text_of(service, "/list", **SL)
    code = code_in(turn(service, "/link", **TG))
    other = {"platform": "slack", "user": "U9", "chat": "D9", "workspace": "T1"}
    if case == "wrong":
        answer = turn(service, "/link ABCD-EFGH", **SL).text
    elif case == "expired":
        clock.advance(minutes=10, seconds=1)
        answer = turn(service, f"/link {code}", **SL).text
    elif case == "used":
        turn(service, action=link_button(turn(service, f"/link {code}", **other)), **other)
        answer = turn(service, f"/link {code}", **SL).text
    elif case == "own":
        answer = turn(service, f"/link {code}", **TG).text
    elif case == "other presser":
        question = turn(service, f"/link {code}", **SL)
        answer = turn(service, action=link_button(question), **other).text
    elif case == "claimed by another":
        assert "Link this" in turn(service, f"/link {code}", **other).text
        answer = turn(service, f"/link {code}", **SL).text
    else:
        answer = turn(service, f"/link {code}", private=False, **SL).text
        assert "cancelled that code" in answer
        answer = turn(service, f"/link {code}", **SL).text
    expected = ("That code is for your other app: send it to me from there." if case == "own"
                else WRONG_CODE)
    assert answer == expected, answer
    assert person_of(engine, "slack", "U7") != person_of(engine, "telegram", "42")
    if case == "other presser":
        assert person_of(engine, "slack", "U9") != person_of(engine, "telegram", "42")


def person_of(engine: Engine, platform: str, external: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text(
            "SELECT user_id FROM chat_identities WHERE platform = :p AND external_user_id = :e"),
            {"p": platform, "e": external}).scalar_one())


def test_guessing_locks_link_for_the_hour(service: TodoService, engine: Engine,
                                          clock: SetClock) -> None:
    code = code_in(turn(service, "/link", **TG))
    answers = [turn(service, f"/link ZZZZ-ZZZ{i}", **SL).text for i in range(2, 7)]
    assert all("didn't work" in a for a in answers)

    locked = turn(service, f"/link {code}", **SL).text  # even the right code, for now

    assert locked == "Too many wrong codes. Try again after 10:00 (UTC)."
    assert count(engine, "users") == 2
    clock.advance(hours=1)
    code = code_in(turn(service, "/link", **TG))  # the first one has expired meanwhile
    assert "Link this" in turn(service, f"/link {code}", **SL).text


def test_a_code_is_never_shown_in_a_group(service: TodoService) -> None:
    answer = turn(service, "/link", private=False, **TG).text
    assert CODE.search(answer) is None and "private chat" in answer


def test_unlink_starts_a_fresh_list_and_the_tasks_stay(service: TodoService,
                                                       engine: Engine) -> None:
    text_of(service, "/add buy milk", **TG)
    text_of(service, "/add pay rent", **SL)
    _linked(service)

    answer = text_of(service, "/unlink", **SL)

    assert answer.startswith("Unlinked this Slack account")
    assert text_of(service, "/list", **SL) == EMPTY
    assert text_of(service, "/list", **TG).splitlines()[1:] == ["☐ #1 buy milk",
                                                                  "☐ #2 pay rent"]
    assert count(engine, "users") == 2
    assert text_of(service, "/unlink", **SL).startswith("Nothing to unlink")


def test_forget_deletes_every_row_of_the_person_and_nobody_elses(
        service: TodoService, engine: Engine) -> None:
    text_of(service, "/add buy milk", **TG)
    text_of(service, "/add pay rent", **SL)
    turn(service, "/link ZZZZ-ZZZZ", **SL)  # a wrong guess: a link_attempts row
    _linked(service)
    text_of(service, "/add mine", user="bob", platform="telegram", chat="77")
    bob = count(engine, "tasks")
    person = person_of(engine, "telegram", "42")
    accounts = [("telegram", "", "42"), ("slack", "T1", "U7")]
    before = rows_of(engine, person, accounts)
    assert before["tasks"] == 2 and before["link_attempts"] == 1 and before["outbox"] > 0
    question = turn(service, "/forget", **TG)
    assert "2 task(s)" in question.text and "2 chat account(s)" in question.text
    press = "forget-press"

    result = service.handle(inbound(action=forget_button(question), delivery=press, **TG),
                            target='{"to": "chat"}')  # type: ignore[arg-type]

    assert result.reply is not None and result.reply.text.startswith("Done: I deleted 2 task")
    assert rows_of(engine, person, accounts) == dict.fromkeys(before, 0)
    assert count(engine, "users") == 1 and count(engine, "tasks") == bob - 2  # bob's
    assert count(engine, "outbox", "user_id IS NULL") == 1  # the "Done" answer, to nobody
    replay = service.handle(inbound(action=forget_button(question), delivery=press, **TG))  # type: ignore[arg-type]
    assert replay.duplicate
    again = turn(service, action=forget_button(question), **TG)
    assert again.text == "There was nothing left to delete."
    assert count(engine, "users") == 1
    assert text_of(service, "/list", **TG) == EMPTY


def test_an_old_or_public_forget_button_deletes_nothing(service: TodoService, engine: Engine,
                                                        clock: SetClock) -> None:
    text_of(service, "/add buy milk", **TG)
    question = turn(service, "/forget", **TG)
    public = turn(service, action=forget_button(question), private=False, **TG)
    assert public.text.startswith("That question has expired")
    clock.advance(minutes=12)

    late = turn(service, action=forget_button(question), **TG)

    assert late.text.startswith("That question has expired")
    assert count(engine, "tasks") == 1
    fresh = turn(service, "/forget", **TG)
    assert turn(service, action=forget_button(fresh), **TG).text.startswith("Done")


def test_forget_and_unlink_only_in_private(service: TodoService, engine: Engine) -> None:
    text_of(service, "/add buy milk", **TG)
    for command in ("/forget", "/unlink"):
        assert "private chat" in text_of(service, command, private=False, **TG)
    assert count(engine, "tasks") == 1


def test_the_sweep_prunes_old_codes_and_guesses(service: TodoService, engine: Engine,
                                                clock: SetClock) -> None:
    from sqlmodel import Session

    from bot_core.accounts import prune_link_rows

    turn(service, "/link", **TG)
    turn(service, "/link ZZZZ-ZZZZ", **SL)
    assert count(engine, "link_codes") == count(engine, "link_attempts") == 1
    with Session(engine) as session:
        assert prune_link_rows(session, clock.now + timedelta(hours=12)) == 0
        assert prune_link_rows(session, clock.now + timedelta(days=2)) == 2
        session.commit()
    assert count(engine, "link_codes") == count(engine, "link_attempts") == 0


def test_the_code_is_kept_masked_and_the_maker_is_told_when_it_is_used(
        service: TodoService, engine: Engine) -> None:
    offer = service.handle(inbound("/link", delivery="m1", **TG),  # type: ignore[arg-type]
                           target='{"to": "tg"}', chat_target='{"chat": "tg-dm"}').reply
    assert offer is not None
    code = code_in(offer)
    question = turn(service, f"/link {code}", **SL)
    turn(service, action=link_button(question), **SL)

    with engine.connect() as conn:
        said = " ".join(conn.execute(text("SELECT content FROM messages")).scalars())
        (notice,) = conn.execute(text(
            "SELECT platform, target, reply FROM outbox WHERE delivery_key LIKE 'linked:%'")).all()
    assert code not in said and code.replace("-", "") not in said and "····-····" in said
    assert (notice.platform, notice.target) == ("telegram", '{"chat": "tg-dm"}')
    assert "a Slack account now shares this list" in notice.reply


def test_unlink_cancels_the_accounts_codes_and_its_digest(service: TodoService,
                                                          engine: Engine) -> None:
    _linked(service)
    service.handle(inbound("/digest 08:00", delivery="dg", **SL),  # type: ignore[arg-type]
                   chat_target='{"chat": "sl-dm"}')
    code = code_in(turn(service, "/link", **SL))  # made while linked
    assert count(engine, "users", "digest_platform = 'slack'") == 1

    turn(service, "/unlink", **SL)

    assert count(engine, "users", "digest_platform = 'slack'") == 0
    other = {"platform": "slack", "user": "U9", "chat": "D9", "workspace": "T1"}
    assert turn(service, f"/link {code}", **other).text == WRONG_CODE
    assert person_of(engine, "slack", "U9") != person_of(engine, "telegram", "42")


def test_a_double_pressed_link_merges_once(service: TodoService, engine: Engine) -> None:
    text_of(service, "/add pay rent", **SL)
    code = code_in(turn(service, "/link", **TG))
    question = turn(service, f"/link {code}", **SL)
    first = turn(service, action=link_button(question), **SL)
    second = turn(service, action=link_button(question), **SL)
    assert first.text.startswith("Linked") and second.text == WRONG_CODE
    assert count(engine, "users") == 1 and count(engine, "tasks") == 1
