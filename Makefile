# Loopline: `make run` builds the venv and runs the pipeline; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help

help: ## List the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-10s %s\n",$$1,$$2}'

$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev]'
	touch $@

venv: $(BIN)/.installed ## Create .venv with the pinned dependency set (requirements.lock)

params: venv ## Recompose params.yaml from conf/ (run after editing conf/)
	$(BIN)/loopline params

run: venv ## Run the whole pipeline (dvc repro); a second run reproduces nothing
	$(BIN)/dvc repro

test: venv ## The whole suite on every core, end-to-end tests included, with coverage (installs Chromium if missing)
	scripts/ensure-chromium
	$(BIN)/pytest -q -n auto --dist loadfile --durations=10 --cov --cov-report=term:skip-covered

test-fast: venv ## The edit-test loop: unit, data and model tests (no dvc repro, no browser), on every core
	$(BIN)/pytest -q -p no:cacheprovider -n auto --dist worksteal --ignore=tests/e2e -m "not slow and not browser"

bench: venv ## Benchmarks (batch, REST, drift vs Evidently, incremental repro, malformed traffic) -> BENCHMARKS.md; needs `make run` first
	$(BIN)/python -m bench.batch --rows 1000000 --memory-rows 10000000
	$(BIN)/python -m bench.rest
	$(BIN)/python -m bench.drift
	$(BIN)/python -m bench.incremental
	$(BIN)/python -m bench.malformed

fuzz: venv ## Fuzz the REST contract: schemathesis, every check, 1,000 examples per operation; needs `make run`
	$(BIN)/python -m bench.fuzz --max-examples 1000

sweep: venv ## A 4-point grid (model.max_depth x model.eta) as queued DVC experiments, 2 at a time
	$(BIN)/loopline sweep -S 'model.max_depth=3,6' -S 'model.eta=0.05,0.1' --jobs 2

review: venv ## Compare the workspace with main: params, metrics, slices, gate -> reports/review.md
	$(BIN)/loopline review --baseline main

lint: venv ## ruff check, format check and the layer contract (import-linter, ARCHITECTURE.md)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports

lock: venv ## Re-pin every dependency into requirements.lock
	$(BIN)/pip freeze --exclude-editable | grep -v '^-e' > requirements.lock

dag: venv ## Show the pipeline DAG
	$(BIN)/dvc dag

metrics: venv ## Show metrics of the workspace
	$(BIN)/dvc metrics show

mlflow-ui: venv ## Open the MLflow UI on 127.0.0.1:5000
	$(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db --host 127.0.0.1 --port 5000

.PHONY: help venv params run test test-fast bench fuzz sweep review lint lock dag metrics mlflow-ui
