# followup-ops: the two commands that matter on a fresh Debian 12 machine, as root:
#   make demo    set everything up and run the main job on the local lab
#   make test    every test: lint, unit, Molecule (one scenario per role), integration against the lab
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
OPS := $(BIN)/followup-ops
# /usr/local/bin first: tools/bootstrap.sh links a newer Go there when the machine's own is too old.
export PATH := $(CURDIR)/$(BIN):/usr/local/bin:$(PATH):/usr/local/go/bin
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PYTHONDONTWRITEBYTECODE := 1

DEMO_RELEASE ?= 1.0.0
# Molecule 26 looks for a `default` scenario (for shared state) on every run and logs its absence as CRITICAL;
# this repository has none on purpose, so that line is noise and is filtered out (nothing else is).
MOLECULE_NOISE := molecule/default/molecule.yml' glob failed
# Molecule scenarios, in the order they run (one per role; docs/testing.md). `make test` (CI, 45 minutes on 2 cores)
# runs the ones whose ground the integration tests do not cover; `make test-all` runs every one.
SCENARIOS_ALL := common mysql mongodb followup_component followup_app followup_voice followup_fep compliance reports \
  hardening backup
SCENARIOS ?= compliance reports
# Integration tests marked `slow` (the migrations, an upgrade killed in every step) run in `make test-all` only.
INTEGRATION_MARK ?= integration and not slow

.PHONY: help bootstrap venv lock artifacts releases images lab demo lint unit molecule integration test test-all clean

help:
	@echo "make demo         set up everything and deploy release $(DEMO_RELEASE) to the local lab (as root)"
	@echo "make test         lint, unit tests, Molecule scenarios, integration tests against the lab (CI, <= 45 min)"
	@echo "make test-all     the same with every Molecule scenario and the slow integration tests (about 90 min)"
	@echo "make bootstrap    Debian packages, Docker engine, Go (as root; part of demo and test)"
	@echo "make venv         the Python virtualenv with pinned dependencies"
	@echo "make releases     build the stand-in releases into build/releases"
	@echo "make artifacts    build FerretDB and mongo-tools into build/artifacts"
	@echo "make lab          start the lab hosts"
	@echo "make lint | unit | molecule | integration"

bootstrap:
	@tools/bootstrap.sh

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found: run 'make bootstrap' as root"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements/constraints.txt requirements/requirements.in pyproject.toml
	$(BIN)/pip install -q -c requirements/constraints.txt -r requirements/requirements.in
	$(BIN)/pip install -q -c requirements/constraints.txt --no-deps -e .
	@touch $@

venv: $(VENV)/.installed

# Re-resolve the pinned set from requirements.in (needs the package index).
lock: $(BIN)/python
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/pip install -q -r requirements/requirements.in
	{ echo "# Pinned by \`make lock\` from requirements/requirements.in on CPython 3.11 (Debian 12). Do not edit by hand."; \
	  build/lock-venv/bin/pip freeze; } > requirements/constraints.txt
	rm -rf build/lock-venv

artifacts:
	@tools/artifacts/build.sh build/artifacts

# The lab's release index is signed as the vendor signs theirs, with the lab release key .lab/release-key (made
# when missing); the lab inventory trusts that key through the gitignored group_vars/all/release_signers.yml.
releases: venv
	$(BIN)/python tools/build_releases.py --source standin --output build/releases \
	  --sign-key .lab/release-key --signers-file inventories/lab/group_vars/all/release_signers.yml

images: venv
	@$(OPS) lab image >/dev/null

lab: venv
	$(OPS) lab up

demo: bootstrap venv artifacts releases lab
	$(OPS) deploy -i inventories/lab --release $(DEMO_RELEASE)
	$(OPS) lab seed --scale 1
	@# The demo runs 1.0.0 on purpose (later issues upgrade it): status exits 4 once the newest release is more
	@# than 90 days old, which is the report working, not the demo failing.
	$(OPS) status -i inventories/lab || [ $$? -eq 4 ]
	$(OPS) lab smoke

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint -c .yamllint .
	$(BIN)/ansible-lint

unit: venv
	$(BIN)/pytest -q tests/unit

molecule: venv images artifacts releases
	@mkdir -p build && : > build/molecule-times.txt; \
	export FOLLOWUP_LAB_IMAGE=$$($(OPS) lab image); \
	for s in $(SCENARIOS); do \
	  echo "== molecule test -s $$s"; start=$$(date +%s); \
	  $(BIN)/molecule test -s $$s 2>&1 | grep -v --line-buffered "$(MOLECULE_NOISE)" || exit 1; \
	  took=$$(( $$(date +%s) - start )); echo "$$s $$took" >> build/molecule-times.txt; \
	  echo "== molecule $$s passed in $${took}s"; \
	done

integration: venv artifacts releases
	$(BIN)/pytest -q -p no:cacheprovider --durations=15 -m "$(INTEGRATION_MARK)" tests/integration

# Every stage in order, timed; the table of stage times is printed at the end (tools/test-stages.sh).
test:
	@tools/test-stages.sh

test-all:
	@SCENARIOS="$(SCENARIOS_ALL)" INTEGRATION_MARK=integration BUDGET_S=6000 tools/test-stages.sh

# Keeps runs/ (the audit log and run records are evidence) and .lab/ (the lab's key and vault).
clean:
	rm -rf build .cache
