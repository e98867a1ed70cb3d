# The one command surface. `make run` and `make test` work on a fresh machine with Python 3.11+.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run demo test test-fast lint typecheck check bench bench-smoke docs clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies only, exactly as locked.
$(VENV)/.run-installed: $(BIN)/activate requirements/run.lock pyproject.toml
	$(PIP) install -r requirements/run.lock
	$(PIP) install --no-deps -e .
	touch $@

# Everything for development and tests, exactly as locked.
$(VENV)/.dev-installed: $(BIN)/activate requirements/dev.lock pyproject.toml
	$(PIP) install -r requirements/dev.lock
	$(PIP) install --no-deps -e .
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed  ## Set up and serve the desk at http://127.0.0.1:8000 (SQLite under ./var)
	$(BIN)/socialdesk serve

demo: $(VENV)/.run-installed  ## Load the demo organization, then serve it
	$(BIN)/socialdesk demo
	$(BIN)/socialdesk serve

test: $(VENV)/.dev-installed  ## Set up and run the whole test suite
	$(BIN)/pytest

test-fast: $(VENV)/.dev-installed  ## Tests without the browser and the slow ones
	$(BIN)/pytest -m "not browser and not slow"

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

check: lint typecheck test

bench: $(VENV)/.dev-installed  ## Full benchmarks (minutes); figures as the last JSON line of each
	for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

bench-smoke: $(VENV)/.dev-installed  ## Short benchmark runs, as CI does
	for b in bench/[!_]*.py; do echo "== $$b"; $(BIN)/python $$b --smoke || exit 1; done

docs: $(VENV)/.dev-installed  ## Regenerate the CLI reference from --help
	$(BIN)/python scripts/gen_cli_docs.py

lock:  ## Re-lock dependencies after editing pyproject.toml
	$(BIN)/python -m pip install -q uv
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements/dev.lock --python-version 3.11 -q
	$(BIN)/uv pip compile pyproject.toml -o requirements/run.lock --python-version 3.11 -q

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
