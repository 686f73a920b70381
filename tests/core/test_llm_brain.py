"""The LLM brain through the real ``openai`` client against a fake server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from bot_core.service import TodoService
from tests.conftest import ServiceFactory, count, inbound
from tests.fakes.openai_server import FakeOpenAI, calls, fails, says, stalls


@pytest.fixture
def fake_llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def llm_service(make_service: ServiceFactory, fake_llm: FakeOpenAI) -> TodoService:
    return make_service(
        openai_base_url=fake_llm.base_url, openai_model="fake-model", llm_timeout_seconds=1.0,
        llm_max_retries=1, llm_max_tool_rounds=4,
    )


def _messages(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT role, content, tool_calls FROM messages ORDER BY created_at, id"
        )).mappings().all()
    return [dict(r) for r in rows]


def _titles(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(text("SELECT title FROM tasks ORDER BY number")).scalars())


def test_add_call_mom_stores_task_and_tool_call(
    llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine
) -> None:
    fake_llm.script(calls(("add_task", {"title": "Call mom"})), says("Added #1: Call mom."))
    reply = llm_service.handle(inbound("add call mom")).reply
    assert reply is not None and reply.text == "Added #1: Call mom."
    assert _titles(engine) == ["Call mom"]
    user, assistant = _messages(engine)
    assert (user["role"], user["content"]) == ("user", "add call mom")
    stored = json.loads(assistant["tool_calls"])
    assert len(stored) == 1
    assert stored[0]["name"] == "add_task"
    assert stored[0]["arguments"] == {"title": "Call mom"}
    assert stored[0]["result"]["ok"] is True
    assert stored[0]["result"]["task"]["number"] == 1
    # The tool result went back to the model, and the tools' schema was offered.
    second = fake_llm.bodies[1]
    assert second["messages"][-1]["role"] == "tool"
    assert json.loads(second["messages"][-1]["content"])["task"]["title"] == "Call mom"
    offered = {t["function"]["name"] for t in fake_llm.bodies[0]["tools"]}
    assert offered == {"add_task", "list_tasks", "complete_task", "delete_task", "update_task"}
    assert all("user_id" not in json.dumps(t) for t in fake_llm.bodies[0]["tools"])


def test_system_prompt_carries_current_date(
    llm_service: TodoService, fake_llm: FakeOpenAI
) -> None:
    from datetime import UTC, datetime

    fake_llm.script(says("Hello!"))
    llm_service.handle(inbound("hello"))
    system = fake_llm.bodies[0]["messages"][0]
    assert system["role"] == "system"
    assert datetime.now(UTC).date().isoformat() in system["content"]


@pytest.mark.parametrize("status", [500, 429])
def test_provider_error_apologises_keeps_message_and_rolls_back(
    status: int, llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine
) -> None:
    # The model adds a task, then the provider fails on the follow-up call (after retries).
    fake_llm.script(calls(("add_task", {"title": "half done"})))
    fake_llm.default = fails(status, {"retry-after-ms": "10"})
    reply = llm_service.handle(inbound("add half done")).reply
    assert reply is not None
    assert "try again" in reply.text or "isn't answering" in reply.text
    assert count(engine, "tasks") == 0  # the partial add was rolled back
    user, assistant = _messages(engine)
    assert user["content"] == "add half done"
    assert assistant["content"] == reply.text
    assert assistant["tool_calls"] is None
    assert len(fake_llm.bodies) == 3  # one success, then the failure and its one retry


def test_rate_limit_message_is_specific(
    llm_service: TodoService, fake_llm: FakeOpenAI
) -> None:
    fake_llm.default = fails(429, {"retry-after-ms": "10"})
    reply = llm_service.handle(inbound("what's up")).reply
    assert reply is not None and "too many requests" in reply.text


def test_timeout_is_bounded_and_apologises(
    llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine
) -> None:
    fake_llm.default = stalls(3.0)
    reply = llm_service.handle(inbound("add something slowly")).reply
    assert reply is not None and "isn't answering" in reply.text
    assert len(fake_llm.bodies) == 2  # first try + one retry, each cut at 1 s
    assert count(engine, "messages", "role = 'user'") == 1


def test_malformed_and_unknown_tool_calls_go_back_to_the_model(
    llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine
) -> None:
    fake_llm.script(
        calls(("add_task", "{not json"), ("drop_database", {}), ("add_task", {"title": ""}),
              ("add_task", {"title": "x", "user_id": "someone-else"})),
        calls(("add_task", {"title": "Fixed"})),
        says("Added #1: Fixed."),
    )
    reply = llm_service.handle(inbound("add fixed")).reply
    assert reply is not None and reply.text == "Added #1: Fixed."
    tool_messages = [m for m in fake_llm.bodies[1]["messages"] if m["role"] == "tool"]
    results = [json.loads(m["content"]) for m in tool_messages]
    assert [r["ok"] for r in results] == [False, False, False, False]
    assert "not valid JSON" in results[0]["message"]
    assert "no tool called 'drop_database'" in results[1]["message"]
    assert "needs a title" in results[2]["message"]
    assert "Unknown argument 'user_id'" in results[3]["message"]
    assert _titles(engine) == ["Fixed"]
    stored = json.loads(_messages(engine)[1]["tool_calls"])
    assert [c["name"] for c in stored] == ["add_task", "drop_database", "add_task", "add_task",
                                           "add_task"]


def test_another_users_task_is_not_found(
    make_service: ServiceFactory, llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine
) -> None:
    offline = make_service()
    offline.handle(inbound("/add bob's secret", user="bob", chat="bob-chat"))
    fake_llm.script(
        calls(("complete_task", {"task_number": 1}), ("delete_task", {"task_number": 1}),
              ("update_task", {"task_number": 1, "title": "pwned"})),
        calls(("list_tasks", {"status": "all"})),
        says("I couldn't find that task."),
    )
    reply = llm_service.handle(inbound("complete task 1", user="mallory", chat="m")).reply
    assert reply is not None
    results = [json.loads(m["content"]) for m in fake_llm.bodies[1]["messages"]
               if m["role"] == "tool"]
    assert all(not r["ok"] and "can't find task #1" in r["message"] for r in results)
    listed = json.loads(fake_llm.bodies[2]["messages"][-1]["content"])
    assert listed["tasks"] == []
    with engine.connect() as conn:
        row = conn.execute(text("SELECT title, completed FROM tasks")).one()
    assert tuple(row) == ("bob's secret", False)


def test_runaway_tool_loop_is_bounded_and_rolled_back(
    llm_service: TodoService, fake_llm: FakeOpenAI, engine: Engine
) -> None:
    fake_llm.default = calls(("add_task", {"title": "again"}))
    reply = llm_service.handle(inbound("add again forever")).reply
    assert reply is not None and "round in circles" in reply.text
    assert len(fake_llm.bodies) == 4  # llm_max_tool_rounds
    assert count(engine, "tasks") == 0
    assert count(engine, "messages") == 2


def test_listed_tasks_come_back_with_buttons(
    llm_service: TodoService, fake_llm: FakeOpenAI
) -> None:
    llm_service.handle(inbound("/add one"))
    fake_llm.script(calls(("list_tasks", {"status": "open"})), says("You have one open task."))
    reply = llm_service.handle(inbound("what's open?")).reply
    assert reply is not None
    assert [t.title for t in reply.tasks] == ["one"]
    assert {(a.kind, a.number) for a in reply.actions} == {("done", 1), ("delete", 1)}


def test_history_is_bounded_and_in_order(
    make_service: ServiceFactory, fake_llm: FakeOpenAI
) -> None:
    service = make_service(openai_base_url=fake_llm.base_url, history_max_messages=4,
                           llm_max_retries=0)
    fake_llm.default = says("ok")
    for i in range(5):
        service.handle(inbound(f"message {i}"))
    sent = fake_llm.bodies[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "user", "assistant",
                                         "user"]
    assert [m["content"] for m in sent[1:]] == ["message 2", "ok", "message 3", "ok",
                                                 "message 4"]


def test_commands_never_call_the_model(
    llm_service: TodoService, fake_llm: FakeOpenAI
) -> None:
    for said in ("/add a", "/list", "/done 1", "/undo 1", "/edit 1 b", "/delete 1", "/help"):
        llm_service.handle(inbound(said))
    assert fake_llm.bodies == []


def test_the_whole_turn_fits_its_time_budget(
    make_service: ServiceFactory, fake_llm: FakeOpenAI, engine: Engine
) -> None:
    # Each call alone is within the per-call timeout, but rounds add up: the budget stops them.
    service = make_service(openai_base_url=fake_llm.base_url, llm_timeout_seconds=5.0,
                           llm_max_retries=0, llm_max_tool_rounds=20,
                           llm_turn_budget_seconds=2.0)
    slow_add = calls(("add_task", {"title": "again"}))

    def slowly(request: dict[str, Any]) -> Any:
        response = slow_add(request)
        response.delay = 0.6
        return response

    fake_llm.default = slowly
    reply = service.handle(inbound("keep adding")).reply
    assert reply is not None and "isn't answering" in reply.text
    assert 2 <= len(fake_llm.bodies) <= 4  # stopped by the 2 s budget, not by 20 rounds
    assert count(engine, "tasks") == 0
