"""Property-based: whatever text arrives, a turn answers and never crashes (both databases)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot_core.service import TodoService
from tests.conftest import ServiceFactory, inbound

COMMAND_WORDS = ["/add", "/list", "/done", "/undo", "/delete", "/edit", "/new", "/start",
                 "/help", "add", "done", "delete", "remind me to", "change task 1 to",
                 "remove the", "reopen", "mark", "/list all", "/list done"]

hostile_text = st.one_of(
    st.text(max_size=300),
    st.builds(lambda w, rest: f"{w} {rest}", st.sampled_from(COMMAND_WORDS),
              st.text(max_size=250)),
    st.builds(lambda w, n: f"{w} {n}", st.sampled_from(COMMAND_WORDS),
              st.integers(min_value=-10**12, max_value=10**12)),
    st.sampled_from(["\x00", "add \x00milk", "<b>&amp;</b>", "add <script>alert(1)</script>",
                     "add " + "ü" * 5000, "\u202eadd reversed", "add 👨‍👩‍👧‍👦 family",
                     "/edit 1 \x00", "done \u0663", "/done ١"]),
)


@settings(max_examples=250, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(said=hostile_text)
def test_any_text_gets_an_answer(make_service: ServiceFactory, said: str) -> None:
    service: TodoService = make_service()
    result = service.handle(inbound(said, user="fuzz"))
    assert result.reply is not None
    assert result.reply.text.strip()
