# Two commands do all the set-up on a fresh machine:
#   make demo   installs, builds a realistic synthetic data set and runs the demonstration
#   make test   installs, starts the services the tests need, runs lint, types and the suite
SHELL := /bin/bash
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck pytest install services bench clean

install:
	@command -v uv >/dev/null || $(PYTHON) -m pip install --quiet uv
	uv sync --frozen

demo: install
	uv run steward demo

services:
	scripts/test-services.sh

lint: install
	uv run ruff check src tests benchmarks
	uv run ruff format --check src tests benchmarks

typecheck: install
	uv run mypy

pytest: install services
	uv run pytest -n auto $(PYTEST_ARGS)

test: lint typecheck pytest

bench: install
	uv run python benchmarks/run_all.py

clean:
	rm -rf .steward .pytest_cache .mypy_cache .ruff_cache test-output
