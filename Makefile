# Everyday commands. Every target runs inside the locked uv environment.
UV ?= uv
PYTEST_ARGS ?=

.PHONY: install test test-unit test-containers lint format train local bench-serve bench-train compose-config

install:  ## create/refresh the locked environment (all services + dev tools)
	$(UV) sync --frozen --all-extras --compile-bytecode

test: install  ## the whole suite: lint, unit, integration, e2e, containers (what CI runs)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen pytest $(PYTEST_ARGS)

test-unit: install
	$(UV) run --frozen pytest tests/unit $(PYTEST_ARGS)

test-containers: install  ## build the four images and run the compose stack on Podman (root)
	$(UV) run --frozen pytest tests/containers $(PYTEST_ARGS)

lint:  ## ruff (lint + format check) and mypy (strict on the packages; files and options in pyproject.toml)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

format:
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

train: install  ## train candidates, register the best, run the promotion gate
	$(UV) run --frozen python -m model_registry train

local: install  ## embedded local mode: no Docker, SQLite + local folders, every service as a process
	$(UV) run --frozen python -m scripts.local_stack
