"""A loopback fake of the AWS Lambda Invoke API, for the deferred (asynchronous) turns.

boto3's Lambda client is pointed at it (``AWS_ENDPOINT_URL_LAMBDA``). An ``Event`` invocation is
answered 202 at once and then dispatched to ``target(event, context)`` on a worker thread, as
Lambda would run it in another container; ``RequestResponse`` runs inline.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tests.fakes.http import FakeResponse, LoopbackServer, RecordedRequest

_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations")


@dataclass
class FakeLambdaContext:
    """The parts of the Lambda context object our handlers and Bolt read."""

    function_name: str
    aws_request_id: str = "fake-request"
    invoked_function_arn: str = ""
    memory_limit_in_mb: int = 512

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class Invocation:
    function_name: str
    invocation_type: str
    event: Any


class FakeLambda:
    """Records invocations and runs them against ``target``."""

    def __init__(self, target: Callable[[Any, Any], Any]) -> None:
        self.target = target
        self.invocations: list[Invocation] = []
        self.errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self.server = LoopbackServer(self._route)

    @property
    def url(self) -> str:
        return self.server.url

    def _route(self, request: RecordedRequest) -> FakeResponse:
        match = _INVOKE.match(request.path)
        if request.method != "POST" or not match:
            return FakeResponse(status=404, body={"message": "not found"})
        name = match["name"]
        kind = request.headers.get("X-Amz-Invocation-Type", "RequestResponse")
        event = json.loads(request.body or b"{}")
        self.invocations.append(Invocation(name, kind, event))
        context = FakeLambdaContext(function_name=name)
        if kind == "Event":
            thread = threading.Thread(target=self._run, args=(event, context), daemon=True)
            self._threads.append(thread)
            thread.start()
            return FakeResponse(status=202, body=b"")
        return FakeResponse(status=200, body=self._run(event, context))

    def _run(self, event: Any, context: FakeLambdaContext) -> Any:
        try:
            return self.target(event, context)
        except Exception as error:  # noqa: BLE001 - recorded for the test to assert on
            self.errors.append(error)
            return {"errorMessage": str(error)}

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Wait for every asynchronous invocation so far to finish."""
        for thread in list(self._threads):
            thread.join(timeout)

    def __enter__(self) -> FakeLambda:
        self.server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wait_idle()
        self.server.__exit__(*exc)
