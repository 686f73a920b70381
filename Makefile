# Two commands do everything: `make run` (chat with the bot locally) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Node tools for the deployment (osls, serverless-offline), pinned by package-lock.json.
NODE_STAMP := node_modules/.installed
OSLS       := node_modules/.bin/osls
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: run test lint typecheck pytest bench serve clean deploy-check offline

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed

## run: install, migrate the local SQLite database, and chat with the bot in this terminal
run: $(VENV)/.installed
	$(BIN)/todobot migrate
	$(BIN)/todobot chat

## serve: the local webhook server (Telegram and Slack routes) on 127.0.0.1:8000
serve: $(VENV)/.installed
	$(BIN)/todobot migrate
	$(BIN)/todobot serve

## test: lint, type-check, the deployment check and the whole test suite (needs PostgreSQL at
## 127.0.0.1:5432, Node.js 20.19+ and npm for osls/serverless-offline)
test: lint typecheck deploy-check pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy
	$(BIN)/mypy infra/build_lambda.py

## pytest: two workers (most tests wait on loopback servers, so two halve the time), then
## the tests that restart PostgreSQL, alone
pytest: $(VENV)/.installed-dev $(NODE_STAMP) $(CHROMEDRIVER)
	$(BIN)/pytest -n 2 -m "not serial"
	$(BIN)/pytest -m serial

# Debian's chromium and its chromedriver: the Slack install pages are tested in a real browser.
$(CHROMEDRIVER):
	@[ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null || { \
	  echo "Install Debian's chromium and chromium-driver (the install pages are tested in them)"; \
	  exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver || { \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium \
	  chromium-driver; }

$(NODE_STAMP): package.json package-lock.json infra/offline/patch-serverless-offline.mjs
	npm ci --no-audit --no-fund
	touch $@

## deploy-check: build the Lambda artifact, `osls package` it, cfn-lint the template, and the
## same with SnapStart on (the opt-in param) into .serverless-snapstart/
## (W3005: osls adds DependsOn next to the Ref/GetAtt it already has; harmless.
##  W8003: a Condition on an osls param, such as alarmEmail, is constant in the template)
CFN_LINT := $(BIN)/cfn-lint --ignore-checks W3005 W8003 --
deploy-check: $(VENV)/.installed-dev $(NODE_STAMP)
	$(BIN)/python infra/build_lambda.py
	$(OSLS) package --stage dev
	$(CFN_LINT) .serverless/cloudformation-template-update-stack.json
	$(OSLS) package --stage dev --param="snapStart=true" --package .serverless-snapstart
	$(CFN_LINT) .serverless-snapstart/cloudformation-template-update-stack.json

## offline: the Lambdas under serverless-offline on 127.0.0.1:3000 (Lambda API on :3002), from
## the sources and this venv, configured by your environment (DATABASE_URL, TELEGRAM_*, SLACK_*,
## OPENAI_*). No queue unless TODOBOT_OFFLINE_QUEUE_URL is set: the webhooks do the whole turn.
## With a local SQS: TODOBOT_OFFLINE_SQS_ENDPOINT, TODOBOT_OFFLINE_QUEUE_URL, AWS_ENDPOINT_URL_SQS.
## The scheduler runs every minute unless TODOBOT_OFFLINE_SCHEDULE=off
## (infra/deploy.md, "Running it locally")
offline: $(VENV)/.installed $(NODE_STAMP)
	$(BIN)/todobot migrate
	VIRTUAL_ENV="$(abspath $(VENV))" PATH="$(abspath $(BIN)):$$PATH" TODOBOT_LAMBDA_ARTIFACT= \
	AWS_ACCESS_KEY_ID="$${AWS_ACCESS_KEY_ID:-offline}" \
	AWS_SECRET_ACCESS_KEY="$${AWS_SECRET_ACCESS_KEY:-offline}" \
		$(OSLS) offline start --stage local

## bench: the benchmark suite, one table of issue #6's targets (numbers, not pass/fail; needs
## PostgreSQL like make test; a few minutes)
bench: $(VENV)/.installed-dev
	$(BIN)/python -m tests.bench

clean:
	rm -rf $(VENV) todobot.db build .serverless .serverless-snapstart
