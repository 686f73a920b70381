"""One ``osls offline`` stack for the offline suite: the real serverless.yml, a throwaway
PostgreSQL database (migrated by the ``migrate`` function through the offline Lambda API), and
the loopback fakes of Telegram, Slack and OpenAI, all on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import Engine

from models.db import create_db_engine
from tests.conftest import truncate_all
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.offline.stack import OfflineStack
from tests.pg_databases import temporary_database

TELEGRAM_SECRET = "offline-webhook-secret"
SLACK_SIGNING_SECRET = "offline-signing-secret-0123456789"
SLACK_BOT_TOKEN = "xoxb-offline-token"


@dataclass
class Offline:
    """Everything the offline tests talk to."""

    stack: OfflineStack
    engine: Engine
    telegram: FakeTelegram
    slack: FakeSlack
    openai: FakeOpenAI
    first_migration: dict[str, Any]

    def invoke(self, function: str, event: dict[str, Any]) -> tuple[int, Any]:
        """A synchronous Lambda Invoke through serverless-offline's Lambda API."""
        client = boto3.client("lambda", endpoint_url=self.stack.lambda_url,
                              region_name="eu-central-1")
        response = client.invoke(FunctionName=self.stack.function_name(function),
                                 Payload=json.dumps(event).encode())
        return response["StatusCode"], json.loads(response["Payload"].read() or b"null")


@pytest.fixture(scope="session")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Offline]:
    with (
        temporary_database("todobot_offline") as url,
        FakeTelegram() as telegram,
        FakeSlack() as slack,
        FakeOpenAI() as openai,
    ):
        stack = OfflineStack(
            {
                "DATABASE_URL": url,
                "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET,
                "TELEGRAM_API_BASE_URL": telegram.url,
                "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
                "SLACK_API_BASE_URL": slack.base_url,
                "OPENAI_API_KEY": "sk-offline",
                "OPENAI_BASE_URL": openai.base_url,
                "LLM_MAX_RETRIES": "0",
            },
            tmp_path_factory.mktemp("offline") / "osls-offline.log",
        )
        stack.start()
        engine = create_db_engine(url)
        try:
            context = Offline(stack, engine, telegram, slack, openai, {})
            status, result = context.invoke("migrate", {})
            assert status == 200, stack.log()
            context.first_migration = result
            yield context
        finally:
            engine.dispose()
            stack.stop()
            log = Path(stack.log_path)
            if log.exists():
                print("\n--- osls offline log (tail) ---\n" + "\n".join(
                    log.read_text(errors="replace").splitlines()[-40:]))


@pytest.fixture
def stack(offline: Offline) -> Offline:
    """The session's stack with empty tables and fakes that forgot earlier requests."""
    truncate_all(offline.engine)
    offline.telegram.reset()
    offline.slack.reset()
    offline.openai.server.requests.clear()
    offline.openai.script()
    return offline
