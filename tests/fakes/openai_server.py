"""A fake OpenAI-compatible Chat Completions server, driven by a script of steps.

Each request to ``/v1/chat/completions`` consumes the next step. The real ``openai`` client talks
to it over HTTP, so retries, timeouts and error mapping are the library's own.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from typing import Any

from tests.fakes.http import FakeResponse, LoopbackServer, RecordedRequest

Step = Callable[[dict[str, Any]], FakeResponse]
_ids = itertools.count(1)


def _completion(message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{next(_ids)}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": "fake-model",
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def says(text: str) -> Step:
    """The model answers with plain text."""
    return lambda _req: FakeResponse(body=_completion({"role": "assistant", "content": text},
                                                      "stop"))


def calls(*tool_calls: tuple[str, Any]) -> Step:
    """The model calls tools: ``("add_task", {"title": "x"})``; a str argument is sent raw."""
    def step(_req: dict[str, Any]) -> FakeResponse:
        made = [
            {"id": f"call_{next(_ids)}", "type": "function",
             "function": {"name": name,
                          "arguments": args if isinstance(args, str) else json.dumps(args)}}
            for name, args in tool_calls
        ]
        return FakeResponse(body=_completion(
            {"role": "assistant", "content": None, "tool_calls": made}, "tool_calls"))
    return step


def fails(status: int, headers: dict[str, str] | None = None) -> Step:
    """The provider answers with an HTTP error."""
    return lambda _req: FakeResponse(
        status=status, body={"error": {"message": f"fake {status}", "type": "fake"}},
        headers=headers or {},
    )


def stalls(seconds: float) -> Step:
    """The provider takes ``seconds`` before answering (client timeouts fire first)."""
    return lambda _req: FakeResponse(body=_completion({"role": "assistant", "content": "late"},
                                                      "stop"), delay=seconds)


class FakeOpenAI:
    """Serves scripted steps; ``bodies`` holds every request body the client sent."""

    def __init__(self) -> None:
        self._steps: list[Step] = []
        self._lock = threading.Lock()
        self.default: Step | None = None
        self.server = LoopbackServer(self._route)

    @property
    def base_url(self) -> str:
        return self.server.url + "/v1"

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.server.requests if r.path.endswith("/chat/completions")]

    def script(self, *steps: Step) -> None:
        with self._lock:
            self._steps = list(steps)

    def _route(self, request: RecordedRequest) -> FakeResponse:
        if not request.path.endswith("/chat/completions"):
            return FakeResponse(status=404, body={"error": {"message": "not found"}})
        with self._lock:
            step = self._steps.pop(0) if self._steps else self.default
        if step is None:
            return FakeResponse(status=500, body={"error": {"message": "script exhausted"}})
        return step(request.json())

    def __enter__(self) -> FakeOpenAI:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)
