"""The offline rules brain on a table of everyday phrasings (no LLM, no key)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text

from bot_core.service import TodoService
from tests.conftest import ServiceFactory, inbound

# Each row: what the user says, the tool the brain must call (None: no tool), and the
# arguments it must pass (a subset check), given the seeded list below.
SEED = ["buy milk", "call mom", "pay bills", "buy bread"]  # numbers 1..4; #4 is completed

PHRASINGS: list[tuple[str, str | None, dict[str, object]]] = [
    # add
    ("add buy eggs", "add_task", {"title": "buy eggs"}),
    ("Add Buy eggs", "add_task", {"title": "Buy eggs"}),
    ("add task water plants", "add_task", {"title": "water plants"}),
    ("add a new task: water plants", "add_task", {"title": "water plants"}),
    ("remind me to call the dentist", "add_task", {"title": "call the dentist"}),
    ("Remind me to renew my passport.", "add_task", {"title": "renew my passport"}),
    ("I need to remember to pay rent", "add_task", {"title": "pay rent"}),
    ("i need to book flights", "add_task", {"title": "book flights"}),
    ("I have to finish the report", "add_task", {"title": "finish the report"}),
    ("don't let me forget to water the plants", "add_task", {"title": "water the plants"}),
    ("remember to feed the cat", "add_task", {"title": "feed the cat"}),
    ("create a task renew insurance", "add_task", {"title": "renew insurance"}),
    ("new task: clean garage", "add_task", {"title": "clean garage"}),
    ("todo: clean garage", "add_task", {"title": "clean garage"}),
    ("please add 'Call mom tonight'", "add_task", {"title": "Call mom tonight"}),
    ("add “buy stamps” to my list", "add_task", {"title": "buy stamps"}),
    ("put eggs on my list", "add_task", {"title": "eggs"}),
    ("note to self: back up laptop", "add_task", {"title": "back up laptop"}),
    ("jot down call the plumber", "add_task", {"title": "call the plumber"}),
    ("can you add buy coffee", "add_task", {"title": "buy coffee"}),
    ("I must get this done today", "add_task", {"title": "get this done"}),
    # list open
    ("show my tasks", "list_tasks", {"status": "open"}),
    ("what's pending?", "list_tasks", {"status": "open"}),
    ("What’s pending", "list_tasks", {"status": "open"}),
    ("what's left", "list_tasks", {"status": "open"}),
    ("what's on my list?", "list_tasks", {"status": "open"}),
    ("what do I have to do?", "list_tasks", {"status": "open"}),
    ("list", "list_tasks", {"status": "open"}),
    ("my tasks", "list_tasks", {"status": "open"}),
    ("show me my todo list", "list_tasks", {"status": "open"}),
    ("todo list", "list_tasks", {"status": "open"}),
    ("anything left?", "list_tasks", {"status": "open"}),
    ("what is pending", "list_tasks", {"status": "open"}),
    ("show open tasks", "list_tasks", {"status": "open"}),
    # list done / all
    ("what have I completed?", "list_tasks", {"status": "done"}),
    ("what did I finish", "list_tasks", {"status": "done"}),
    ("show completed tasks", "list_tasks", {"status": "done"}),
    ("done tasks", "list_tasks", {"status": "done"}),
    ("show all tasks", "list_tasks", {"status": "all"}),
    ("show everything", "list_tasks", {"status": "all"}),
    ("all my tasks", "list_tasks", {"status": "all"}),
    # complete
    ("done with 3", "complete_task", {"task_number": 3}),
    ("done 1", "complete_task", {"task_number": 1}),
    ("mark task 3 as complete", "complete_task", {"task_number": 3}),
    ("mark #2 as done", "complete_task", {"task_number": 2}),
    ("I'm done with task 2", "complete_task", {"task_number": 2}),
    ("finished 1", "complete_task", {"task_number": 1}),
    ("complete task three", "complete_task", {"task_number": 3}),
    ("check off 2", "complete_task", {"task_number": 2}),
    ("I finished the milk one", "complete_task", {"task_number": 1}),
    ("done with call mom", "complete_task", {"task_number": 2}),
    ("task 3 is done", "complete_task", {"task_number": 3}),
    ("3 done", "complete_task", {"task_number": 3}),
    # reopen
    ("reopen 4", "update_task", {"task_number": 4, "completed": False}),
    ("undo 4", "update_task", {"task_number": 4, "completed": False}),
    ("mark 4 as not done", "update_task", {"task_number": 4, "completed": False}),
    ("reopen the bread one", "update_task", {"task_number": 4, "completed": False}),
    ("task 4 isn't done yet", "update_task", {"task_number": 4, "completed": False}),
    # delete
    ("delete task 2", "delete_task", {"task_number": 2}),
    ("remove the milk one", "delete_task", {"task_number": 1}),
    ("remove 3", "delete_task", {"task_number": 3}),
    ("cancel task #1", "delete_task", {"task_number": 1}),
    ("forget about pay bills", "delete_task", {"task_number": 3}),
    ("get rid of task 2", "delete_task", {"task_number": 2}),
    # update
    ("change task 1 to 'Call mom tonight'", "update_task",
     {"task_number": 1, "title": "Call mom tonight"}),
    ("rename 2 to Call dad", "update_task", {"task_number": 2, "title": "Call dad"}),
    ("edit task 3: pay all bills", "update_task", {"task_number": 3, "title": "pay all bills"}),
    ("change the milk one to buy oat milk", "update_task",
     {"task_number": 1, "title": "buy oat milk"}),
    # no tool: greetings, help, nonsense
    ("hi", None, {}),
    ("Hello there", None, {}),
    ("thanks!", None, {}),
    ("help", None, {}),
    ("what can you do?", None, {}),
    ("purple monkey dishwasher", None, {}),
]


def _seed(service: TodoService) -> None:
    for title in SEED:
        service.handle(inbound(f"/add {title}"))
    service.handle(inbound("/done 4"))


def _last_tool_calls(engine: Engine) -> list[dict[str, object]]:
    with engine.connect() as conn:
        raw = conn.execute(text(
            "SELECT tool_calls FROM messages WHERE role = 'assistant' ORDER BY id DESC LIMIT 1"
        )).scalar_one()
    return json.loads(raw) if raw else []


def test_table_is_large_enough() -> None:
    assert len(PHRASINGS) >= 60


@pytest.mark.parametrize(("said", "tool", "expected"), PHRASINGS, ids=[p[0] for p in PHRASINGS])
def test_phrasing(said: str, tool: str | None, expected: dict[str, object],
                  make_service: ServiceFactory, engine: Engine) -> None:
    service = make_service()
    _seed(service)
    reply = service.handle(inbound(said)).reply
    assert reply is not None
    calls = _last_tool_calls(engine)
    if tool is None:
        assert calls == []
        assert reply.text
        return
    assert [c["name"] for c in calls] == [tool], reply.text
    arguments = calls[0]["arguments"]
    assert isinstance(arguments, dict)
    assert {k: arguments.get(k) for k in expected} == expected
    if tool == "list_tasks":  # a due window not asked for is a different view ("today")
        assert arguments.get("due") == expected.get("due"), arguments
    assert calls[0]["result"]["ok"] is True  # type: ignore[index]


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path: object, sqlite_template: object) -> str:
    """The phrasing table exercises the rules, not the database: SQLite is enough here (the
    same tools run on PostgreSQL in the other suites)."""
    import shutil
    from pathlib import Path

    assert isinstance(tmp_path, Path) and isinstance(sqlite_template, Path)
    path = tmp_path / "todobot.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def test_ambiguous_title_words_ask_which(make_service: ServiceFactory, engine: Engine) -> None:
    service = make_service()
    _seed(service)
    service.handle(inbound("/undo 4"))
    reply = service.handle(inbound("done with the buy one")).reply
    assert reply is not None
    assert "which one" in reply.text
    assert [t.number for t in reply.tasks] == [1, 4]
    assert [(a.kind, a.number) for a in reply.actions] == [("done", 1), ("done", 4)]
    assert _last_tool_calls(engine) == []  # nothing was changed


def test_unknown_title_words_say_not_found(make_service: ServiceFactory) -> None:
    service = make_service()
    _seed(service)
    reply = service.handle(inbound("delete the unicorn one")).reply
    assert reply is not None and "can't find" in reply.text
