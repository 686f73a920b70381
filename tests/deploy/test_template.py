"""The CloudFormation template ``osls package`` makes from serverless.yml: functions, routes,
the turn queue and its dead-letter queue, the event source mapping, the schedule, alarms,
published versions, SnapStart only when asked for, and one least-privilege role per function.
(``make deploy-check`` runs cfn-lint too; this checks what cfn-lint cannot know.)"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from handlers.aws import secrets

ROOT = Path(__file__).resolve().parents[2]
OSLS = ROOT / "node_modules" / ".bin" / "osls"
CFN_LINT = Path(sys.executable).parent / "cfn-lint"
CFN_LINT_IGNORED = ["W3005", "W8003"]  # as in the Makefile (deploy-check), which says why
STAGE = "citest"
FUNCTIONS = {"telegram": "handlers/telegram.handler", "slack": "handlers/slack.handler",
             "worker": "handlers/worker.handler", "scheduler": "handlers/scheduler.handler",
             "migrate": "handlers/migrate.handler"}
WEBHOOKS = ("telegram", "slack")
SNAPSTART = ("telegram", "slack", "worker")  # the functions a user waits for
WORKER_SECRETS = ["DATABASE_URL", "TELEGRAM_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID",
                  "SLACK_CLIENT_SECRET", "OPENAI_API_KEY", "TODOBOT_ENCRYPTION_KEY"]
SECRETS = {
    "telegram": ["TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET"],
    "slack": ["SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "SLACK_CLIENT_ID",
              "SLACK_CLIENT_SECRET", "DATABASE_URL", "TODOBOT_ENCRYPTION_KEY"],
    "worker": WORKER_SECRETS,
    "scheduler": WORKER_SECRETS,
    "migrate": ["DATABASE_URL"],
}
ARN = "arn:${AWS::Partition}"
PARAMETER_ARN = f"{ARN}:ssm:${{AWS::Region}}:${{AWS::AccountId}}:parameter/todobot/{STAGE}"
QUEUE_ARN = {"Fn::GetAtt": ["TurnQueue", "Arn"]}
DLQ_ARN = {"Fn::GetAtt": ["TurnDeadLetterQueue", "Arn"]}

Template = dict[str, Any]
Packager = Callable[..., Template]


def _package(out: Path, *params: str) -> Template:
    artifact = out / "artifact.zip"
    artifact.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip; only its path matters
    # As in CI: no AWS credentials or endpoints, nothing of serverless-offline.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AWS_", "TODOBOT_OFFLINE_"))}
    env.update(TODOBOT_LAMBDA_ARTIFACT=str(artifact), SLS_TELEMETRY_DISABLED="1")
    command = [str(OSLS), "package", "--stage", STAGE, "--package", str(out / "pkg"),
               *(f"--param={param}" for param in params)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    loaded: Template = json.loads((out / "pkg" / "cloudformation-template-update-stack.json")
                                  .read_text())
    return loaded


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> Packager:
    """``osls package`` with the given ``--param``s, once per set of params."""
    assert OSLS.exists(), f"{OSLS} is missing: run `npm ci` (make test does)"
    cache: dict[tuple[str, ...], Template] = {}

    def package(*params: str) -> Template:
        if params not in cache:
            cache[params] = _package(tmp_path_factory.mktemp("package"), *params)
        return cache[params]

    return package


@pytest.fixture(scope="module")
def template(packaged: Packager) -> Template:
    return packaged()


@pytest.fixture(scope="module")
def snapstart_template(packaged: Packager) -> Template:
    return packaged("snapStart=true")


def resources(template: Template, kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def logical_id(key: str) -> str:
    return f"{key.title()}LambdaFunction"


def function(template: Template, key: str) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][logical_id(key)]["Properties"]
    return props


def environment(template: Template, key: str) -> dict[str, Any]:
    variables: dict[str, Any] = function(template, key)["Environment"]["Variables"]
    return variables


def role_statements(template: Template, key: str) -> list[dict[str, Any]]:
    role = template["Resources"][f"{key.title()}FunctionRole"]["Properties"]
    return [statement for policy in role["Policies"]
            for statement in policy["PolicyDocument"]["Statement"]]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def targets(value: Any, key: str) -> bool:
    """Whether a FunctionName / IntegrationUri / Target names function ``key`` (unqualified or
    through an alias)."""
    text = json.dumps(value)
    return f'"{logical_id(key)}"' in text


def statements_granting(template: Template, key: str) -> dict[str, list[Any]]:
    """Action -> every Resource entry granting it, over all statements of the role."""
    granted: dict[str, list[Any]] = {}
    for statement in role_statements(template, key):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted


def condition_holds(template: Template, name: str) -> bool:
    """Evaluates a template condition made of Fn::Not / Fn::Equals on literals (what osls
    params produce)."""
    def evaluate(node: Any) -> Any:
        if isinstance(node, dict) and "Fn::Not" in node:
            return not evaluate(node["Fn::Not"][0])
        if isinstance(node, dict) and "Fn::Equals" in node:
            left, right = (evaluate(side) for side in node["Fn::Equals"])
            return left == right
        if isinstance(node, dict) and "Condition" in node:
            return evaluate(template["Conditions"][node["Condition"]])
        assert isinstance(node, str), f"not a literal: {node!r}"
        return node

    return bool(evaluate(template["Conditions"][name]))


# Functions, routes, environment ---------------------------------------------------------------

def test_functions_runtime_and_routes(template: Template) -> None:
    assert set(resources(template, "AWS::Lambda::Function")) == {logical_id(k) for k in FUNCTIONS}
    for key, handler in FUNCTIONS.items():
        props = function(template, key)
        assert props["Handler"] == handler
        assert props["Runtime"] == "python3.12"  # SnapStart for Python needs 3.12+
        assert props["Architectures"] == ["arm64"]
        assert props["FunctionName"] == f"todobot-{STAGE}-{key}"
        assert environment(template, key)["TODOBOT_SSM_PATH"] == f"/todobot/{STAGE}/"
    integrations = resources(template, "AWS::ApiGatewayV2::Integration")
    routes = {}
    for route in resources(template, "AWS::ApiGatewayV2::Route").values():
        integration = route["Properties"]["Target"]["Fn::Join"][1][1]["Ref"]
        uri = integrations[integration]["Properties"]["IntegrationUri"]
        routes[route["Properties"]["RouteKey"]] = next(k for k in FUNCTIONS if targets(uri, k))
    assert routes == {"POST /telegram/webhook": "telegram", "POST /slack/events": "slack",
                      "GET /slack/install": "slack", "GET /slack/oauth_redirect": "slack"}


def test_the_webhooks_and_the_worker_get_the_queue_url(template: Template) -> None:
    for key in (*WEBHOOKS, "worker"):
        assert environment(template, key)["TODOBOT_QUEUE_URL"] == {"Ref": "TurnQueue"}
    for key in ("scheduler", "migrate"):
        assert "TODOBOT_QUEUE_URL" not in environment(template, key)
    # The worker dead-letters a record itself on the redrive policy's last receive.
    worker = environment(template, "worker")
    assert worker["TODOBOT_DEAD_LETTER_QUEUE_URL"] == {"Ref": "TurnDeadLetterQueue"}
    redrive = template["Resources"]["TurnQueue"]["Properties"]["RedrivePolicy"]
    assert worker["TODOBOT_QUEUE_MAX_RECEIVES"] == str(redrive["maxReceiveCount"])
    for key in (*WEBHOOKS, "scheduler", "migrate"):
        assert not {"TODOBOT_DEAD_LETTER_QUEUE_URL", "TODOBOT_QUEUE_MAX_RECEIVES"} & set(
            environment(template, key))


def test_no_secret_or_account_is_in_the_template(template: Template) -> None:
    text = json.dumps(template)
    assert not re.search(r"\b\d{12}\b", text)  # no account id baked in
    for key in FUNCTIONS:
        variables = environment(template, key)
        # "TOKENS" (LLM_DAILY_TOKENS_PER_USER) counts tokens; "TOKEN" names a credential.
        assert not {name for name in variables
                    if (re.search(r"TOKEN(?!S)|SECRET|KEY", name) or name == "DATABASE_URL")
                    and name != "TODOBOT_SSM_SECRETS"}
    source = "\n".join(line.split("#", 1)[0]
                       for name in ("serverless.yml", *(f"infra/{n}.yml"
                                                        for n in ("iam", "queue", "alarms")))
                       for line in (ROOT / name).read_text().splitlines())  # without comments
    assert "${aws:" not in source and "${ssm:" not in source


def test_limits_fit_the_work(template: Template) -> None:
    for key in WEBHOOKS:
        props = function(template, key)
        assert 3 <= props["Timeout"] <= 15  # verify, parse, enqueue; Slack waits 3 s
        assert props["MemorySize"] >= 1024  # cold starts are CPU-bound
    worker = function(template, "worker")
    # A turn's LLM budget (LLM_TURN_BUDGET_SECONDS, 60 s) plus storing and sending the reply.
    assert 120 <= worker["Timeout"] <= 900
    assert function(template, "scheduler")["Timeout"] < 60  # done before the next minute
    assert function(template, "migrate")["Timeout"] >= 120


def test_async_invocations_are_not_replayed(template: Template) -> None:
    configs = {c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
               for c in resources(template, "AWS::Lambda::EventInvokeConfig").values()}
    # EventBridge's sweep is repeated a minute later anyway; migrate is run by hand.
    assert configs[logical_id("scheduler")]["MaximumRetryAttempts"] == 0
    assert configs[logical_id("scheduler")]["MaximumEventAgeInSeconds"] <= 120
    assert configs[logical_id("migrate")]["MaximumRetryAttempts"] == 0


# The queue, the worker's event source, the schedule, alarms ----------------------------------

def test_the_turn_queue_is_fifo_with_a_fifo_dead_letter_queue(template: Template) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    assert set(queues) == {"TurnQueue", "TurnDeadLetterQueue"}
    queue = queues["TurnQueue"]["Properties"]
    dlq = queues["TurnDeadLetterQueue"]["Properties"]
    for props in (queue, dlq):
        assert props["FifoQueue"] is True
        assert props["QueueName"].endswith(".fifo")
        assert props["ContentBasedDeduplication"] is False  # two equal texts are two turns
    assert queue["QueueName"] == f"todobot-{STAGE}-turns.fifo"
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["TurnDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 20}
    assert "RedrivePolicy" not in dlq
    # Dead letters are kept longer than the queue keeps anything, to be looked at.
    assert dlq["MessageRetentionPeriod"] > queue["MessageRetentionPeriod"]


def test_the_visibility_timeout_outlasts_the_worker(template: Template) -> None:
    visibility = template["Resources"]["TurnQueue"]["Properties"]["VisibilityTimeout"]
    assert visibility >= 6 * function(template, "worker")["Timeout"]  # AWS's advice for an ESM
    assert visibility <= 43_200


def test_the_worker_consumes_the_queue_reporting_item_failures(template: Template) -> None:
    mappings = list(resources(template, "AWS::Lambda::EventSourceMapping").values())
    assert len(mappings) == 1
    props = mappings[0]["Properties"]
    assert props["EventSourceArn"] == QUEUE_ARN
    assert targets(props["FunctionName"], "worker")
    assert props["BatchSize"] == 10
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["Enabled"] is True
    assert "MaximumBatchingWindowInSeconds" not in props  # FIFO queues take none
    assert props["ScalingConfig"]["MaximumConcurrency"] >= 2


def test_the_scheduler_runs_every_minute(template: Template) -> None:
    rules = list(resources(template, "AWS::Events::Rule").values())
    assert len(rules) == 1
    rule = rules[0]["Properties"]
    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert rule["State"] == "ENABLED"
    assert [targets(t["Arn"], "scheduler") for t in rule["Targets"]] == [True]
    permissions = [p["Properties"] for p in resources(template, "AWS::Lambda::Permission").values()
                   if p["Properties"]["Principal"] == "events.amazonaws.com"]
    assert len(permissions) == 1 and targets(permissions[0]["FunctionName"], "scheduler")


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"]
            for name, r in resources(template, "AWS::CloudWatch::Alarm").items()}


def test_an_alarm_watches_the_dead_letter_queue(template: Template) -> None:
    watching = [a for a in alarms(template).values()
                if a["Namespace"] == "AWS/SQS"
                and a["MetricName"] == "ApproximateNumberOfMessagesVisible"
                and a["Dimensions"] == [{"Name": "QueueName", "Value": {
                    "Fn::GetAtt": ["TurnDeadLetterQueue", "QueueName"]}}]]
    assert len(watching) == 1
    alarm = watching[0]
    assert alarm["Threshold"] == 1
    assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert alarm["Statistic"] == "Maximum"
    assert alarm["Period"] * alarm["EvaluationPeriods"] <= 300  # told within minutes
    assert alarm["TreatMissingData"] == "notBreaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_an_alarm_watches_the_worker_errors(template: Template) -> None:
    watching = [a for a in alarms(template).values()
                if a["Namespace"] == "AWS/Lambda" and a["MetricName"] == "Errors"
                and a["Dimensions"] == [{"Name": "FunctionName",
                                         "Value": {"Ref": logical_id("worker")}}]]
    assert len(watching) == 1 and watching[0]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms(template).values())


def test_alarm_mail_only_when_an_address_is_given(template: Template,
                                                  packaged: Packager) -> None:
    assert resources(template, "AWS::SNS::Topic").keys() == {"AlarmTopic"}
    subscription = template["Resources"]["AlarmEmailSubscription"]
    assert not condition_holds(template, subscription["Condition"])

    mailing = packaged("alarmEmail=ops@example.com")
    subscription = mailing["Resources"]["AlarmEmailSubscription"]
    assert condition_holds(mailing, subscription["Condition"])
    assert subscription["Properties"] == {"TopicArn": {"Ref": "AlarmTopic"},
                                          "Protocol": "email", "Endpoint": "ops@example.com"}


# Roles -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("key", sorted(FUNCTIONS))
def test_each_role_is_least_privilege(template: Template, key: str) -> None:
    assert function(template, key)["Role"] == {"Fn::GetAtt": [f"{key.title()}FunctionRole",
                                                              "Arn"]}
    granted = statements_granting(template, key)
    expected = {"logs:CreateLogStream", "logs:PutLogEvents", "ssm:GetParameters", "kms:Decrypt"}
    queue_rights: dict[str, list[Any]] = {}
    if key in WEBHOOKS:
        queue_rights = {"sqs:SendMessage": [QUEUE_ARN]}  # the turn queue, not its dead letters
    elif key == "worker":
        queue_rights = {action: [QUEUE_ARN] for action in (
            "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes")}
        # A record on its last allowed receive is moved to the dead-letter queue by the worker.
        queue_rights["sqs:SendMessage"] = [DLQ_ARN]
    assert set(granted) == expected | set(queue_rights)
    for action, resources_ in queue_rights.items():
        assert granted[action] == resources_
    log_group = (f"{ARN}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/"
                 f"todobot-{STAGE}-{key}:*")
    assert granted["logs:PutLogEvents"] == [{"Fn::Sub": log_group}]
    assert granted["logs:CreateLogStream"] == [{"Fn::Sub": log_group}]

    (decrypt,) = [s for s in role_statements(template, key) if s["Action"] == "kms:Decrypt"]
    assert decrypt["Condition"]["StringEquals"]["kms:ViaService"] == {
        "Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}
    assert decrypt["Condition"]["StringLike"]["kms:EncryptionContext:PARAMETER_ARN"] == {
        "Fn::Sub": PARAMETER_ARN + "/*"}


@pytest.mark.parametrize("key", sorted(FUNCTIONS))
def test_each_role_reads_exactly_its_own_parameters(template: Template, key: str) -> None:
    names = environment(template, key)["TODOBOT_SSM_SECRETS"].split(",")
    assert sorted(names) == sorted(SECRETS[key])
    granted = statements_granting(template, key)["ssm:GetParameters"]
    assert sorted(granted, key=json.dumps) == sorted(
        ({"Fn::Sub": f"{PARAMETER_ARN}/{name}"} for name in names), key=json.dumps)
    # ... and the loader reads every one of them (it refuses names that are not settings).
    assert set(names) <= secrets.setting_names()


def test_telegram_cannot_read_slack_nor_the_database(template: Template) -> None:
    readable = json.dumps(statements_granting(template, "telegram")["ssm:GetParameters"])
    assert "SLACK_" not in readable and "DATABASE_URL" not in readable
    assert "OPENAI" not in readable and "ENCRYPTION" not in readable


def test_no_function_may_invoke_a_function(template: Template) -> None:
    iam = {**resources(template, "AWS::IAM::Role"), **resources(template, "AWS::IAM::Policy"),
           **resources(template, "AWS::IAM::ManagedPolicy")}
    assert set(iam) == {f"{key.title()}FunctionRole" for key in FUNCTIONS}  # no shared role
    text = json.dumps(iam)
    assert "lambda:" not in text
    assert '"*"' not in text  # no wildcard action or resource
    # Lambda may be invoked only by API Gateway (the webhooks) and EventBridge (the scheduler).
    for permission in resources(template, "AWS::Lambda::Permission").values():
        props = permission["Properties"]
        principal = props["Principal"]
        assert principal in ("apigateway.amazonaws.com", "events.amazonaws.com")
        allowed = WEBHOOKS if principal.startswith("apigateway") else ("scheduler",)
        assert any(targets(props["FunctionName"], key) for key in allowed)


def test_no_credential_from_the_environment_is_packaged(tmp_path: Path) -> None:
    """osls writes the resolved service (custom included) to serverless-state.json, which a
    deploy uploads: nothing may copy the caller's AWS credentials into it."""
    artifact = tmp_path / "artifact.zip"
    artifact.write_bytes(b"PK\x05\x06" + bytes(18))
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(TODOBOT_LAMBDA_ARTIFACT=str(artifact), SLS_TELEMETRY_DISABLED="1",
               AWS_ACCESS_KEY_ID="AKIAPACKAGEDKEYID000", AWS_SECRET_ACCESS_KEY="packaged-secret",
               AWS_SESSION_TOKEN="packaged-session-token")
    subprocess.run([str(OSLS), "package", "--stage", STAGE, "--package", str(tmp_path / "pkg")],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    for path in (tmp_path / "pkg").iterdir():
        if path.suffix == ".json":
            text = path.read_text()
            for value in ("AKIAPACKAGEDKEYID000", "packaged-secret", "packaged-session-token"):
                assert value not in text, path.name


# Versions and SnapStart ------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["default", "snapStart=true"])
def test_every_deploy_publishes_versions(template: Template, snapstart_template: Template,
                                         which: str) -> None:
    chosen = template if which == "default" else snapstart_template
    versioned = [v["Properties"]["FunctionName"]["Ref"]
                 for v in resources(chosen, "AWS::Lambda::Version").values()]
    assert sorted(versioned) == sorted(logical_id(key) for key in FUNCTIONS)


def test_snapstart_is_off_by_default(template: Template) -> None:
    for key in FUNCTIONS:
        assert "SnapStart" not in function(template, key)
    assert resources(template, "AWS::Lambda::Alias") == {}
    assert "snapstart" not in json.dumps(template).lower()


def test_snapstart_when_asked_for(snapstart_template: Template) -> None:
    template = snapstart_template
    for key in FUNCTIONS:
        props = function(template, key)
        if key in SNAPSTART:
            assert props["SnapStart"] == {"ApplyOn": "PublishedVersions"}
        else:
            assert "SnapStart" not in props
    # SnapStart works on published versions only: what API Gateway and the event source
    # mapping invoke is an alias of the deploy's version, never $LATEST.
    aliases = resources(template, "AWS::Lambda::Alias")
    assert sorted(a["Properties"]["FunctionName"]["Ref"] for a in aliases.values()) == sorted(
        logical_id(key) for key in SNAPSTART)
    versions = resources(template, "AWS::Lambda::Version")
    for alias in aliases.values():
        version = alias["Properties"]["FunctionVersion"]["Fn::GetAtt"][0]
        assert versions[version]["Properties"]["FunctionName"] == alias["Properties"][
            "FunctionName"]

    def qualified(value: Any, key: str) -> bool:
        return bool(value == {"Fn::Join": [":", [{"Fn::GetAtt": [logical_id(key), "Arn"]},
                                                 "snapstart"]]})

    uris = [i["Properties"]["IntegrationUri"]
            for i in resources(template, "AWS::ApiGatewayV2::Integration").values()]
    assert sorted(json.dumps(u) for u in uris) == sorted(
        json.dumps(u) for u in uris if qualified(u, "telegram") or qualified(u, "slack"))
    assert len(uris) == 2
    (mapping,) = resources(template, "AWS::Lambda::EventSourceMapping").values()
    assert qualified(mapping["Properties"]["FunctionName"], "worker")


def test_cfn_lint_accepts_the_snapstart_template(packaged: Packager,
                                                 tmp_path: Path) -> None:
    """make deploy-check lints the default template; this lints the opt-in one."""
    assert CFN_LINT.exists(), f"{CFN_LINT} is missing: pip install -e '.[dev]'"
    path = tmp_path / "template.json"
    path.write_text(json.dumps(packaged("snapStart=true", "alarmEmail=ops@example.com")))
    done = subprocess.run([str(CFN_LINT), "--ignore-checks", *CFN_LINT_IGNORED, "--", str(path)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


# serverless-offline ----------------------------------------------------------------------------

def node(script: str, env: dict[str, str] | None = None) -> Any:
    """What ``script`` (run by node in the project folder) prints, parsed as JSON."""
    base = {key: value for key, value in os.environ.items()
            if not key.startswith("TODOBOT_OFFLINE_")}
    done = subprocess.run(["node", "-e", script], cwd=ROOT, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


@pytest.mark.parametrize("endpoint", ["", "http://127.0.0.1:4566"])
def test_serverless_offline_sqs_is_loaded_only_with_a_local_endpoint(endpoint: str) -> None:
    plugins = node("console.log(JSON.stringify(require('./infra/offline/plugins.cjs')()))",
                   {"TODOBOT_OFFLINE_SQS_ENDPOINT": endpoint})
    local = "./infra/offline/offline-environment.cjs"
    assert plugins == ([local, "serverless-offline-sqs", "serverless-offline"] if endpoint
                       else [local, "serverless-offline"])


@pytest.mark.parametrize("override", [None, "", "http://127.0.0.1:4566/000000000000/q.fifo"])
def test_offline_the_queue_url_is_the_local_one_or_none(override: str | None) -> None:
    """serverless-offline cannot resolve the queue's Ref: under it TODOBOT_QUEUE_URL is
    TODOBOT_OFFLINE_QUEUE_URL, or unset (no queue: the webhook does the whole turn, and reads
    the worker's secrets too)."""
    script = """
      const Plugin = require('./infra/offline/offline-environment.cjs');
      const functions = {
        telegram: {environment: {
          TODOBOT_QUEUE_URL: {Ref: 'TurnQueue'}, OTHER: 'kept',
          TODOBOT_SSM_SECRETS: 'TELEGRAM_BOT_TOKEN,TELEGRAM_WEBHOOK_SECRET'}},
        worker: {environment: {TODOBOT_QUEUE_URL: {Ref: 'TurnQueue'},
                               TODOBOT_DEAD_LETTER_QUEUE_URL: {Ref: 'TurnDeadLetterQueue'},
                               TODOBOT_SSM_SECRETS: 'DATABASE_URL,TELEGRAM_BOT_TOKEN'},
                 events: [{sqs: {arn: {'Fn::GetAtt': ['TurnQueue', 'Arn']}}}]},
        migrate: {environment: {TODOBOT_SSM_SECRETS: 'DATABASE_URL'}},
        literal: {environment: {TODOBOT_QUEUE_URL: 'http://given/q.fifo'}},
      };
      const service = {provider: {environment: {STAGE: 'local'}},
                       getAllFunctions: () => Object.keys(functions),
                       getFunction: (key) => functions[key]};
      new Plugin({service}).hooks['before:offline:start:init']();
      console.log(JSON.stringify(functions));
    """
    dead_letters = (override or "").replace("q.fifo", "dlq.fifo")
    env = {} if override is None else {"TODOBOT_OFFLINE_QUEUE_URL": override,
                                       "TODOBOT_OFFLINE_DEAD_LETTER_QUEUE_URL": dead_letters}
    functions = node(script, env)
    telegram = functions["telegram"]["environment"]
    assert telegram.pop("OTHER") == "kept"
    if override:
        assert telegram == {"TODOBOT_QUEUE_URL": override,
                            "TODOBOT_SSM_SECRETS": "TELEGRAM_BOT_TOKEN,TELEGRAM_WEBHOOK_SECRET"}
        assert functions["worker"]["environment"]["TODOBOT_QUEUE_URL"] == override
        assert functions["worker"]["environment"]["TODOBOT_DEAD_LETTER_QUEUE_URL"] == (
            dead_letters)
    else:
        assert telegram == {
            "TODOBOT_SSM_SECRETS": "TELEGRAM_BOT_TOKEN,TELEGRAM_WEBHOOK_SECRET,DATABASE_URL"}
        assert functions["worker"]["environment"] == {
            "TODOBOT_SSM_SECRETS": "DATABASE_URL,TELEGRAM_BOT_TOKEN"}
    assert functions["migrate"]["environment"] == {"TODOBOT_SSM_SECRETS": "DATABASE_URL"}
    assert functions["literal"]["environment"] == {"TODOBOT_QUEUE_URL": "http://given/q.fifo"}
