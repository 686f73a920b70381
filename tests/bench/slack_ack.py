"""Benchmark: how fast does Slack get its ack (limit: 3 s) while the LLM takes 5 s?

Runs ``handlers.slack.handler`` as in Lambda (``AWS_LAMBDA_FUNCTION_NAME`` set): a free-text DM
is acknowledged and its LLM turn goes out through boto3 to a loopback fake of the Lambda Invoke
API, which runs the same handler on a thread (another "container") while the fake LLM stalls
5 s. Prints the request-to-ack time (first request of the process, then median/p95/worst of
the rest), checks every DM was answered exactly once, and times a warm ``/todo add``.

Everything is local: PostgreSQL on 127.0.0.1 (a throwaway database), fake Slack, fake OpenAI,
fake Lambda. The lazy turns share this process's CPU with the acks, which real Lambda
containers would not: the numbers are on the pessimistic side.

Run: ``python -m tests.bench.slack_ack``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from models.migrate import upgrade
from tests.fakes.lambda_api import FakeLambda, FakeLambdaContext
from tests.fakes.openai_server import FakeOpenAI, stalls
from tests.fakes.slack_api import FakeSlack
from tests.pg_databases import temporary_database
from tests.slack.harness import (
    BOT_TOKEN,
    FORM,
    FUNCTION_NAME,
    SIGNING_SECRET,
    apigw_event,
    fixture_json,
    fixture_text,
    signed_headers,
)

LLM_SECONDS = 5.0
WAVES = 3
WAVE = 40  # DMs whose LLM turns overlap (one PostgreSQL connection each)
DMS = WAVES * WAVE
ADDS = 200


def _dm_event(user: str) -> dict[str, Any]:
    payload = fixture_json("event_callback_message_im_docs.json")
    payload["event"].update(user=user, text="remind me to renew my passport next week")
    payload["event_id"] = f"Ev{uuid.uuid4().hex[:12].upper()}"
    body = json.dumps(payload)
    return apigw_event(body, signed_headers(body))


def _add_event(fake: FakeSlack, n: int) -> dict[str, Any]:
    fields = dict(_form_fields())
    fields.update(command="/todo", text=f"add Bench task {n}", user_id="WBENCH",
                  response_url=fake.hook_url(), trigger_id=f"{n}.{uuid.uuid4().hex[:8]}")
    body = urlencode(fields)
    return apigw_event(body, signed_headers(body, content_type=FORM), base64_body=True)


def _form_fields() -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(fixture_text("slash_command_bolt.txt"), keep_blank_values=True)


def _timed(handler: Callable[[dict[str, Any], Any], dict[str, Any]], event: dict[str, Any],
           context: Any) -> float:
    """Milliseconds from handing the (already signed) request to ``handler`` to its answer."""
    started = time.perf_counter()
    response = handler(event, context)
    elapsed = time.perf_counter() - started
    assert response["statusCode"] == 200, response
    return elapsed * 1000


def _summary(label: str, samples_ms: list[float]) -> str:
    ordered = sorted(samples_ms)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (f"{label}: median {statistics.median(ordered):7.1f} ms   p95 {p95:7.1f} ms   "
            f"worst {ordered[-1]:7.1f} ms   (n={len(ordered)})")


def main() -> None:
    from handlers import runtime
    from handlers.slack import handler, reset

    context = FakeLambdaContext(function_name=FUNCTION_NAME)
    with temporary_database("todobot_slack_bench") as url, FakeSlack() as slack, \
            FakeOpenAI() as llm, FakeLambda(handler) as lam:
        upgrade(url)
        llm.default = stalls(LLM_SECONDS)
        os.environ.update({
            "DATABASE_URL": url, "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_BASE_URL": slack.base_url,
            "OPENAI_BASE_URL": llm.base_url, "LLM_MAX_RETRIES": "0",
            "LLM_TIMEOUT_SECONDS": "30", "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
            "AWS_ENDPOINT_URL_LAMBDA": lam.url, "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
            # One process stands in for many Lambda containers, whose pools are two
            # connections each: a connection per unit of work instead of one shared pool.
            "DATABASE_POOL": "null",
        })
        for name in ("OPENAI_API_KEY", "TODOBOT_SSM_PATH"):
            os.environ.pop(name, None)
        runtime.reset()
        reset()

        acks: list[float] = []
        answered_after = 0.0
        for wave in range(WAVES):
            acks += [_timed(handler, _dm_event(f"UBENCH{wave}{i:03d}"), context)
                     for i in range(WAVE)]
            started_wait = time.perf_counter()
            lam.wait_idle(120)
            answered_after = max(answered_after, time.perf_counter() - started_wait)
        posts = slack.calls_to("chat.postMessage")
        assert not lam.errors, lam.errors
        assert len(posts) == DMS, f"{len(posts)} answers for {DMS} DMs"
        assert len(llm.bodies) == DMS

        # Commands as one warm container runs them: its own two-connection pool.
        runtime.shared_engine().dispose()
        os.environ.pop("DATABASE_POOL")
        runtime.reset()
        adds = [_timed(handler, _add_event(slack, n), context) for n in range(ADDS)]

        print(f"Slack ack while the fake LLM takes {LLM_SECONDS:.0f} s "
              f"(through handler(), lazy path via boto3 -> fake Lambda, PostgreSQL):")
        print(f"  first request of the process (builds the Bolt app, auth.test, boto3 client): "
              f"{acks[0]:7.1f} ms")
        print("  " + _summary(f"free-text DM ack, warm ({DMS - 1})", acks[1:]))
        print(f"  all {DMS} DMs ({WAVES} waves of {WAVE} overlapping LLM turns) answered "
              f"exactly once; a wave's last answer came <= {answered_after:4.1f} s after "
              f"its last ack")
        print("  " + _summary("warm /todo add (answer in the ack)", adds[1:]))
        print(f"  Lambda invocations: {len(lam.invocations)} (Event), "
              f"Slack auth.test calls: {len(slack.calls_to('auth.test'))}")
        runtime.shared_engine().dispose()


if __name__ == "__main__":
    main()
