"""Commands, buttons and task tools on both databases, including two users' isolation."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text

from bot_core.inbound import ButtonAction
from bot_core.service import TodoService
from bot_core.tasks import TaskTools, tool_schemas
from tests.conftest import ServiceFactory, count, inbound


def say(service: TodoService, said: str, **kw: str) -> str:
    reply = service.handle(inbound(said, **kw)).reply
    assert reply is not None
    return reply.as_plain_text()


def test_every_command(make_service: ServiceFactory, engine: Engine) -> None:
    s = make_service()
    assert "I'm Todobot" in say(s, "/start")
    assert "/add <title>" in say(s, "/help")
    assert say(s, "/add Buy milk") == "Added #1: Buy milk"
    assert say(s, "/add@todo_bot Call   mom") == "Added #2: Call mom"
    assert say(s, "/add") .startswith("What should I add?")
    assert say(s, "/list") == "Your open tasks:\n☐ #1 Buy milk\n☐ #2 Call mom"
    assert say(s, "/done 1") == "Done: #1 Buy milk"
    assert say(s, "/done 1") == "#1 is already done: Buy milk"
    assert say(s, "/list done") == "Completed tasks:\n☑ #1 Buy milk"
    assert say(s, "/list all") == "All your tasks:\n☐ #2 Call mom\n☑ #1 Buy milk"
    assert say(s, "/list nonsense") == "Use /list, /list all or /list done."
    assert say(s, "/undo 1") == "Reopened #1: Buy milk"
    assert say(s, "/edit 2 Call mom tonight") == "Updated #2: Call mom tonight"
    assert say(s, "/edit 2").startswith("Usage: /edit")
    assert say(s, "/delete 1") == "Deleted #1: Buy milk"
    assert say(s, "/delete 1") == "I can't find task #1."
    assert say(s, "/done x").startswith("Which task?")
    assert say(s, "/frobnicate").startswith("I don't know /frobnicate.")
    # Numbers are never reused after a delete.
    assert say(s, "/add Bread") == "Added #3: Bread"
    assert say(s, "/done 2, 3") == "Done: #2 Call mom tonight\nDone: #3 Bread"


def test_new_starts_a_fresh_conversation(make_service: ServiceFactory, engine: Engine) -> None:
    s = make_service()
    say(s, "/add a")
    assert say(s, "/new").startswith("Started a fresh conversation")
    say(s, "/list")
    assert count(engine, "conversations") == 2
    with engine.connect() as conn:
        newest = conn.execute(text("SELECT max(id) FROM conversations")).scalar_one()
    assert count(engine, "messages", "conversation_id = :c", c=newest) == 4
    assert count(engine, "tasks") == 1


def test_buttons_run_the_same_code_and_redraw_the_list(make_service: ServiceFactory) -> None:
    s = make_service()
    say(s, "/add a")
    say(s, "/add b")
    reply = s.handle(inbound(action=ButtonAction(kind="done", number=1, view="open"))).reply
    assert reply is not None
    assert reply.text.startswith("Done: #1 a")
    assert [t.number for t in reply.tasks] == [2]
    assert [(a.kind, a.number) for a in reply.actions] == [("done", 2), ("delete", 2)]
    reply = s.handle(inbound(action=ButtonAction(kind="undo", number=1, view="all"))).reply
    assert reply is not None and [t.completed for t in reply.tasks] == [False, False]
    reply = s.handle(inbound(action=ButtonAction(kind="delete", number=2, view="open"))).reply
    assert reply is not None and [t.number for t in reply.tasks] == [1]


def test_title_and_description_limits(make_service: ServiceFactory, engine: Engine) -> None:
    s = make_service()
    assert "at most 200" in say(s, "/add " + "x" * 201)
    assert say(s, "/add " + "y" * 200).startswith("Added #1")
    assert "at most 1000" in say(s, "/add Title\n" + "d" * 1001)
    assert say(s, "/add Title\nsome details").startswith("Added #2")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT description FROM tasks WHERE number = 2")
                            ).scalar_one() == "some details"
    assert count(engine, "tasks") == 2


def test_two_users_are_isolated_through_every_tool_and_command(
    make_service: ServiceFactory, engine: Engine
) -> None:
    s = make_service()
    say(s, "/add alice private", user="alice", chat="a")
    say(s, "/add bob private", user="bob", chat="b")
    # Each sees only their own #1.
    assert say(s, "/list all", user="alice", chat="a") == "All your tasks:\n☐ #1 alice private"
    assert say(s, "/list all", user="bob", chat="b") == "All your tasks:\n☐ #1 bob private"
    # Bob's commands and buttons touch only bob's #1; his #2 does not exist for alice.
    say(s, "/add bob second", user="bob", chat="b")
    for said in ("/done 2", "/undo 2", "/edit 2 hacked", "/delete 2"):
        assert say(s, said, user="alice", chat="a") == "I can't find task #2."
    reply = s.handle(inbound(action=ButtonAction(kind="delete", number=2), user="alice",
                             chat="a")).reply
    assert reply is not None and reply.text.startswith("I can't find task #2.")
    # Free text through the offline brain: title words never match another user's tasks.
    assert "can't find" in say(s, "delete the bob one", user="alice", chat="a")
    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT u.display_name, t.number, t.title, t.completed FROM tasks t "
            "JOIN users u ON u.id = t.user_id ORDER BY u.display_name, t.number")).all()
    assert [tuple(r) for r in rows] == [
        ("Alice", 1, "alice private", False), ("Bob", 1, "bob private", False),
        ("Bob", 2, "bob second", False),
    ]


def test_same_person_in_two_chats_shares_tasks_not_conversations(
    make_service: ServiceFactory, engine: Engine
) -> None:
    s = make_service()
    say(s, "/add shared", user="alice", chat="dm")
    assert "shared" in say(s, "/list", user="alice", chat="group")
    assert count(engine, "users") == 1
    assert count(engine, "conversations") == 2


def test_tool_schemas_come_from_the_argument_models() -> None:
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in tool_schemas()}
    assert schemas["add_task"]["required"] == ["title"]
    assert schemas["add_task"]["properties"]["title"]["maxLength"] == 200
    assert schemas["list_tasks"]["properties"]["status"]["enum"] == ["open", "done", "all"]
    assert schemas["complete_task"]["additionalProperties"] is False
    assert "user_id" not in json.dumps(schemas)


@pytest.mark.parametrize("bad", [{"task_number": 0}, {"task_number": "three"}, [], "1"])
def test_invalid_arguments_are_results_not_exceptions(
    bad: object, make_service: ServiceFactory, engine: Engine
) -> None:
    from sqlmodel import Session

    make_service().handle(inbound("/add x"))
    with Session(engine) as session:
        user_id = session.execute(text("SELECT id FROM users")).scalar_one()
        tools = TaskTools(session, user_id)
        call = tools.call("complete_task", bad)
        assert call.result.ok is False
        session.rollback()
