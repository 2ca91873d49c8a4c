# Two commands on a fresh machine: `make demo` and `make test` (DESIGN.md §3.1).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint venv lock bench clean

NATIVE := src/llmtriage/routing/_ngrams.so

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

# The featurizer's optional C kernel; without a C compiler this prints so and the numpy path runs.
$(NATIVE): src/llmtriage/routing/_ngrams.c $(STAMP)
	$(BIN)/python -m llmtriage.routing.native

venv: $(STAMP) $(NATIVE)

demo: venv
	$(BIN)/llmtriage demo

lint: venv
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

# Regenerate the lock file after changing pyproject.toml dependencies.
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
