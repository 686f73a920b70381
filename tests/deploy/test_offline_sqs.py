"""serverless-offline with serverless-offline-sqs against moto's SQS on 127.0.0.1: the real
serverless.yml, infra/ and node_modules (with the patches of infra/offline), and stand-in
handlers that record what they get, so that this tests the configuration, not the bot.

What must hold for the offline stack to behave like the event source mapping: the worker gets
each FIFO group's records in order, each once, a record it reports in ``batchItemFailures``
comes back (and is dead-lettered after maxReceiveCount receives) while the others are deleted,
and the functions get the local queue's URL in TODOBOT_QUEUE_URL."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.fakes.http import free_port

ROOT = Path(__file__).resolve().parents[2]
STAGE = "offlinesqs"
REGION = "eu-central-1"  # serverless.yml's provider region: the functions' AWS_REGION
START_TIMEOUT_S = 90.0

WORKER = '''
import json, os

def handler(event, context):
    with open(os.environ["STUB_EVENTS"], "a") as out:
        out.write(json.dumps({"queue": os.environ.get("TODOBOT_QUEUE_URL"),
                              "remaining_ms": context.get_remaining_time_in_millis(),
                              "records": event["Records"]}) + "\\n")
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]}
                                  for r in event["Records"] if r["body"].startswith("fail")]}
'''
WEBHOOK = '''
import json, os

def handler(event, context):
    return {"statusCode": 200,
            "body": json.dumps({"queue": os.environ.get("TODOBOT_QUEUE_URL", "<unset>")})}
'''


@dataclass
class Stack:
    sqs: Any
    queue_url: str
    dlq_url: str
    http_url: str
    events: Path
    log: Path

    def batches(self) -> list[dict[str, Any]]:
        if not self.events.exists():
            return []
        return [json.loads(line) for line in self.events.read_text().splitlines()]

    def received(self) -> list[tuple[str, int]]:
        """(body, receive count) of every record the worker got, in order."""
        return [(r["body"], int(r["attributes"]["ApproximateReceiveCount"]))
                for batch in self.batches() for r in batch["records"]]

    def send(self, body: str, group: str, dedup: str) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body, MessageGroupId=group,
                              MessageDeduplicationId=dedup)


@pytest.fixture(scope="module")
def stack(moto_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    osls = ROOT / "node_modules" / ".bin" / "osls"
    assert osls.exists(), f"{osls} is missing: run `npm ci` (make test does)"
    project = tmp_path_factory.mktemp("offline-sqs")
    shutil.copy(ROOT / "serverless.yml", project)
    shutil.copy(ROOT / "package.json", project)
    shutil.copytree(ROOT / "infra", project / "infra")
    (project / "node_modules").symlink_to(ROOT / "node_modules")
    handlers = project / "handlers"
    handlers.mkdir()
    (handlers / "__init__.py").write_text("")
    (handlers / "worker.py").write_text(WORKER)
    for name in ("telegram", "slack", "scheduler", "migrate"):
        (handlers / f"{name}.py").write_text(WEBHOOK)

    sqs = boto3.client("sqs", endpoint_url=moto_url, region_name=REGION,
                       aws_access_key_id="offline", aws_secret_access_key="offline")
    dlq_url = sqs.create_queue(QueueName=f"todobot-{STAGE}-turns-dlq.fifo",
                               Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
        "Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName=f"todobot-{STAGE}-turns.fifo", Attributes={
        "FifoQueue": "true", "VisibilityTimeout": "2",  # failed records come back quickly
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
    })["QueueUrl"]

    http_port = free_port()
    venv_bin = Path(sys.executable).parent
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AWS_", "TODOBOT_"))}
    events = project / "events.jsonl"
    env.update({
        "VIRTUAL_ENV": str(venv_bin.parent), "PATH": f"{venv_bin}{os.pathsep}{env['PATH']}",
        "TODOBOT_LAMBDA_ARTIFACT": "", "SLS_TELEMETRY_DISABLED": "1",
        "TODOBOT_OFFLINE_HTTP_PORT": str(http_port),
        "TODOBOT_OFFLINE_LAMBDA_PORT": str(free_port()),
        "AWS_ACCESS_KEY_ID": "offline", "AWS_SECRET_ACCESS_KEY": "offline",
        "TODOBOT_OFFLINE_SQS_ENDPOINT": moto_url, "TODOBOT_OFFLINE_QUEUE_URL": queue_url,
        "STUB_EVENTS": str(events),
    })
    log = project / "osls-offline.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(osls), "offline", "start", "--stage", STAGE],
                                   cwd=project, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Server ready" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield Stack(sqs, queue_url, dlq_url, f"http://127.0.0.1:{http_port}", events, log)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # Python function processes still alive
        process.wait(10)


def wait_until(condition: Any, stack: Stack, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, (stack.received(),
                                             stack.log.read_text(errors="replace")[-3000:])
        time.sleep(0.2)


def test_the_worker_gets_each_group_in_order_and_failures_come_back(stack: Stack) -> None:
    stack.send("first of a", "a", "d1")
    stack.send("fail b", "b", "d2")
    stack.send("second of a", "a", "d3")

    wait_until(lambda: [body for body, _ in stack.received()].count("fail b") == 3, stack)
    wait_until(lambda: int(stack.sqs.get_queue_attributes(
        QueueUrl=stack.dlq_url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"]) == 1, stack)

    received = stack.received()
    bodies = [body for body, _ in received]
    # Reported records come back; the others were deleted: each seen once, in group order.
    assert bodies.count("first of a") == 1 and bodies.count("second of a") == 1
    assert bodies.index("first of a") < bodies.index("second of a")
    assert [count for body, count in received if body == "fail b"] == [1, 2, 3]
    for batch in stack.batches():
        ids = [r["messageId"] for r in batch["records"]]
        assert len(ids) == len(set(ids)) <= 10  # one receive per batch: no record twice
        assert batch["queue"] == stack.queue_url  # TODOBOT_OFFLINE_QUEUE_URL
        assert batch["remaining_ms"] > 100_000  # the worker's timeout, not the runner's 6 s
        for record in batch["records"]:
            assert record["eventSource"] == "aws:sqs"
            assert record["attributes"]["MessageGroupId"] in ("a", "b")
    attributes = stack.sqs.get_queue_attributes(QueueUrl=stack.queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    assert attributes == {"ApproximateNumberOfMessages": "0",
                          "ApproximateNumberOfMessagesNotVisible": "0"}


def test_the_webhooks_get_the_local_queue_url(stack: Stack) -> None:
    request = urllib.request.Request(stack.http_url + "/telegram/webhook", data=b"{}",
                                     method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.loads(response.read()) == {"queue": stack.queue_url}
