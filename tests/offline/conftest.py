"""The offline suite's stack: the real serverless.yml under ``osls offline`` on the queue path,
as in AWS, with everything else on 127.0.0.1.

- moto's server (one for the package) holds the turn queue and its dead-letter queue (SQS
  FIFO, with the corrections of tests/fakes/moto_sqs.py) and the secrets (SSM Parameter Store,
  SecureStrings under ``/todobot/local/``). The functions get no secret in their environment:
  each reads its own ``TODOBOT_SSM_SECRETS`` from SSM, and this process records what each asked
  for (:attr:`Aws.ssm_requests`).
- serverless-offline serves the webhooks; serverless-offline-sqs (``TODOBOT_OFFLINE_SQS_ENDPOINT``)
  polls the queue and invokes ``handlers.worker.handler`` with each batch; the webhooks send
  there through ``AWS_ENDPOINT_URL_SQS``. The every-minute schedule is off
  (``TODOBOT_OFFLINE_SCHEDULE=off``): the tests invoke the scheduler themselves.
- A throwaway PostgreSQL database, migrated by the ``migrate`` function (Lambda Invoke API), and
  the loopback fakes of the Bot API, the Slack Web API (and response_urls) and OpenAI.

One ``osls offline`` process serves all these tests (the fixtures are package-scoped: it stops,
and moto's server with it, once the last test of tests/offline ran, not at the end of a `make
test` session). A second one, started side by side with it, serves ``test_offline_no_queue.py``:
no queue (a webhook does the whole turn) and secrets in the environment, as ``make offline``
runs by default.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, text

from models.db import create_db_engine
from tests.conftest import FIXTURES, TABLES
from tests.fakes.http import FakeResponse
from tests.fakes.moto_sqs import create_fifo_queue, queue_counts, receive_all, start_moto_server
from tests.fakes.openai_server import FakeOpenAI, Step
from tests.fakes.slack_api import FakeSlack
from tests.fakes.slack_oauth import CLIENT_ID, CLIENT_SECRET
from tests.fakes.telegram_api import DEFAULT_TOKEN, DEFAULT_USERNAME, FakeTelegram
from tests.offline.stack import REGION, STAGE, OfflineStack, serverless_config, wait_for
from tests.pg_databases import temporary_database
from tests.slack.conftest import ENCRYPTION_KEY

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

TELEGRAM_SECRET = "offline-webhook-secret"
SLACK_SIGNING_SECRET = "offline-signing-secret-0123456789"
SLACK_BOT_TOKEN = "xoxb-offline-token"
OPENAI_API_KEY = "sk-offline-key"
MAX_RECEIVES = int(serverless_config()["custom"]["maxReceiveCount"])
"""serverless.yml's maxReceiveCount: the redrive policy's, the worker's (its outage limit)."""
SECRETS = {
    "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN, "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
    "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN, "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
    "OPENAI_API_KEY": OPENAI_API_KEY,
}
"""What SSM holds besides ``DATABASE_URL`` (the queue stack serves one Slack workspace)."""
OAUTH = {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET,
         "TODOBOT_ENCRYPTION_KEY": ENCRYPTION_KEY}
"""The no-queue stack serves any workspace that installs it (OAuth) instead."""


@dataclass
class Database:
    url: str
    engine: Engine
    first_migration: dict[str, Any] | None = None
    """What the first ``migrate`` invocation answered."""

    def migrate_with(self, stack: OfflineStack) -> dict[str, Any]:
        status, result = stack.invoke("migrate")
        assert status == 200 and isinstance(result, dict), stack.log_tail()
        if self.first_migration is None:
            self.first_migration = result
        return result


@dataclass
class Aws:
    """moto's server: the queues and SSM."""

    url: str
    sqs: SQSClient
    queue_url: str
    dlq_url: str
    ssm_requests: list[tuple[str, ...]] = field(default_factory=list)
    """Each GetParameters call for the stage's parameters: the names (without the path)."""

    def waiting(self) -> int:
        """Messages on the turn queue: visible, in flight or delayed."""
        return sum(queue_counts(self.sqs, self.queue_url).values())

    def dead_letters(self) -> list[MessageTypeDef]:
        """What reached the dead-letter queue (taken off it)."""
        return receive_all(self.sqs, self.dlq_url)


@dataclass
class Fakes:
    telegram: FakeTelegram
    slack: FakeSlack
    openai: FakeOpenAI


@dataclass
class Offline:
    """What the queue-path tests talk to."""

    stack: OfflineStack
    aws: Aws
    db: Database
    fakes: Fakes

    @property
    def engine(self) -> Engine:
        return self.db.engine

    @property
    def telegram(self) -> FakeTelegram:
        return self.fakes.telegram

    @property
    def slack(self) -> FakeSlack:
        return self.fakes.slack

    @property
    def openai(self) -> FakeOpenAI:
        return self.fakes.openai

    def settle(self, timeout: float = 60.0) -> None:
        """Wait until the turn queue is empty: every queued turn ran and its record was
        deleted by serverless-offline-sqs, after the worker returned (its replies sent)."""
        assert wait_for(lambda: self.aws.waiting() == 0, timeout), (
            queue_counts(self.aws.sqs, self.aws.queue_url), self.stack.log_tail())


# -- moto's server --------------------------------------------------------------------------


def _record_ssm_requests(requests: list[tuple[str, ...]]) -> Callable[[], None]:
    """Wrap moto's SSM backend (in this process) to record each GetParameters call's names;
    returns the undo."""
    from moto.ssm import models

    backend = models.SimpleSystemManagerBackend
    real = backend.get_parameters
    prefix = f"/todobot/{STAGE}/"

    def get_parameters(self: Any, names: list[str]) -> Any:
        if all(name.startswith(prefix) for name in names):  # not another suite's calls
            requests.append(tuple(name.removeprefix(prefix) for name in names))
        return real(self, names)

    backend.get_parameters = get_parameters  # type: ignore[method-assign]

    def undo() -> None:
        backend.get_parameters = real  # type: ignore[method-assign]
    return undo


@pytest.fixture(scope="package")
def database() -> Iterator[Database]:
    with temporary_database("todobot_offline") as url:
        engine = create_db_engine(url)
        try:
            yield Database(url, engine)
        finally:
            engine.dispose()


@pytest.fixture(scope="package")
def aws(database: Database) -> Iterator[Aws]:
    """moto's server with the stage's two queues (named as infra/queue.yml names them, which is
    how serverless-offline-sqs finds the queue) and its SSM parameters."""
    server, url = start_moto_server()
    requests: list[tuple[str, ...]] = []
    undo = _record_ssm_requests(requests)
    try:
        session = boto3.Session(aws_access_key_id="offline", aws_secret_access_key="offline",
                                region_name=REGION)
        sqs = session.client("sqs", endpoint_url=url)
        queue_url, dlq_url = create_fifo_queue(sqs, f"todobot-{STAGE}-turns",
                                               max_receive_count=MAX_RECEIVES,
                                               visibility_timeout=60)
        ssm = session.client("ssm", endpoint_url=url)
        for name, value in {"DATABASE_URL": database.url, **SECRETS}.items():
            ssm.put_parameter(Name=f"/todobot/{STAGE}/{name}", Value=value,
                              Type="SecureString", Overwrite=True)
        yield Aws(url, sqs, queue_url, dlq_url, requests)
    finally:
        undo()
        server.stop()


@pytest.fixture(scope="package")
def fakes() -> Iterator[Fakes]:
    with FakeTelegram() as telegram, FakeSlack() as slack, FakeOpenAI() as openai:
        yield Fakes(telegram, slack, openai)


def public_settings(fakes: Fakes) -> dict[str, str]:
    """What the functions get in their environment in every offline stack: where the
    platforms are (no secrets)."""
    return {
        "TELEGRAM_API_BASE_URL": fakes.telegram.url,
        "TELEGRAM_BOT_USERNAME": DEFAULT_USERNAME,
        "SLACK_API_BASE_URL": fakes.slack.base_url,
        "OPENAI_BASE_URL": fakes.openai.base_url,
        "LLM_MAX_RETRIES": "0",
        "TODOBOT_OFFLINE_SCHEDULE": "off",
    }


def print_log_tail(stack: OfflineStack, title: str) -> None:
    log = Path(stack.log_path)
    if log.exists():
        print(f"\n--- {title} (tail) ---\n{stack.log_tail(40)}")


@dataclass
class Stacks:
    queue: OfflineStack
    """The queue path, secrets from SSM: as in AWS."""
    no_queue: OfflineStack
    """No queue, secrets in the environment: ``make offline``'s default; Slack for any
    workspace (OAuth)."""


@pytest.fixture(scope="package")
def stacks(tmp_path_factory: pytest.TempPathFactory, database: Database, aws: Aws,
           fakes: Fakes) -> Iterator[Stacks]:
    """Both ``osls offline`` processes, started side by side; the database migrated by the
    queue stack's ``migrate`` function."""
    logs = tmp_path_factory.mktemp("offline")
    queue = OfflineStack(
        {
            **public_settings(fakes),
            "TODOBOT_OFFLINE_SQS_ENDPOINT": aws.url,
            "TODOBOT_OFFLINE_QUEUE_URL": aws.queue_url,
            "TODOBOT_OFFLINE_DEAD_LETTER_QUEUE_URL": aws.dlq_url,
            "AWS_ENDPOINT_URL_SQS": aws.url,
            "AWS_ENDPOINT_URL_SSM": aws.url,
        },
        logs / "osls-offline-queue.log",
    )
    no_queue = OfflineStack(
        {**public_settings(fakes), "DATABASE_URL": database.url, **SECRETS, **OAUTH},
        logs / "osls-offline-no-queue.log",
    )
    no_queue.environment["SLACK_REDIRECT_URI"] = f"{no_queue.url}/slack/oauth_redirect"
    no_queue.environment.pop("SLACK_BOT_TOKEN")
    try:
        queue.launch()
        no_queue.launch()
        queue.wait_ready()
        no_queue.wait_ready()
        database.migrate_with(queue)
        warm_up(Stacks(queue, no_queue), aws)
        yield Stacks(queue, no_queue)
    finally:
        queue.stop()
        no_queue.stop()
        print_log_tail(queue, "osls offline log, queue path")
        print_log_tail(no_queue, "osls offline log, no queue")


def warm_up(stacks: Stacks, aws: Aws) -> None:
    """Start every function once, side by side: each cold start (a Python process importing
    its stack and reading its secrets, 2-3 s here) would otherwise hold up the first test that
    needs it, one after the other. A ``/start`` to each stack's Telegram webhook (on the queue
    path, the worker's too), Slack's url_verification to each Slack function, the scheduler."""
    verification = (FIXTURES / "slack" / "url_verification.json").read_bytes()

    def telegram(stack: OfflineStack) -> int:
        user = unique_id()
        start = json.dumps({
            "update_id": unique_id(), "message": {
                "message_id": 1, "date": int(time.time()), "text": "/start",
                "entities": [{"offset": 0, "length": 6, "type": "bot_command"}],
                "from": {"id": user, "is_bot": False, "first_name": "Warm"},
                "chat": {"id": user, "type": "private", "first_name": "Warm"}},
        }).encode()
        return stack.post("/telegram/webhook", start, {
            "Content-Type": "application/json",
            "X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}).status

    def slack(stack: OfflineStack) -> int:
        timestamp = str(int(time.time()))
        signature = SignatureVerifier(SLACK_SIGNING_SECRET).generate_signature(
            timestamp=timestamp, body=verification.decode())
        return stack.post("/slack/events", verification, {
            "Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": str(signature)}).status

    calls: list[Callable[[], int]] = [
        lambda: stacks.queue.invoke("scheduler")[0],
        *(partial(call, stack) for stack in (stacks.queue, stacks.no_queue)
          for call in (telegram, slack)),
    ]
    with ThreadPoolExecutor(len(calls)) as pool:
        statuses = list(pool.map(lambda call: call(), calls))
    assert statuses == [200] * len(calls), (statuses, stacks.queue.log_tail(),
                                             stacks.no_queue.log_tail())
    assert wait_for(lambda: aws.waiting() == 0), stacks.queue.log_tail()  # the worker's too


@pytest.fixture(scope="package")
def offline(stacks: Stacks, database: Database, aws: Aws, fakes: Fakes) -> Offline:
    """The queue-path stack, migrated."""
    return Offline(stacks.queue, aws, database, fakes)


def empty_tables(engine: Engine) -> None:
    """Every row gone (DELETE: much cheaper than TRUNCATE for a few rows; ids are not reset,
    and no test depends on them)."""
    with engine.begin() as conn:
        for table in TABLES:  # children first
            conn.execute(text(f"DELETE FROM {table}"))


def reset_fakes(fakes: Fakes) -> None:
    fakes.telegram.reset()
    fakes.slack.reset()
    fakes.openai.server.requests.clear()
    fakes.openai.script()
    fakes.openai.default = None


@pytest.fixture
def stack(offline: Offline) -> Offline:
    """The queue-path stack with nothing left running, empty tables and queues, and fakes that
    forgot earlier requests."""
    offline.settle()
    offline.aws.dead_letters()
    empty_tables(offline.engine)
    reset_fakes(offline.fakes)
    return offline


# -- helpers shared by the tests ------------------------------------------------------------

_ids = itertools.count(10**9)


def unique_id() -> int:
    """A delivery id not used before in this process (moto's queues live as long): SQS drops a
    deduplication id it saw in the last 5 minutes, so each payload sent gets its own."""
    return next(_ids)


class Gate:
    """A model step that holds the model's answer until :meth:`open` (``asked`` is set once
    the request arrived): the turn provably runs after the webhook answered."""

    def __init__(self, step: Step, timeout: float = 30.0) -> None:
        self.asked = threading.Event()
        self._open = threading.Event()
        self._step = step
        self._timeout = timeout

    def __call__(self, request: dict[str, Any]) -> FakeResponse:
        self.asked.set()
        self._open.wait(self._timeout)
        return self._step(request)

    def open(self) -> None:
        self._open.set()
