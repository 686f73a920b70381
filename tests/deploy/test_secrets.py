"""handlers.aws.secrets against moto's SSM server on 127.0.0.1, through the real boto3 client:
exactly the parameters a function names in TODOBOT_SSM_SECRETS become environment variables,
once per process, with GetParameters (10 names a call), without overriding the environment and
without a value in any log line."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.config import Config
from pydantic import SecretStr

import bot_core.settings
from handlers.aws import secrets

_paths = itertools.count(1)
SECRET_VALUES = {
    "TELEGRAM_BOT_TOKEN": "123456:telegram-token-value",
    "TELEGRAM_WEBHOOK_SECRET": "webhook-secret-value",
    "SLACK_SIGNING_SECRET": "slack-signing-secret-value",
    "SLACK_BOT_TOKEN": "xoxb-slack-token-value",
    "DATABASE_URL": "postgresql://todobot:database-password-value@proxy/todobot",
    "OPENAI_API_KEY": "sk-openai-key-value",
}
TELEGRAM = "TELEGRAM_BOT_TOKEN,TELEGRAM_WEBHOOK_SECRET"  # the telegram webhook's list


def ssm_client(url: str, **config: Any) -> Any:
    return boto3.client("ssm", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(**config) if config else None)


@pytest.fixture
def stage_path(moto_url: str, environ: os._Environ[str]) -> str:
    """A fresh stage path holding SECRET_VALUES as SecureStrings; the environment points the
    default boto3 client at moto, names the telegram webhook's secrets in TODOBOT_SSM_SECRETS
    and holds none of the settings."""
    path = f"/todobot/aws{next(_paths)}"
    client = ssm_client(moto_url)
    for name, value in SECRET_VALUES.items():
        client.put_parameter(Name=f"{path}/{name}", Value=value, Type="SecureString")
    # Another stage's secret, and one level deeper: neither may leak into this stage.
    client.put_parameter(Name=f"{path}x/TELEGRAM_BOT_TOKEN", Value="other-stage",
                         Type="SecureString")
    client.put_parameter(Name=f"{path}/nested/TELEGRAM_BOT_TOKEN", Value="nested",
                         Type="SecureString")
    for name in secrets.setting_names() | {"IS_OFFLINE", "AWS_ENDPOINT_URL"}:
        environ.pop(name, None)
    environ.update({
        "AWS_ENDPOINT_URL_SSM": moto_url, "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "TODOBOT_SSM_PATH": path + "/", "TODOBOT_SSM_SECRETS": TELEGRAM,
    })
    environ.pop("AWS_SESSION_TOKEN", None)
    environ.pop("AWS_PROFILE", None)
    return path


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Every AWS API operation any boto3 client makes during the test, with its parameters."""
    calls: list[tuple[str, dict[str, Any]]] = []
    original: Callable[..., Any] = BaseClient._make_api_call

    def recording(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        calls.append((operation, params))
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return calls


def operations(calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [operation for operation, _ in calls]


def test_reads_exactly_the_named_parameters_in_one_call(
        stage_path: str, api_calls: list[tuple[str, dict[str, Any]]]) -> None:
    result = secrets.load_secrets_into_environ()

    assert result is not None
    assert operations(api_calls) == ["GetParameters"]
    assert sorted(api_calls[0][1]["Names"]) == [f"{stage_path}/TELEGRAM_BOT_TOKEN",
                                                f"{stage_path}/TELEGRAM_WEBHOOK_SECRET"]
    assert api_calls[0][1]["WithDecryption"] is True
    assert result.calls == 1
    assert result.path == stage_path
    assert result.loaded == ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
    assert os.environ["TELEGRAM_BOT_TOKEN"] == SECRET_VALUES["TELEGRAM_BOT_TOKEN"]
    assert os.environ["TELEGRAM_WEBHOOK_SECRET"] == SECRET_VALUES["TELEGRAM_WEBHOOK_SECRET"]
    # The stage holds Slack's secrets and the database URL too: not this function's.
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "DATABASE_URL", "OPENAI_API_KEY"):
        assert name not in os.environ

    again = secrets.load_secrets_into_environ()
    assert again is result
    assert operations(api_calls) == ["GetParameters"]


def test_the_environment_wins_and_an_empty_variable_is_unset(
        stage_path: str, api_calls: list[tuple[str, dict[str, Any]]]) -> None:
    os.environ["TELEGRAM_BOT_TOKEN"] = "from-the-environment"
    os.environ["TELEGRAM_WEBHOOK_SECRET"] = ""

    result = secrets.load_secrets_into_environ()

    assert result is not None
    assert os.environ["TELEGRAM_BOT_TOKEN"] == "from-the-environment"
    assert result.already_set == ("TELEGRAM_BOT_TOKEN",)
    assert result.loaded == ("TELEGRAM_WEBHOOK_SECRET",)
    assert os.environ["TELEGRAM_WEBHOOK_SECRET"] == SECRET_VALUES["TELEGRAM_WEBHOOK_SECRET"]
    assert api_calls[0][1]["Names"] == [f"{stage_path}/TELEGRAM_WEBHOOK_SECRET"]


def test_no_call_when_the_environment_has_every_named_secret(
        stage_path: str, api_calls: list[tuple[str, dict[str, Any]]]) -> None:
    os.environ["TELEGRAM_BOT_TOKEN"] = "env-token"
    os.environ["TELEGRAM_WEBHOOK_SECRET"] = "env-secret"

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.calls == 0
    assert result.already_set == ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
    assert api_calls == []
    assert os.environ["TELEGRAM_BOT_TOKEN"] == "env-token"


def test_a_parameter_that_is_not_there_is_fine(
        stage_path: str, api_calls: list[tuple[str, dict[str, Any]]]) -> None:
    # The worker's list; this stage has no client id, client secret nor encryption key.
    os.environ["TODOBOT_SSM_SECRETS"] = ("DATABASE_URL,TELEGRAM_BOT_TOKEN,SLACK_BOT_TOKEN,"
                                         "SLACK_CLIENT_ID,SLACK_CLIENT_SECRET,OPENAI_API_KEY,"
                                         "TODOBOT_ENCRYPTION_KEY")

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.calls == 1
    assert result.loaded == ("DATABASE_URL", "OPENAI_API_KEY", "SLACK_BOT_TOKEN",
                             "TELEGRAM_BOT_TOKEN")
    assert result.missing == ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET",
                              "TODOBOT_ENCRYPTION_KEY")
    for name in result.missing:
        assert name not in os.environ


def test_no_openai_key_means_the_offline_brain(stage_path: str, moto_url: str) -> None:
    ssm_client(moto_url).delete_parameter(Name=f"{stage_path}/OPENAI_API_KEY")
    os.environ["TODOBOT_SSM_SECRETS"] = "DATABASE_URL,OPENAI_API_KEY"

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.missing == ("OPENAI_API_KEY",)
    settings = bot_core.settings.Settings()
    assert settings.database_url == SECRET_VALUES["DATABASE_URL"]
    assert not settings.llm_configured


def test_more_than_ten_names_take_two_calls(
        stage_path: str, moto_url: str, api_calls: list[tuple[str, dict[str, Any]]]) -> None:
    client = ssm_client(moto_url)
    extra = {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_MODEL": "m",
             "TELEGRAM_API_BASE_URL": "http://127.0.0.1:9", "SLACK_API_BASE_URL": "http://x/",
             "HISTORY_MAX_MESSAGES": "10", "LLM_MAX_RETRIES": "1"}
    for name, value in extra.items():
        client.put_parameter(Name=f"{stage_path}/{name}", Value=value, Type="String")
    names = [*SECRET_VALUES, *extra]  # 12
    os.environ["TODOBOT_SSM_SECRETS"] = ",".join(names)
    api_calls.clear()

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.calls == 2
    assert operations(api_calls) == ["GetParameters", "GetParameters"]
    assert [len(params["Names"]) for _, params in api_calls] == [10, 2]
    assert result.loaded == tuple(sorted(names))
    assert os.environ["LLM_MAX_RETRIES"] == "1"
    assert os.environ["DATABASE_URL"] == SECRET_VALUES["DATABASE_URL"]


def test_names_are_trimmed_and_read_once(
        stage_path: str, api_calls: list[tuple[str, dict[str, Any]]]) -> None:
    os.environ["TODOBOT_SSM_SECRETS"] = " TELEGRAM_BOT_TOKEN , ,TELEGRAM_BOT_TOKEN,"

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.loaded == ("TELEGRAM_BOT_TOKEN",)
    assert api_calls[0][1]["Names"] == [f"{stage_path}/TELEGRAM_BOT_TOKEN"]


def test_only_setting_names_are_requested(
        stage_path: str, moto_url: str, api_calls: list[tuple[str, dict[str, Any]]],
        caplog: pytest.LogCaptureFixture) -> None:
    client = ssm_client(moto_url)
    client.put_parameter(Name=f"{stage_path}/PATH", Value="/evil", Type="String")
    client.put_parameter(Name=f"{stage_path}/AWS_REGION", Value="evil-1", Type="String")
    os.environ["TODOBOT_SSM_SECRETS"] = "PATH,TELEGRAM_BOT_TOKEN,AWS_REGION"
    api_calls.clear()
    path_before = os.environ.get("PATH")
    caplog.set_level(logging.WARNING, logger="handlers.aws.secrets")

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.refused == ("AWS_REGION", "PATH")
    assert result.loaded == ("TELEGRAM_BOT_TOKEN",)
    assert api_calls[0][1]["Names"] == [f"{stage_path}/TELEGRAM_BOT_TOKEN"]
    assert os.environ.get("PATH") == path_before
    assert os.environ.get("AWS_REGION") != "evil-1"
    assert "AWS_REGION, PATH" in caplog.text


def test_the_oauth_secrets_and_new_settings_are_allowed(
        stage_path: str, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The OAuth secrets are settings; a field added to Settings is readable without touching
    the loader (the names are Settings' own, read when loading)."""

    class Grown(bot_core.settings.Settings):
        brand_new_secret: SecretStr | None = None

    monkeypatch.setattr(bot_core.settings, "Settings", Grown)
    client = ssm_client(moto_url)
    client.put_parameter(Name=f"{stage_path}/BRAND_NEW_SECRET", Value="new-value",
                         Type="SecureString")
    client.put_parameter(Name=f"{stage_path}/TODOBOT_ENCRYPTION_KEY", Value="key-value",
                         Type="SecureString")
    os.environ["TODOBOT_SSM_SECRETS"] = "BRAND_NEW_SECRET,TODOBOT_ENCRYPTION_KEY"

    result = secrets.load_secrets_into_environ()

    assert {"TODOBOT_ENCRYPTION_KEY", "SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"} <= (
        secrets.setting_names())
    assert result is not None and result.refused == ()
    assert result.loaded == ("BRAND_NEW_SECRET", "TODOBOT_ENCRYPTION_KEY")
    assert os.environ["BRAND_NEW_SECRET"] == "new-value"


@pytest.mark.parametrize("setup", ["no path configured", "offline without an SSM endpoint"])
def test_nothing_happens_without_ssm(stage_path: str,
                                     api_calls: list[tuple[str, dict[str, Any]]],
                                     setup: str) -> None:
    if setup == "no path configured":
        del os.environ["TODOBOT_SSM_PATH"]
    else:
        os.environ["IS_OFFLINE"] = "true"
        del os.environ["AWS_ENDPOINT_URL_SSM"]

    assert secrets.load_secrets_into_environ() is None
    assert api_calls == []
    assert "TELEGRAM_BOT_TOKEN" not in os.environ


def test_offline_with_an_ssm_endpoint_reads_it(stage_path: str) -> None:
    os.environ["IS_OFFLINE"] = "true"

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.loaded == ("TELEGRAM_BOT_TOKEN",
                                                    "TELEGRAM_WEBHOOK_SECRET")


def test_an_empty_list_reads_nothing(stage_path: str,
                                     api_calls: list[tuple[str, dict[str, Any]]]) -> None:
    os.environ["TODOBOT_SSM_SECRETS"] = ""

    result = secrets.load_secrets_into_environ()

    assert result is not None and result.calls == 0 and result.loaded == ()
    assert api_calls == []


def test_a_failed_load_raises_exports_nothing_and_is_tried_again(stage_path: str) -> None:
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


def test_a_failure_in_the_second_call_exports_nothing(
        stage_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    names = [*SECRET_VALUES, "OPENAI_BASE_URL", "OPENAI_MODEL", "TELEGRAM_API_BASE_URL",
             "SLACK_API_BASE_URL", "HISTORY_MAX_MESSAGES"]  # 11: two calls
    os.environ["TODOBOT_SSM_SECRETS"] = ",".join(names)
    original: Callable[..., Any] = BaseClient._make_api_call
    seen: list[str] = []

    def second_call_fails(self: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        seen.append(operation)
        if len(seen) == 2:
            raise ConnectionError("SSM went away")
        return original(self, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", second_call_fails)

    with pytest.raises(ConnectionError):
        secrets.load_secrets_into_environ()

    assert seen == ["GetParameters", "GetParameters"]
    for name in SECRET_VALUES:
        assert name not in os.environ


def test_values_never_reach_the_logs(stage_path: str, caplog: pytest.LogCaptureFixture) -> None:
    os.environ["TODOBOT_SSM_SECRETS"] = ",".join([*SECRET_VALUES, "PATH", "SLACK_CLIENT_ID"])
    caplog.set_level(logging.INFO)  # the functions' log level (serverless.yml)
    caplog.set_level(logging.DEBUG, logger="handlers.aws.secrets")

    result = secrets.load_secrets_into_environ()

    assert result is not None and len(result.loaded) == len(SECRET_VALUES)
    assert "TELEGRAM_BOT_TOKEN" in caplog.text  # names are logged ...
    assert "SLACK_CLIENT_ID" in caplog.text  # (not in SSM)
    assert "PATH" in caplog.text  # (refused)
    for value in SECRET_VALUES.values():
        assert value not in caplog.text  # ... values never
        assert value not in repr(result)
