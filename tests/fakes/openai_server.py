"""A fake OpenAI-compatible Chat Completions server, driven by a script of steps.

Each request to ``/v1/chat/completions`` consumes the next step. The real ``openai`` client talks
to it over HTTP, so retries, timeouts and error mapping are the library's own.

Every completion reports ``usage`` the way the API does, deterministically: prompt tokens are a
function of the request (its messages and tools), completion tokens of the answer, and the model
is the one asked for (or :attr:`FakeOpenAI.model`). :attr:`FakeOpenAI.usages` keeps every usage
reported, so tests can sum what the bot should have counted.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from tests.fakes.http import FakeResponse, LoopbackServer, RecordedRequest

Step = Callable[[dict[str, Any]], FakeResponse]
_ids = itertools.count(1)


def _completion(message: dict[str, Any], finish_reason: str) -> dict[str, Any]:
    """A completion without ``model`` and ``usage``: the server adds them for the request."""
    return {
        "id": f"chatcmpl-{next(_ids):08d}",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
    }


def prompt_tokens(request: dict[str, Any]) -> int:
    """What the fake charges for a request: a quarter of its messages' and tools' JSON."""
    sent = {"messages": request.get("messages", []), "tools": request.get("tools", [])}
    return max(1, len(json.dumps(sent, sort_keys=True)) // 4)


def completion_tokens(body: dict[str, Any]) -> int:
    """What the fake charges for an answer: a quarter of its first message's JSON."""
    message = (body.get("choices") or [{}])[0].get("message", {})
    return max(1, len(json.dumps(message, sort_keys=True)) // 4)


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


@dataclass(frozen=True)
class Reported:
    """One ``usage`` the fake reported, with the model it named."""

    model: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class FakeOpenAI:
    """Serves scripted steps; ``bodies`` holds every request body the client sent, ``usages``
    every usage reported (errors report none)."""

    def __init__(self, model: str | None = None) -> None:
        self._steps: list[Step] = []
        self._lock = threading.Lock()
        self.default: Step | None = None
        self.model = model
        """The model every completion names; None: the one the request asked for."""
        self.usage: tuple[int, int] | None = None
        """Fixed (prompt, completion) tokens every completion reports; None: computed from the
        request and the answer (:func:`prompt_tokens`, :func:`completion_tokens`)."""
        self.usages: list[Reported] = []
        self.server = LoopbackServer(self._route)

    @property
    def requests(self) -> int:
        """Chat completion requests received (answered or not)."""
        return len(self.bodies)

    def reported(self, model: str | None = None) -> tuple[int, int, int]:
        """(calls, prompt tokens, completion tokens) reported so far, for one model or all."""
        with self._lock:
            mine = [u for u in self.usages if model is None or u.model == model]
        return (len(mine), sum(u.prompt_tokens for u in mine),
                sum(u.completion_tokens for u in mine))

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
        body = request.json()
        response = step(body)
        answer = response.body
        if response.status == 200 and isinstance(answer, dict) and "choices" in answer:
            prompt, completion = self.usage or (prompt_tokens(body), completion_tokens(answer))
            usage = Reported(self.model or str(body.get("model") or "fake-model"), prompt,
                             completion)
            response = replace(response, body={
                **answer, "model": usage.model,
                "usage": {"prompt_tokens": usage.prompt_tokens,
                          "completion_tokens": usage.completion_tokens,
                          "total_tokens": usage.tokens}})
            with self._lock:
                self.usages.append(usage)
        return response

    def __enter__(self) -> FakeOpenAI:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.__exit__(*exc)
