"""Asynchronous self-invocation: finish slow work in another invocation of the same Lambda.

A webhook must answer fast (Telegram redelivers after a timeout, API Gateway gives up after
29 s), while an LLM turn may take longer. The webhook invokes its own function with
``InvocationType="Event"`` — Lambda queues the event, answers 202 at once, runs it in some
container and retries it (twice, by default) if it raises. The boto3 client is built on first
use and reused by warm invocations; ``AWS_ENDPOINT_URL_LAMBDA`` points it elsewhere (tests).
"""

from __future__ import annotations

import json
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

DEFERRED_MARKER = "todobot_deferred"
"""Key of the event a deferring handler sends itself; the handler recognises it by this key."""

_lock = threading.Lock()
_client: LambdaClient | None = None


def in_lambda() -> bool:
    """True inside AWS Lambda (where answering first and finishing later is possible)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def lambda_client() -> LambdaClient:
    """The process's boto3 Lambda client, built on first use."""
    global _client
    with _lock:
        if _client is None:
            import boto3
            from botocore.config import Config

            _client = boto3.client(
                "lambda",
                config=Config(connect_timeout=3, read_timeout=5,
                              retries={"max_attempts": 3, "mode": "standard"}),
            )
        return _client


def invoke_async(function_name: str, payload: dict[str, Any]) -> None:
    """Queue ``{DEFERRED_MARKER: payload}`` for an asynchronous run of ``function_name``.

    Raises if Lambda does not accept it: the caller then answers 5xx so that the platform
    redelivers, rather than acknowledging work nobody will do.
    """
    response = lambda_client().invoke(
        FunctionName=function_name, InvocationType="Event",
        Payload=json.dumps({DEFERRED_MARKER: payload}).encode(),
    )
    status = response.get("StatusCode")
    if status != 202:
        raise RuntimeError(f"asynchronous invoke answered {status}, not 202")


def deferred_payload(event: Any) -> dict[str, Any] | None:
    """The payload of a deferred event, or None if ``event`` is something else."""
    if isinstance(event, dict):
        payload = event.get(DEFERRED_MARKER)
        if isinstance(payload, dict):
            return payload
    return None


def reset() -> None:
    """Forget the client (tests that point boto3 at a new endpoint)."""
    global _client
    with _lock:
        _client = None
