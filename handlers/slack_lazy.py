"""Where Bolt's lazy listeners (the LLM turns) run, and what happens when one fails.

- In Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set, request came through ``handler``): Bolt's own
  :class:`LambdaLazyListenerRunner` re-invokes this function asynchronously through boto3, so the
  ack returns at once. If that invoke fails, the turn runs inline rather than being lost.
- Under the local ASGI server: on a worker thread, after the ack.
- Anywhere else (``handler`` called outside Lambda): inline, before ``handler`` returns, as the
  design brief promises for local runs.

A turn that failed on the database is not lost when something will deliver it again: the
Lambda service retries a failed asynchronous invocation (within Slack's 300 s signature window),
and Slack retries an event answered with a 5xx. The lazy listener reports such failures through
:func:`defer_failure`; ``handler`` then raises or answers 500. Otherwise the user is told.
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from slack_bolt.lazy_listener import LazyListenerRunner

if TYPE_CHECKING:
    from collections.abc import Callable

    from slack_bolt.request import BoltRequest

log = logging.getLogger(__name__)

ASGI_CONTEXT_KEY = "todobot_asgi"
LAMBDA_RETRY_WINDOW_SECONDS = 30
"""A failed lazy invocation younger than this is handed back to Lambda for a retry (Lambda's
first retry comes about a minute later, well inside Slack's 300 s signature window); an older
one is the retry itself, and the user is told instead."""


def in_lambda() -> bool:
    """True inside the AWS Lambda runtime (it always sets ``AWS_LAMBDA_FUNCTION_NAME``)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


@dataclass
class Invocation:
    """What ``handler`` needs to know about the invocation it is serving."""

    lazy_reinvocation: bool
    request_timestamp: int | None
    failure: BaseException | None = None


_current: ContextVar[Invocation | None] = ContextVar("todobot_slack_invocation", default=None)


def begin_invocation(event: dict[str, Any]) -> Any:
    """Mark the start of one ``handler`` call; returns the token for :func:`end_invocation`."""
    headers = {str(k).lower(): v for k, v in (event.get("headers") or {}).items()}
    raw_ts = headers.get("x-slack-request-timestamp")
    timestamp = int(raw_ts) if isinstance(raw_ts, str) and raw_ts.isdigit() else None
    invocation = Invocation(
        lazy_reinvocation=bool(headers.get("x-slack-bolt-lazy-only")),
        request_timestamp=timestamp,
    )
    return _current.set(invocation)


def current_invocation() -> Invocation | None:
    return _current.get()


def end_invocation(token: Any) -> None:
    _current.reset(token)


def defer_failure(error: BaseException, body: dict[str, Any]) -> bool:
    """Hand a failed turn back to whoever will deliver it again; False if nobody will (then
    the caller tells the user).

    Lambda retries the asynchronous invocation when ``handler`` raises; Slack retries an event
    (not a slash command or a button) when ``handler`` answers 5xx.
    """
    invocation = _current.get()
    if invocation is None:
        return False  # a worker thread of the local server: nobody redelivers
    if invocation.lazy_reinvocation:
        if not in_lambda() or invocation.request_timestamp is None:
            return False
        age = time.time() - invocation.request_timestamp
        if age >= LAMBDA_RETRY_WINDOW_SECONDS:
            return False
    elif body.get("type") != "event_callback":
        return False
    invocation.failure = error
    return True


class TodobotLazyRunner(LazyListenerRunner):
    """Picks where a lazy listener runs (see the module docstring)."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger
        self._lambda_runner: Any = None

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        lambda_request = request.context.get("lambda_request")
        if in_lambda() and lambda_request is not None and self._invoke_lambda(function, request):
            return
        if request.context.get(ASGI_CONTEXT_KEY):
            _thread_pool().submit(self.run, function, request)
            return
        self.run(function, request)

    def _invoke_lambda(self, function: Callable[..., None], request: BoltRequest) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        if not request.context.get("aws_lambda_invoked_function_arn"):
            request.context["aws_lambda_invoked_function_arn"] = (
                request.context.get("aws_lambda_function_name")
                or os.environ["AWS_LAMBDA_FUNCTION_NAME"]
            )
        try:
            self._lambda().start(function, request)
        except (BotoCoreError, ClientError) as error:
            log.error("lazy Lambda invocation failed (%s); running the turn inline",
                      type(error).__name__)
            return False
        return True

    def _lambda(self) -> Any:
        if self._lambda_runner is None:
            from slack_bolt.adapter.aws_lambda.lazy_listener_runner import (
                LambdaLazyListenerRunner,
            )

            self._lambda_runner = LambdaLazyListenerRunner(self.logger, _lambda_client())
        return self._lambda_runner


def _lambda_client() -> Any:
    """A Lambda client with short timeouts: it runs on the ack path (3 s budget)."""
    import boto3
    from botocore.config import Config

    config = Config(connect_timeout=1, read_timeout=2,
                    retries={"max_attempts": 2, "mode": "standard"})
    return boto3.client("lambda", config=config)


@lru_cache(maxsize=1)
def _thread_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="slack-lazy")
