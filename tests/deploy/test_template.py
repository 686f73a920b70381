"""The CloudFormation template ``osls package`` makes from serverless.yml: functions, routes,
runtime, limits, asynchronous retries, and least-privilege roles. (``make deploy-check`` runs
cfn-lint on it; this checks what cfn-lint cannot know.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
OSLS = ROOT / "node_modules" / ".bin" / "osls"
STAGE = "citest"
FUNCTIONS = {"telegram": "handlers/telegram.handler", "slack": "handlers/slack.handler",
             "migrate": "handlers/migrate.handler"}

Template = dict[str, Any]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    assert OSLS.exists(), f"{OSLS} is missing: run `npm ci` (make test does)"
    out = tmp_path_factory.mktemp("package")
    artifact = out / "artifact.zip"
    artifact.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip; only its path matters
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(TODOBOT_LAMBDA_ARTIFACT=str(artifact), SLS_TELEMETRY_DISABLED="1")
    subprocess.run([str(OSLS), "package", "--stage", STAGE, "--package", str(out / "pkg")],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    loaded: Template = json.loads((out / "pkg" / "cloudformation-template-update-stack.json")
                                  .read_text())
    return loaded


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def function(template: Template, key: str) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][f"{key.title()}LambdaFunction"]["Properties"]
    return props


def role_statements(template: Template, key: str) -> list[dict[str, Any]]:
    role = template["Resources"][f"{key.title()}FunctionRole"]["Properties"]
    return [statement for policy in role["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]]


def subs(value: Any) -> list[str]:
    """The Fn::Sub strings of a Resource entry (one or a list)."""
    values = value if isinstance(value, list) else [value]
    return [v["Fn::Sub"] for v in values]


def test_functions_runtime_and_routes(template: Template) -> None:
    for key, handler in FUNCTIONS.items():
        props = function(template, key)
        assert props["Handler"] == handler
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["FunctionName"] == f"todobot-{STAGE}-{key}"
        assert props["Environment"]["Variables"]["TODOBOT_SSM_PATH"] == f"/todobot/{STAGE}/"
    routes = {r["Properties"]["RouteKey"]
              for r in resources(template, "AWS::ApiGatewayV2::Route").values()}
    assert routes == {"POST /telegram/webhook", "POST /slack/events"}


def test_no_secret_or_account_is_in_the_template(template: Template) -> None:
    text = json.dumps(template)
    assert not re.search(r"\b\d{12}\b", text)  # no account id baked in
    for key in FUNCTIONS:
        variables = function(template, key)["Environment"]["Variables"]
        assert not {name for name in variables if "TOKEN" in name or "SECRET" in name
                    or name in ("DATABASE_URL", "OPENAI_API_KEY")}
    source = "\n".join(line.split("#", 1)[0] for name in ("serverless.yml", "infra/iam.yml")
                       for line in (ROOT / name).read_text().splitlines())  # without comments
    assert "${aws:" not in source and "${ssm:" not in source


def test_limits_fit_the_work(template: Template) -> None:
    for key in ("telegram", "slack"):
        props = function(template, key)
        assert props["Timeout"] > 30  # the deferred half outlives API Gateway's 30 s
        assert props["MemorySize"] >= 1024
    assert function(template, "migrate")["Timeout"] >= 120


def test_failed_deferred_turns_are_not_replayed_blindly(template: Template) -> None:
    configs = {c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
               for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()}
    for key in FUNCTIONS:
        config = configs[f"{key.title()}LambdaFunction"]
        assert config["MaximumRetryAttempts"] <= 1
    assert configs["TelegramLambdaFunction"]["MaximumEventAgeInSeconds"] <= 300
    # Bolt re-verifies a lazy re-invocation's signature, which Slack signs for 300 s.
    assert configs["SlackLambdaFunction"]["MaximumEventAgeInSeconds"] < 300


@pytest.mark.parametrize("key", sorted(FUNCTIONS))
def test_each_role_is_least_privilege(template: Template, key: str) -> None:
    assert function(template, key)["Role"] == {"Fn::GetAtt": [f"{key.title()}FunctionRole",
                                                              "Arn"]}
    arn = "arn:${AWS::Partition}"
    own_path = f"{arn}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/todobot/{STAGE}"
    own_function = (f"{arn}:lambda:${{AWS::Region}}:${{AWS::AccountId}}:function:"
                    f"todobot-{STAGE}-{key}")
    granted: dict[str, list[str]] = {}
    for statement in role_statements(template, key):
        assert statement["Effect"] == "Allow"
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]
        for action in actions:
            granted.setdefault(action, []).extend(subs(statement["Resource"]))
        if actions == ["kms:Decrypt"]:
            condition = statement["Condition"]
            assert condition["StringEquals"]["kms:ViaService"] == {
                "Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}
            assert condition["StringLike"]["kms:EncryptionContext:PARAMETER_ARN"] == {
                "Fn::Sub": own_path + "/*"}

    expected = {"logs:CreateLogStream", "logs:PutLogEvents", "ssm:GetParametersByPath",
                "ssm:GetParameters", "ssm:GetParameter", "kms:Decrypt"}
    if key != "migrate":
        expected.add("lambda:InvokeFunction")
        assert granted["lambda:InvokeFunction"] == [own_function, own_function + ":*"]
    assert set(granted) == expected
    for action in ("ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"):
        assert granted[action] == [own_path, own_path + "/*"]
    assert granted["logs:PutLogEvents"] == [
        f"{arn}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/"
        f"todobot-{STAGE}-{key}:*"]
