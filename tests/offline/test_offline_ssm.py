"""Secrets the way AWS gives them: only in SSM Parameter Store (moto's server), never in the
functions' environment. Each function under serverless-offline reads exactly the names in its
own ``TODOBOT_SSM_SECRETS`` (serverless.yml) before it builds its settings, so the Telegram
webhook never asks for Slack's tokens or the database URL, and no value reaches the log."""

from __future__ import annotations

from tests.offline.conftest import SECRETS, Offline, Stacks
from tests.offline.stack import ROOT, serverless_config


def declared_secrets() -> dict[str, tuple[str, ...]]:
    """Function -> the names in its TODOBOT_SSM_SECRETS, as serverless.yml lists them."""
    return {key: tuple(n.strip() for n in fn["environment"]["TODOBOT_SSM_SECRETS"].split(","))
            for key, fn in serverless_config()["functions"].items()}


def exercise(offline: Offline) -> None:
    """Make every function start: the webhooks and the worker (one Telegram turn), the
    scheduler; migrate ran when the stack started."""
    from tests.offline.test_offline_slack import JSON, send
    from tests.offline.test_offline_telegram import command, post

    assert post(offline, command("/start")).status == 200
    assert send(offline.stack, (ROOT / "tests/fixtures/slack/url_verification.json").read_text(),
                JSON).status == 200
    offline.settle()
    assert offline.telegram.calls_to("sendMessage"), offline.stack.log_tail()
    assert offline.stack.invoke("scheduler")[0] == 200


def test_each_function_reads_exactly_its_own_secrets_from_ssm(stack: Offline) -> None:
    exercise(stack)

    declared = declared_secrets()
    asked = set(stack.aws.ssm_requests)
    # Each GetParameters call asked for one function's names, all of them (the environment
    # holds none); each of the five functions asked.
    assert asked == set(declared.values())
    # The Telegram webhook (the queue path: it only verifies and enqueues) asked for its
    # two, and nothing else asked for its webhook secret.
    assert ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET") in asked
    assert [names for names in asked if "TELEGRAM_WEBHOOK_SECRET" in names] == [
        ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")]


def test_no_secret_reaches_the_log_or_the_environment(stack: Offline, stacks: Stacks) -> None:
    exercise(stack)

    for log in (stack.stack.log(), stacks.no_queue.log()):
        for secret in SECRETS.values():
            assert secret not in log
    for name in (*SECRETS, "DATABASE_URL"):
        assert name not in stack.stack.environment
