"""handlers.secrets against moto's SSM server on 127.0.0.1: SecureStrings under the stage's path
become environment variables once per process, in one call, without overriding the environment
and without a value in any log line."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config

from bot_core.settings import get_settings
from handlers import runtime, secrets

_paths = itertools.count(1)
SECRET_VALUES = {
    "TELEGRAM_BOT_TOKEN": "123456:telegram-token-value",
    "TELEGRAM_WEBHOOK_SECRET": "webhook-secret-value",
    "SLACK_SIGNING_SECRET": "slack-signing-secret-value",
    "OPENAI_API_KEY": "sk-openai-key-value",
}


def ssm_client(url: str, **config: Any) -> Any:
    return boto3.client("ssm", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(**config) if config else None)


@pytest.fixture
def stage_path(moto_url: str, environ: os._Environ[str]) -> str:
    """A fresh stage path holding SECRET_VALUES as SecureStrings; the environment points the
    default boto3 client at moto and holds none of the settings."""
    path = f"/todobot/test{next(_paths)}"
    client = ssm_client(moto_url)
    for name, value in SECRET_VALUES.items():
        client.put_parameter(Name=f"{path}/{name}", Value=value, Type="SecureString")
    # Another stage's secret, one level deeper: neither may leak into this stage.
    client.put_parameter(Name=f"{path}x/SLACK_BOT_TOKEN", Value="other-stage",
                         Type="SecureString")
    client.put_parameter(Name=f"{path}/nested/SLACK_BOT_TOKEN", Value="nested",
                         Type="SecureString")
    for name in secrets.setting_names() | {"IS_OFFLINE", "AWS_ENDPOINT_URL"}:
        environ.pop(name, None)
    environ["AWS_ENDPOINT_URL_SSM"] = moto_url
    environ["TODOBOT_SSM_PATH"] = path + "/"
    return path


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every AWS API operation any boto3 client makes during the test."""
    calls: list[str] = []
    original: Callable[..., Any] = BaseClient._make_api_call

    def counting(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append(operation)
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", counting)
    return calls


def test_loads_the_stage_path_once_in_one_call(stage_path: str, api_calls: list[str]) -> None:
    result = secrets.load_secrets_into_environ()

    assert result is not None
    assert api_calls == ["GetParametersByPath"]
    assert result.calls == 1
    assert result.loaded == tuple(sorted(SECRET_VALUES))
    for name, value in SECRET_VALUES.items():
        assert os.environ[name] == value
    assert "SLACK_BOT_TOKEN" not in os.environ  # other stage, nested path: not read

    again = secrets.load_secrets_into_environ()
    assert again is result
    assert api_calls == ["GetParametersByPath"]


def test_the_environment_wins(stage_path: str, api_calls: list[str]) -> None:
    os.environ["TELEGRAM_BOT_TOKEN"] = "from-the-environment"

    result = secrets.load_secrets_into_environ()

    assert result is not None
    assert os.environ["TELEGRAM_BOT_TOKEN"] == "from-the-environment"
    assert "TELEGRAM_BOT_TOKEN" in result.already_set
    assert "TELEGRAM_BOT_TOKEN" not in result.loaded
    assert os.environ["OPENAI_API_KEY"] == SECRET_VALUES["OPENAI_API_KEY"]


def test_no_call_when_the_environment_has_every_secret(stage_path: str,
                                                       api_calls: list[str]) -> None:
    for name in secrets.SECRET_NAMES:
        os.environ[name] = f"env-{name}"

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.calls == 0
    assert api_calls == []
    assert os.environ["TELEGRAM_BOT_TOKEN"] == "env-TELEGRAM_BOT_TOKEN"


@pytest.mark.parametrize("setup", ["no path configured", "offline without an SSM endpoint"])
def test_nothing_happens_without_ssm(stage_path: str, api_calls: list[str], setup: str) -> None:
    if setup == "no path configured":
        del os.environ["TODOBOT_SSM_PATH"]
    else:
        os.environ["IS_OFFLINE"] = "true"
        del os.environ["AWS_ENDPOINT_URL_SSM"]

    assert secrets.load_secrets_into_environ() is None
    assert api_calls == []
    assert "TELEGRAM_BOT_TOKEN" not in os.environ


def test_an_empty_path_is_fine(stage_path: str, api_calls: list[str]) -> None:
    os.environ["TODOBOT_SSM_PATH"] = "/todobot/nothing-here-yet"

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.loaded == () and result.calls == 1


def test_only_setting_names_are_exported(stage_path: str, moto_url: str) -> None:
    client = ssm_client(moto_url)
    client.put_parameter(Name=f"{stage_path}/PATH", Value="/evil", Type="String")
    client.put_parameter(Name=f"{stage_path}/AWS_REGION", Value="evil-1", Type="String")
    path_before = os.environ.get("PATH")

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.refused == ("AWS_REGION", "PATH")
    assert os.environ.get("PATH") == path_before
    assert os.environ.get("AWS_REGION") != "evil-1"


def test_every_page_is_read(stage_path: str, moto_url: str, api_calls: list[str]) -> None:
    client = ssm_client(moto_url)
    extra = {"DATABASE_URL": "postgresql://u:p@proxy/db", "SLACK_BOT_TOKEN": "xoxb-1",
             "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_MODEL": "m",
             "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9", "SLACK_API_BASE_URL": "http://x/",
             "HISTORY_MAX_MESSAGES": "10", "LLM_MAX_RETRIES": "1"}
    for name, value in extra.items():
        client.put_parameter(Name=f"{stage_path}/{name}", Value=value, Type="SecureString")
    api_calls.clear()

    result = secrets.load_secrets_into_environ()

    assert result is not None and len(result.loaded) == 12
    assert api_calls == ["GetParametersByPath", "GetParametersByPath"]
    assert os.environ["DATABASE_URL"] == "postgresql://u:p@proxy/db"


def test_a_failed_load_raises_and_is_tried_again(stage_path: str, moto_url: str) -> None:
    unreachable = boto3.client(
        "ssm", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=2),
    )
    with pytest.raises(Exception, match="Could not connect"):
        secrets.load_secrets_into_environ(unreachable)
    assert "TELEGRAM_BOT_TOKEN" not in os.environ

    result = secrets.load_secrets_into_environ()
    assert result is not None and "TELEGRAM_BOT_TOKEN" in result.loaded


def test_values_never_reach_the_logs(stage_path: str, moto_url: str,
                                     caplog: pytest.LogCaptureFixture) -> None:
    ssm_client(moto_url).put_parameter(Name=f"{stage_path}/NOT_A_SETTING",
                                       Value="unknown-secret-value", Type="SecureString")
    caplog.set_level(logging.INFO)  # the functions' log level (serverless.yml)
    caplog.set_level(logging.DEBUG, logger="handlers.secrets")

    secrets.load_secrets_into_environ()

    assert "TELEGRAM_BOT_TOKEN" in caplog.text  # names are logged ...
    assert "NOT_A_SETTING" in caplog.text
    for value in [*SECRET_VALUES.values(), "unknown-secret-value"]:
        assert value not in caplog.text  # ... values never
        assert value not in repr(secrets.load_secrets_into_environ())


@pytest.fixture
def fresh_runtime() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


def test_the_shared_engine_is_built_from_ssm(stage_path: str, moto_url: str, tmp_path: Any,
                                             fresh_runtime: None) -> None:
    url = f"sqlite:///{tmp_path / 'from-ssm.db'}"
    ssm_client(moto_url).put_parameter(Name=f"{stage_path}/DATABASE_URL", Value=url,
                                       Type="SecureString")

    engine = runtime.shared_engine()

    assert str(engine.url) == url
    assert get_settings().telegram_bot_token is not None
    assert get_settings().telegram_bot_token.get_secret_value() == \
        SECRET_VALUES["TELEGRAM_BOT_TOKEN"]
    engine.dispose()


def test_load_cost(stage_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Not a timing assertion: prints what a cold start pays (client + one call), for the
    deploy notes. boto3 itself is imported by the handlers anyway (self-invocation)."""
    started = time.perf_counter()
    result = secrets.load_secrets_into_environ()
    total = time.perf_counter() - started
    assert result is not None and result.calls == 1
    with capsys.disabled():
        print(f"\nSSM load against moto: {total * 1000:.1f} ms in all "
              f"({result.seconds * 1000:.1f} ms client + call)")
