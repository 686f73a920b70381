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


def test_readme_chat_with_dates(make_service: ServiceFactory) -> None:
    """The README's second transcript, word for word, at the instant it was written for."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    now = datetime(2026, 12, 2, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    service = make_service(clock=lambda: now)
    transcript = [
        ("/timezone Berlin", "Your timezone is now Europe/Berlin (it's 10:00 there)."),
        ("remind me to call mom tomorrow at 5pm", "Added #1: call mom — due tomorrow 17:00"),
        ("water the plants every monday",
         "Added #2: water the plants — due Mon 7 Dec, every Mon"),
        ("postpone mom to friday 3pm", "Updated #1: call mom — due Fri 4 Dec 15:00"),
        ("/upcoming", "Due in the next 7 days:\n☐ #1 call mom · Fri 4 Dec 15:00\n"
                      "☐ #2 water the plants · Mon 7 Dec · every Mon"),
    ]
    for said, answer in transcript:
        reply = service.handle(inbound(said)).reply
        assert reply is not None and reply.as_plain_text() == answer
