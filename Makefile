# pypi-edge — everything starts here. `make serve` and `make test` bootstrap from nothing but
# python3 (3.11+), make and the package registries.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Two install stamps: what serving needs, and everything (tests, bench, lint, the Pulumi program).
# The full install satisfies the serving one too, so `make serve` after `make test` installs nothing.
SERVE_STAMP := $(VENV)/.installed-serve
STAMP  := $(VENV)/.installed
SERVE_REQUIREMENTS := requirements-serve.txt indexer/requirements.txt upload/requirements.txt pyproject.toml
# apt-get needs root; use sudo when we are not.
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
CHROMIUM := /usr/bin/chromium
SERVE_ARGS ?=
# pytest-xdist workers for `make test`: 4, twice the 2 cores it is sized for, because the
# end-to-end tests spend much of their time waiting on pip, uv, poetry, Chromium and the local
# stack in other processes (measured in one clone: 8 min 33 s with 2 workers, 7 min 15–37 s with 4).
TEST_WORKERS ?= 4

.PHONY: install install-serve serve test test-fast lint bench docs chromium clean

install: $(STAMP)
install-serve: $(SERVE_STAMP)

# The venv, one pinned requirements file (with the files it includes), and the `pypi-edge` console
# script (the publisher CLI) installed from this checkout in editable mode.  pip installs only uv
# (pinned in requirements-serve.txt), and uv the rest: the same pins, in seconds instead of minutes
# (README: "The two commands").  Nothing is byte-compiled at install (uv's default): modules are
# compiled when first imported, so the packages never imported (most of moto's services) cost
# neither install time nor space.
define venv_install
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $$(grep -E '^uv==' requirements-serve.txt | cut -d' ' -f1)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r $(1)
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation -e .
endef

$(SERVE_STAMP): $(SERVE_REQUIREMENTS)
	$(call venv_install,requirements-serve.txt)
	touch $@

$(STAMP): $(SERVE_REQUIREMENTS) requirements.txt requirements-dev.txt
	$(call venv_install,requirements-dev.txt)
	touch $@ $(SERVE_STAMP)

# Debian's chromium for the browser tests (Playwright drives it; we never download a browser).
chromium: $(CHROMIUM)
$(CHROMIUM):
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

serve: $(SERVE_STAMP)
	$(BIN)/python -m local --data-dir .pypi-edge-data $(SERVE_ARGS)

# With branch coverage of edge/, indexer/ and upload/ (report and floor: [tool.coverage] in pyproject.toml),
# on $(TEST_WORKERS) pytest-xdist workers (pytest-cov combines their data).
test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MKDOCS_BUILD)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --cov --cov-report=term-missing

# Everything but the end-to-end tests (no real clients, no browser): the quick loop while editing.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not e2e"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python -m bench

# The documentation site (mkdocs.yml, docs/) into .site/ (git-ignored); offline, and --strict so
# that a broken link or anchor fails `make test` too.  NO_MKDOCS_2_WARNING: Material's banner
# about its successor, printed on every build.
MKDOCS_BUILD = NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir .site
docs: $(STAMP)
	$(MKDOCS_BUILD)
	@echo "Built .site/index.html"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .coverage build dist .site
