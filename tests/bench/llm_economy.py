"""Benchmark: how much LLM a turn costs, against the fake OpenAI server.

Prints model calls for commands and buttons (target 0), for a one-action request (target ≤ 2),
and the request size at message 500 vs message 50 of a conversation (target ratio ≤ 1.1).
Run: ``python -m tests.bench.llm_economy``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from bot_core.bootstrap import build_service
from bot_core.inbound import ButtonAction, Inbound
from bot_core.settings import Settings
from models.migrate import upgrade
from tests.fakes.openai_server import FakeOpenAI, calls, says


def _say(said: str | None = None, action: ButtonAction | None = None) -> Inbound:
    return Inbound(platform="bench", chat_id="c", external_user_id="u", text=said, action=action)


def main() -> None:
    with tempfile.TemporaryDirectory() as folder, FakeOpenAI() as fake:
        url = f"sqlite:///{Path(folder) / 'economy.db'}"
        upgrade(url)
        service = build_service(Settings(database_url=url, openai_base_url=fake.base_url,
                                         llm_max_retries=0))
        fake.default = says("ok")

        before = len(fake.bodies)
        for said in ("/add a", "/list", "/done 1", "/undo 1", "/edit 1 b", "/list all"):
            service.handle(_say(said))
        service.handle(_say(action=ButtonAction(kind="done", number=1)))
        service.handle(_say(action=ButtonAction(kind="delete", number=1)))
        command_calls = len(fake.bodies) - before

        before = len(fake.bodies)
        fake.script(calls(("add_task", {"title": "Call mom"})), says("Added #2: Call mom."))
        service.handle(_say("add call mom"))
        one_action_calls = len(fake.bodies) - before

        sizes: dict[int, int] = {}
        turn = 2  # messages so far are counted per stored message (2 per turn)
        while turn < 500:
            fake.default = says("Noted — anything else on your mind today?")
            service.handle(_say(f"chatting about my day, message {turn}"))
            turn = len(fake.bodies) * 2
            for mark in (50, 500):
                if mark not in sizes and turn >= mark:
                    sizes[mark] = len(json.dumps(fake.bodies[-1]))
        print(f"model calls for 6 commands + 2 buttons: {command_calls}  (target 0)")
        print(f"model calls for 'add call mom':         {one_action_calls}  (target <= 2)")
        print(f"request size at message 50:  {sizes[50]} chars")
        print(f"request size at message 500: {sizes[500]} chars  "
              f"ratio {sizes[500] / sizes[50]:.2f} (target <= 1.1)")


if __name__ == "__main__":
    main()
