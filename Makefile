# Felhom provider: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# The toolchain installer prints the directory holding pulumi and its Python plugins.
PULUMI_BIN_FILE := $(VENV)/pulumi-bin

.PHONY: setup venv toolchain postgres-check test lint unit e2e acceptance demo demo-down bench bench-sim bench-faults bench-fleet lock mutate clean

setup: venv toolchain postgres-check

venv: $(STAMP)

# Installs exactly the pinned, hash-checked set of requirements.lock, then this package
# itself without resolving anything again (--no-deps).
$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "Python >= 3.11 is required (found $$($(PYTHON) --version))"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Re-resolve pyproject.toml's dependencies (runtime + dev extra) to the newest allowed
# versions and rewrite requirements.lock with every file's hash. Commit the result.
lock: venv
	$(VENV)/bin/pip-compile --quiet --upgrade --generate-hashes --allow-unsafe --strip-extras \
	  --no-emit-find-links --no-emit-index-url --extra dev \
	  --output-file requirements.lock pyproject.toml

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

# The end-to-end scenarios against a real node (FELHOM_ACC_* variables, docs/acceptance.md),
# or against a fresh simulator when none is set.
acceptance: setup
	FELHOM_PULUMI_BIN="$$(cat $(PULUMI_BIN_FILE))" $(VENV)/bin/pytest -x -s -p no:cacheprovider tests/acceptance/test_scenarios.py

demo: setup
	@scripts/demo.sh

demo-down:
	@scripts/demo-down.sh

bench: setup
	$(PY) bench/bringup.py
	$(PY) bench/roll.py
	FELHOM_PULUMI_BIN="$$(cat $(PULUMI_BIN_FILE))" $(PY) bench/fleet.py

bench-fleet: setup
	FELHOM_PULUMI_BIN="$$(cat $(PULUMI_BIN_FILE))" $(PY) bench/fleet.py

bench-sim: venv
	$(PY) bench/sim_bench.py

# A 16-guest fleet with the real CLI, with and without the transient-fleet fault profile.
bench-faults: setup
	FELHOM_PULUMI_BIN="$$(cat $(PULUMI_BIN_FILE))" $(PY) bench/faults.py --guests 16

# Mutation testing of reconcile/, pve/retry.py, pve/tasks.py, guest/ and the resources'
# checks against the unit tests ([tool.mutmut] in pyproject.toml); prints the survival rate
# (overall and per module) and the survivors. The whole scope is slow (tens of minutes on 2
# cores) and not part of `make test`; `make mutate MODULES="reconcile.apply pve.retry"` runs
# only those modules. Not mutated: progress and log lines (text for people, not behaviour);
# error classes, PVE parameters, bounds and control flow always are (docs/mutation.md).
mutate: venv
	scripts/mutate.sh $(MODULES)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache mutants mutants.log mutants.results
