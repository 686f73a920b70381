"""The LLM brain and time, end to end through the real ``openai`` client and the fake server:
the model is told the user's local now and zone, its local ISO 8601 ``due`` / ``remind_at`` and
RRULE ``recurrence`` arguments are stored as the right UTC instants, a bad rule or date goes
back to it as an error result it can correct, ``remind_at`` snoozes and ``due: null`` clears.
On both databases, with a fixed clock (never the machine's time)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from bot_core.service import TodoService
from models.tables import Task
from tests.conftest import ServiceFactory, inbound
from tests.fakes.openai_server import FakeOpenAI, calls, says

NOW = datetime(2027, 3, 4, 9, 0, tzinfo=UTC)  # Thursday: 10:00 in Berlin, 04:00 in New York


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def llm_service(make_service: ServiceFactory, fake_llm: FakeOpenAI) -> TodoService:
    return make_service(
        openai_base_url=fake_llm.base_url, openai_model="fake-model", llm_timeout_seconds=2.0,
        llm_max_retries=0, llm_max_tool_rounds=4, clock=lambda: NOW,
    )


def reply_to(service: TodoService, said: str) -> str:
    reply = service.handle(inbound(said)).reply
    assert reply is not None
    return reply.text


def task_row(engine: Engine, number: int = 1) -> dict[str, Any]:
    """The task's row as the models read it (times aware, in UTC, on both databases)."""
    with Session(engine) as session:
        task = session.exec(select(Task).where(col(Task.number) == number)).one()
        return task.model_dump()


def tool_results(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool results a request carried back to the model (the latest round's last)."""
    return [json.loads(m["content"]) for m in body["messages"] if m["role"] == "tool"]


def stored_calls(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        raw = conn.execute(text("SELECT tool_calls FROM messages WHERE role = 'assistant' "
                                "AND tool_calls IS NOT NULL ORDER BY id DESC")).scalars().first()
    assert raw is not None
    loaded: list[dict[str, Any]] = json.loads(raw)
    return loaded


def test_the_system_prompt_has_the_users_local_now_and_zone(
        llm_service: TodoService, fake_llm: FakeOpenAI) -> None:
    fake_llm.default = says("Hi!")
    reply_to(llm_service, "hello")
    system = fake_llm.bodies[-1]["messages"][0]
    assert system["role"] == "system"
    assert "2027-03-04T09:00 (Thursday), timezone UTC (assumed" in system["content"]

    assert reply_to(llm_service, "/timezone Europe/Berlin").startswith(
        "Your timezone is now Europe/Berlin (it's 10:00 there)")
    reply_to(llm_service, "hello again")
    system = fake_llm.bodies[-1]["messages"][0]
    assert "The user's local time is now 2027-03-04T10:00 (Thursday), timezone " \
           "Europe/Berlin." in system["content"]
    assert "assumed" not in system["content"]

    reply_to(llm_service, "/timezone America/New_York")
    reply_to(llm_service, "and now?")
    assert "2027-03-04T04:00 (Thursday), timezone America/New_York." in \
        fake_llm.bodies[-1]["messages"][0]["content"]


@pytest.mark.parametrize(("zone", "utc_hour"), [("Europe/Berlin", 16),
                                                ("America/New_York", 22),
                                                ("Asia/Kolkata", 11)])
def test_add_task_with_a_local_due_and_a_weekly_rule_stores_the_right_instant(
        llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine,
        zone: str, utc_hour: int) -> None:
    reply_to(llm_service, f"/timezone {zone}")
    fake_llm.script(
        calls(("add_task", {"title": "Weekly review", "due": "2027-03-05T17:00",
                            "recurrence": "FREQ=WEEKLY;BYDAY=FR"})),
        says("Added #1: Weekly review, every Friday at 17:00."),
    )
    assert reply_to(llm_service, "weekly review every friday at 5pm") == (
        "Added #1: Weekly review, every Friday at 17:00.")
    row = task_row(engine)
    minute = 30 if zone == "Asia/Kolkata" else 0  # UTC+05:30
    expected = datetime(2027, 3, 5, utc_hour, minute, tzinfo=UTC)
    assert (row["due_date"], bool(row["due_has_time"])) == (expected, True)
    assert row["remind_at"] == expected
    assert row["recurrence"] == "FREQ=WEEKLY;BYDAY=FR"
    (result,) = tool_results(fake_llm.bodies[1])
    assert result["ok"] is True
    assert result["task"]["due_label"] == "tomorrow 17:00"
    assert result["task"]["repeats_label"] == "every Fri"


def test_the_weekly_rule_stays_at_17_local_across_the_change_to_summer_time(
        llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine) -> None:
    reply_to(llm_service, "/timezone America/New_York")  # summer time from 2027-03-14
    fake_llm.script(
        calls(("add_task", {"title": "Review", "due": "2027-03-12T17:00",
                            "recurrence": "FREQ=WEEKLY;BYDAY=FR"})),
        says("Added."),
        calls(("complete_task", {"task_number": 1})),
        says("Done; next Friday."),
    )
    reply_to(llm_service, "review on fridays at 5pm from next week")
    assert task_row(engine)["due_date"] == datetime(2027, 3, 12, 22, 0, tzinfo=UTC)  # EST
    reply_to(llm_service, "done with the review")
    assert task_row(engine)["due_date"] == datetime(2027, 3, 19, 21, 0, tzinfo=UTC)  # EDT
    (result,) = tool_results(fake_llm.bodies[-1])
    assert result["message"] == "Done: #1 Review — next: Fri 19 Mar 17:00"


@pytest.mark.parametrize(("bad", "reason"), [
    ({"recurrence": "every friday"}, "Invalid recurrence: 'EVERY FRIDAY' is not NAME=VALUE"),
    ({"recurrence": "FREQ=SECONDLY"}, "Invalid recurrence: FREQ must be HOURLY, DAILY"),
    ({"recurrence": "FREQ=WEEKLY;BYDAY=FR;UNTIL=20270430T000000Z"},
     "UNTIL is in the user's local time: no Z"),
    ({"due": "next friday"}, "Invalid due: use ISO 8601 like 2027-03-05 or 2027-03-05T17:00."),
    ({"due": "2027-03-05 at 5pm"}, "Invalid due: use ISO 8601"),
    ({"remind_at": "tomorrow"}, "Invalid remind_at: use ISO 8601"),
])
def test_a_bad_date_or_rule_goes_back_to_the_model_and_its_correction_succeeds(
        llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine,
        bad: dict[str, Any], reason: str) -> None:
    reply_to(llm_service, "/timezone Europe/Berlin")
    good = {"title": "Review", "due": "2027-03-05T17:00", "recurrence": "FREQ=WEEKLY;BYDAY=FR"}
    fake_llm.script(
        calls(("add_task", {**good, **bad})),
        calls(("add_task", good)),
        says("Added #1: Review."),
    )
    assert reply_to(llm_service, "review every friday at 5pm") == "Added #1: Review."
    (refused,) = tool_results(fake_llm.bodies[1])
    assert refused["ok"] is False
    assert reason in refused["message"]
    assert "Traceback" not in refused["message"]
    refused_then_done = tool_results(fake_llm.bodies[2])
    assert [r["ok"] for r in refused_then_done] == [False, True]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM tasks")).scalar_one() == 1
    assert task_row(engine)["due_date"] == datetime(2027, 3, 5, 16, 0, tzinfo=UTC)
    assert [(c["name"], c["result"]["ok"]) for c in stored_calls(engine)] == [
        ("add_task", False), ("add_task", True)]


def test_update_task_with_remind_at_snoozes(
        llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine) -> None:
    reply_to(llm_service, "/timezone Europe/Berlin")
    reply_to(llm_service, "/add call mom today at 17:00")
    assert task_row(engine)["remind_at"] == datetime(2027, 3, 4, 16, 0, tzinfo=UTC)
    fake_llm.script(
        calls(("update_task", {"task_number": 1, "remind_at": "2027-03-04T18:30"})),
        says("I'll remind you at 18:30."),
        calls(("update_task", {"task_number": 1, "remind_at": "2027-03-04T08:00"})),
        says("That time has passed."),
    )
    assert reply_to(llm_service, "remind me about mom at 6:30pm instead") == (
        "I'll remind you at 18:30.")
    row = task_row(engine)
    assert row["remind_at"] == datetime(2027, 3, 4, 17, 30, tzinfo=UTC)
    assert row["due_date"] == datetime(2027, 3, 4, 16, 0, tzinfo=UTC)  # the due stays
    (result,) = tool_results(fake_llm.bodies[1])
    assert result["ok"] is True and "reminder 18:30" in result["message"]

    reply_to(llm_service, "no, remind me at 8 this morning")
    (refused,) = tool_results(fake_llm.bodies[3])
    assert (refused["ok"], refused["message"]) == (False,
                                                   "That reminder time has already passed.")
    assert task_row(engine)["remind_at"] == datetime(2027, 3, 4, 17, 30, tzinfo=UTC)


def test_due_null_clears_the_date_the_reminder_and_the_repetition(
        llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine) -> None:
    reply_to(llm_service, "/timezone Europe/Berlin")
    fake_llm.script(
        calls(("add_task", {"title": "Water plants", "due": "2027-03-05T09:00",
                            "recurrence": "FREQ=DAILY;BYHOUR=9;BYMINUTE=0"})),
        says("Added."),
        calls(("update_task", {"task_number": 1, "due": None})),
        says("It has no date now."),
    )
    reply_to(llm_service, "water plants every day at 9")
    row = task_row(engine)
    assert row["due_date"] is not None and row["recurrence"] is not None
    assert reply_to(llm_service, "take the date off the plants") == "It has no date now."
    # The JSON null reached the tool as "given, and null", not as "left out".
    sent = fake_llm.bodies[3]["messages"]
    (asked,) = [c for m in sent if m["role"] == "assistant" for c in m.get("tool_calls") or []]
    assert json.loads(asked["function"]["arguments"]) == {"task_number": 1, "due": None}
    row = task_row(engine)
    assert (row["due_date"], row["remind_at"], row["recurrence"]) == (None, None, None)
    assert bool(row["due_has_time"]) is False
    (result,) = tool_results(fake_llm.bodies[3])
    assert result["ok"] is True and result["task"].get("due_label") is None
