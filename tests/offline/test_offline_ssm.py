"""Secrets the way AWS gives them: only in SSM Parameter Store (moto's server on 127.0.0.1), not
in the environment. The functions under serverless-offline must load them before they build
their settings, or the webhook secret, the signing secret and the database URL are missing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.conftest import FIXTURES
from tests.fakes.slack_api import FakeSlack
from tests.fakes.telegram_api import DEFAULT_TOKEN, FakeTelegram
from tests.offline.conftest import SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, TELEGRAM_SECRET
from tests.offline.stack import STAGE, OfflineStack
from tests.offline.test_offline_slack import signed
from tests.offline.test_offline_telegram import SECRET_HEADER, update
from tests.pg_databases import temporary_database


@dataclass
class SsmStack:
    stack: OfflineStack
    telegram: FakeTelegram
    slack: FakeSlack


@pytest.fixture(scope="module")
def ssm_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SsmStack]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    try:
        with (
            temporary_database("todobot_offline_ssm") as url,
            FakeTelegram() as telegram,
            FakeSlack() as slack,
        ):
            ssm = boto3.client("ssm", endpoint_url=moto_url, region_name="eu-central-1")
            for name, value in {
                "DATABASE_URL": url, "TELEGRAM_BOT_TOKEN": DEFAULT_TOKEN,
                "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET, "SLACK_BOT_TOKEN": SLACK_BOT_TOKEN,
                "SLACK_SIGNING_SECRET": SLACK_SIGNING_SECRET,
            }.items():
                ssm.put_parameter(Name=f"/todobot/{STAGE}/{name}", Value=value,
                                  Type="SecureString")
            stack = OfflineStack(
                {
                    # Not secrets: where the fake platforms are, and where SSM is.
                    "TELEGRAM_API_BASE_URL": telegram.url,
                    "SLACK_API_BASE_URL": slack.base_url,
                    "AWS_ENDPOINT_URL_SSM": moto_url,
                },
                tmp_path_factory.mktemp("offline-ssm") / "osls-offline.log",
            )
            for name in ("DATABASE_URL", "TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET",
                         "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "OPENAI_API_KEY",
                         "OPENAI_BASE_URL"):
                stack.environment[name] = ""  # nothing from the test runner's environment
            stack.start()
            try:
                client = boto3.client("lambda", endpoint_url=stack.lambda_url,
                                      region_name="eu-central-1")
                migrated = client.invoke(FunctionName=stack.function_name("migrate"))
                assert json.loads(migrated["Payload"].read())["ok"], stack.log()
                yield SsmStack(stack, telegram, slack)
            finally:
                stack.stop()
    finally:
        moto.stop()


def test_telegram_reads_its_secrets_from_ssm(ssm_stack: SsmStack) -> None:
    payload = update("private_command_start.json")
    reply = ssm_stack.stack.post("/telegram/webhook", json.dumps(payload).encode(),
                                 {"Content-Type": "application/json",
                                  SECRET_HEADER: TELEGRAM_SECRET})

    assert reply.status == 200, ssm_stack.stack.log()
    assert ssm_stack.telegram.calls_to("sendMessage")


def test_slack_reads_its_secrets_from_ssm(ssm_stack: SsmStack) -> None:
    body = (FIXTURES / "slack" / "url_verification.json").read_text()
    reply = ssm_stack.stack.post("/slack/events", body.encode(),
                                 signed(body, "application/json"))

    assert reply.status == 200, ssm_stack.stack.log()
    assert json.loads(body)["challenge"] in reply.body.decode()


def test_no_secret_reaches_the_log(ssm_stack: SsmStack) -> None:
    log = ssm_stack.stack.log()
    for secret in (TELEGRAM_SECRET, SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, DEFAULT_TOKEN):
        assert secret not in log
