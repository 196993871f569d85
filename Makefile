# datamarket: `make demo` and `make test` set up everything they need on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
NPX := npx --no-install

.PHONY: help install sandbox compile abi lint format test test-unit test-contracts test-js test-python coverage demo bench bench-report clean

help:
	@echo "make demo      run the contracts demo on a local anvil (installs what is missing)"
	@echo "make test      lint, Hardhat tests with coverage, pytest (installs what is missing)"
	@echo "make test-unit the fast suite for the edit-test loop: no network, no chain (about a minute)"
	@echo "make bench     benchmarks; figures in bench/results/, written up in bench/README.md"
	@echo "make bench-report  bench/README.md and its plots from the recorded figures (runs no benchmark)"
	@echo "make abi       recompile and export ABIs into the Python package and the JavaScript client"

install: node_modules/.installed clients/js/node_modules/.installed $(VENV)/.installed sandbox

# bubblewrap, the sandbox of compute jobs (the worker refuses to run without it).
sandbox:
	scripts/sandbox/install.sh

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

# The JavaScript client's own packages (clients/js/package-lock.json), into clients/js/node_modules.
clients/js/node_modules/.installed: clients/js/package.json clients/js/package-lock.json
	npm ci --prefix clients/js --no-audit --no-fund
	@touch $@

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -c constraints.txt -e '.[dev]'
	@touch $@

compile: node_modules/.installed
	$(NPX) hardhat compile --force --quiet

abi: compile $(VENV)/.installed
	$(PY) scripts/export_abis.py
	node clients/js/scripts/export-abi.js

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Hardhat tests run instrumented by solidity-coverage; the thresholds are checked afterwards.
test-contracts coverage: node_modules/.installed $(VENV)/.installed
	$(NPX) hardhat coverage
	$(PY) scripts/check_coverage.py coverage.json --min 95

# The JavaScript client's unit tests (its conformance flow against a local market is a pytest).
test-js: clients/js/node_modules/.installed
	node --test clients/js/test/*.test.js

# The IPFS node (js-ipfs under Node 22) that the storage tests compare CIDs with; cached in .cache/ipfs.
# Chromium and its chromedriver, which the browser tests drive headless (Debian's packages).
test-python: install compile
	scripts/ipfs/install.sh
	scripts/gateway_client/install.sh
	scripts/browser/install.sh
	$(VENV)/bin/pytest -q --durations=15

# The fast suite: tests/unit, kept off the network by tests/unit/conftest.py.
test-unit: $(VENV)/.installed
	$(VENV)/bin/pytest -q tests/unit

test: lint test-contracts test-js test-python

demo: install
	$(VENV)/bin/datamarket demo

bench: install compile
	$(NPX) hardhat run scripts/bench/gas.js
	$(PY) scripts/bench/cid_throughput.py
	$(PY) scripts/bench/crypto_throughput.py
	$(PY) scripts/bench/data_path.py
	$(PY) scripts/bench/job_start.py
	$(PY) scripts/bench/sandbox_overhead.py
	$(PY) scripts/bench/raw_index.py
	$(PY) scripts/bench/dp_utility.py
	$(PY) scripts/bench/sample_aggregate_utility.py
	$(PY) scripts/bench/gpu_train.py
	$(PY) scripts/bench/indexer_catchup.py
	$(PY) scripts/bench/indexer_freshness.py
	$(PY) scripts/bench/catalog_search.py
	$(PY) scripts/bench/slow_clients.py
	$(PY) scripts/bench/load.py
	$(PY) scripts/bench/fees_flood.py
	$(PY) scripts/bench/report.py

# bench/README.md and bench/plots/ from bench/results/; a plot is drawn again only when its figures changed.
bench-report: $(VENV)/.installed
	$(PY) scripts/bench/report.py

clean:
	rm -rf artifacts cache coverage coverage.json .pytest_cache .hypothesis
