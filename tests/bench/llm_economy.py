"""Benchmark 5: how much LLM a turn costs, against the fake OpenAI server.

Counts model calls for commands and buttons (target 0) and for a one-action request (target
<= 2), and measures the request sent to the model when the conversation already holds exactly
50 and exactly 500 messages (counted in the database before the turn; the user's text is the
same length at both), target ratio <= 1.1: the history sent is bounded, not the conversation.
Run: ``python -m tests.bench.llm_economy``.
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text

from bot_core.bootstrap import build_service
from bot_core.inbound import ButtonAction, Inbound
from bot_core.settings import Settings
from models.db import create_db_engine
from models.migrate import upgrade
from tests.bench.table import Row, ratio_row, render
from tests.fakes.openai_server import FakeOpenAI, calls, says

MARKS = (50, 500)
COMMANDS = ("/add a", "/list", "/done 1", "/undo 1", "/edit 1 b", "/list all")
BUTTONS = (ButtonAction(kind="done", number=1), ButtonAction(kind="delete", number=1))
SIZE_LIMIT = 1.1


@dataclass(frozen=True)
class Economy:
    command_calls: int
    one_action_calls: int
    request_chars: dict[int, int]  # stored messages before the turn -> request body size


def _say(said: str | None = None, action: ButtonAction | None = None) -> Inbound:
    return Inbound(platform="bench", chat_id="c", external_user_id="u", text=said, action=action)


def _stored(engine: Engine) -> int:
    """Messages in the (one) conversation so far."""
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM messages")).scalar_one())


def run(marks: tuple[int, ...] = MARKS) -> Economy:
    with tempfile.TemporaryDirectory() as folder, FakeOpenAI() as fake:
        url = f"sqlite:///{Path(folder) / 'economy.db'}"
        upgrade(url)
        engine = create_db_engine(url)
        try:
            service = build_service(Settings(database_url=url, openai_base_url=fake.base_url,
                                             llm_max_retries=0), engine=engine)
            fake.default = says("ok")

            before = len(fake.bodies)
            for said in COMMANDS:
                service.handle(_say(said))
            for action in BUTTONS:
                service.handle(_say(action=action))
            command_calls = len(fake.bodies) - before

            before = len(fake.bodies)
            fake.script(calls(("add_task", {"title": "Call mom"})), says("Added #2: Call mom."))
            service.handle(_say("add call mom"))
            one_action_calls = len(fake.bodies) - before

            fake.default = says("Noted — anything else on your mind today?")
            sizes: dict[int, int] = {}
            while (stored := _stored(engine)) <= max(marks):
                before = len(fake.bodies)
                service.handle(_say(f"chatting about my day, message {stored:05d}"))
                assert len(fake.bodies) == before + 1, "a chat turn is one model call"
                if stored in marks:
                    sizes[stored] = len(json.dumps(fake.bodies[-1]))
            missing = set(marks) - set(sizes)
            assert not missing, f"never had exactly {missing} messages before a turn"
            return Economy(command_calls, one_action_calls, sizes)
        finally:
            engine.dispose()


def measure(quick: bool = False) -> list[Row]:
    marks = (20, 40) if quick else MARKS
    result = run(marks)
    small, large = marks
    return [
        Row(5, f"model calls for {len(COMMANDS)} commands + {len(BUTTONS)} button presses",
            f"{result.command_calls} (fake OpenAI server counts requests)",
            str(result.command_calls), "0", result.command_calls == 0),
        Row(5, "model calls for a one-action request (\"add call mom\")",
            f"{result.one_action_calls} (tool call, then the answer)",
            str(result.one_action_calls), "≤ 2", result.one_action_calls <= 2),
        ratio_row(5, f"model request size with {large} vs {small} earlier messages in the "
                  "conversation",
                  f"{result.request_chars[large]:,} vs {result.request_chars[small]:,} "
                  "characters of JSON (exact message counts)",
                  result.request_chars[large] / result.request_chars[small], SIZE_LIMIT),
    ]


def main() -> None:
    print(render(measure("--quick" in sys.argv)))


if __name__ == "__main__":
    main()
