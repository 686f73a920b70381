# Two commands do everything: `make run` (chat with the bot locally) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: run test lint typecheck pytest bench serve clean

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

## test: lint, type-check and the whole test suite (needs PostgreSQL at 127.0.0.1:5432)
test: lint typecheck pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest

## bench: the benchmark scripts (numbers, not pass/fail)
bench: $(VENV)/.installed-dev
	$(BIN)/python -m tests.bench.turn_history

clean:
	rm -rf $(VENV) todobot.db
