# pypi-edge — everything starts here. `make serve` and `make test` bootstrap from nothing but
# python3 (3.11+), make and the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# apt-get needs root; use sudo when we are not.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM := /usr/bin/chromium
SERVE_ARGS ?=

.PHONY: install serve test test-fast lint bench chromium clean

install: $(STAMP)

# The venv, the pinned requirements, and the `pypi-edge` console script (the publisher CLI)
# installed from this checkout in editable mode.
$(STAMP): requirements.txt indexer/requirements.txt upload/requirements.txt requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip==26.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

# Debian's chromium for the browser tests (Playwright drives it; we never download a browser).
chromium: $(CHROMIUM)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

serve: $(STAMP)
	$(BIN)/python -m local --data-dir .pypi-edge-data $(SERVE_ARGS)

# With branch coverage of edge/, indexer/ and upload/ (report and floor: [tool.coverage] in pyproject.toml).
test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest --cov --cov-report=term-missing

# Everything but the end-to-end tests (no real clients, no browser): the quick loop while editing.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not e2e"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .coverage build dist
