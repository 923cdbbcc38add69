# Felhom provider: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The toolchain installer prints the directory holding pulumi and its Python plugins.
PULUMI_BIN_FILE := $(VENV)/pulumi-bin

.PHONY: setup venv toolchain postgres-check test lint unit e2e demo demo-down bench bench-sim bench-fleet clean

setup: venv toolchain postgres-check

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python >= 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

toolchain:
	@scripts/install-toolchain.sh > $(PULUMI_BIN_FILE).tmp && mv $(PULUMI_BIN_FILE).tmp $(PULUMI_BIN_FILE)
	@PULUMI_SKIP_UPDATE_CHECK=true "$$(cat $(PULUMI_BIN_FILE))/pulumi" version | sed 's/^/pulumi CLI: /'

# The PostgreSQL state backend's tests start a server from the machine's binaries.
postgres-check: venv
	@$(PY) -m felhom_provider.fleet.pgserver

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup lint
	FELHOM_PULUMI_BIN="$$(cat $(PULUMI_BIN_FILE))" $(VENV)/bin/pytest

unit: venv
	$(VENV)/bin/pytest -m 'not e2e'

e2e: setup
	FELHOM_PULUMI_BIN="$$(cat $(PULUMI_BIN_FILE))" $(VENV)/bin/pytest -m e2e

demo: setup
	@scripts/demo.sh

demo-down:
	@scripts/demo-down.sh

bench: setup
	$(PY) bench/bringup.py
	FELHOM_PULUMI_BIN="$$(cat $(PULUMI_BIN_FILE))" $(PY) bench/fleet.py

bench-fleet: setup
	FELHOM_PULUMI_BIN="$$(cat $(PULUMI_BIN_FILE))" $(PY) bench/fleet.py

bench-sim: venv
	$(PY) bench/sim_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
