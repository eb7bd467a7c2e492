# Developer entry points. `make help` lists them; `make run` and `make test` work on a
# fresh machine with only Python 3.11+ and make: the first target that needs the virtual
# environment creates it.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
# Touched after a successful sync: the environment is re-synced only when uv.lock changes.
SYNCED := $(VENV)/.synced-uv-lock

# uv must use the Python that made the venv (never download one) and install into .venv.
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help .venv run test lint format bench contracts clean

help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_.-]+:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

.venv: $(SYNCED) ## Create .venv and install the workspace from uv.lock (only when it changed)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BIN)/uv: | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(SYNCED): uv.lock | $(BIN)/uv
	$(BIN)/uv sync --all-packages --frozen
	@touch $@

run: $(SYNCED) ## Start NATS and the four services (ports 8001-8004) until Ctrl-C
	$(BIN)/mentorship dev up

test: $(SYNCED) ## Run the whole test suite (PostgreSQL tests need TEST_DATABASE_URL)
	$(BIN)/pytest

lint: $(SYNCED) ## ruff check, ruff format --check, mypy --strict
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts/src libs/*/src services/*/src

format: $(SYNCED) ## Format the code and apply ruff's safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(SYNCED) ## Run every bench/*.py (each prints one JSON object)
	@for script in bench/[!_]*.py; do \
		[ -e "$$script" ] || { echo "no benchmarks in bench/"; break; }; \
		echo "== $$script"; \
		$(BIN)/python "$$script"; \
	done

contracts: $(SYNCED) ## Regenerate the committed JSON Schemas, AsyncAPI and OpenAPI documents
	$(BIN)/python -m mentorship_contracts.generate

clean: ## Remove local state (./var: databases, NATS store, logs) and tool caches
	rm -rf var .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -name __pycache__ -type d -not -path "./$(VENV)/*" -prune -exec rm -rf {} +
