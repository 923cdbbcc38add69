# Felhom provider: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The toolchain installer prints the directory holding pulumi and its Python plugins.
PULUMI_BIN_FILE := $(VENV)/pulumi-bin

.PHONY: setup venv toolchain test lint unit e2e acceptance demo demo-down bench bench-sim clean

setup: venv toolchain

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

# The end-to-end scenarios against a real node (FELHOM_ACC_* variables, docs/acceptance.md),
# or against a fresh simulator when none is set.
acceptance: setup
	FELHOM_PULUMI_BIN="$$(cat $(PULUMI_BIN_FILE))" $(VENV)/bin/pytest -x -s -p no:cacheprovider tests/acceptance/test_scenarios.py

demo: setup
	@scripts/demo.sh

demo-down:
	@scripts/demo-down.sh

bench: venv
	$(PY) bench/bringup.py
	$(PY) bench/roll.py

bench-sim: venv
	$(PY) bench/sim_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
