"""The parts of the Lambda context object the handlers and Bolt read, for calling a handler as
Lambda would (the SQS event source mapping fake has its own, with a real countdown)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class FakeLambdaContext:
    """A context with a fixed minute left."""

    function_name: str
    aws_request_id: str = "fake-request"
    invoked_function_arn: str = ""
    memory_limit_in_mb: int = 512
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
