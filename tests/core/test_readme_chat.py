"""The foundation's first promises: the README's chat lines work with no API key."""

from __future__ import annotations

from sqlalchemy import Engine

from tests.conftest import ServiceFactory, count, inbound


def test_readme_chat_lines_work_offline(make_service: ServiceFactory, engine: Engine) -> None:
    service = make_service()
    said = [service.handle(inbound(t)).reply for t in
            ("add buy milk", "/list", "done 1", "what's pending?")]
    assert all(r is not None for r in said)
    assert said[0] is not None and said[0].text == "Added #1: buy milk"
    assert said[1] is not None and [t.title for t in said[1].tasks] == ["buy milk"]
    assert said[2] is not None and said[2].text == "Done: #1 buy milk"
    assert said[3] is not None and said[3].tasks == ()
    assert count(engine, "tasks", "completed = :c", c=True) == 1
    assert count(engine, "messages") == 8
