# Vatio: `make demo` runs a local community, `make test` runs every suite.
# Both set everything up first (idempotent): Debian packages, the Python
# venv, npm packages, the offline Solidity compiler, the compiled contracts
# and the browser app (frontend/dist, served by the web server).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
APE := $(VENV)/bin/ape
# Ape (ape-foundry) finds Anvil only on PATH: use the npm one.
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: setup system solc frontend lint format test test-fast test-contracts test-backend test-frontend test-e2e demo bench slither clean

setup: system $(VENV)/.installed node_modules/.installed solc .build/__local__.json frontend/dist/index.html

system:
	@sh scripts/setup-system.sh

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
# wheel 0.46 needs packaging>=24, which eth-ape rules out (pip would report a broken environment).
	$(PY) -m pip install -q --upgrade "pip<25" setuptools "wheel<0.46"
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# The solc-js wrapper where py-solc-x looks. Always rewritten: it points at
# this checkout, which may have moved.
solc: node_modules/.installed
	@sh scripts/solc/install.sh

.build/__local__.json: $(wildcard contracts/*.sol contracts/*/*.sol) ape-config.yaml $(VENV)/.installed | solc
	$(APE) pm install
	$(APE) compile
	rm -rf contracts/.cache
	touch $@

# The browser app: type-checked, then built by Vite into frontend/dist.
# Rebuilt only when a source, the config or the npm packages changed.
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/index.html frontend/vite.config.ts \
	frontend/tsconfig.json

frontend/dist/index.html: $(FRONTEND_SOURCES) node_modules/.installed
	npm run --silent typecheck
	npm run --silent build -- --logLevel warn
	touch $@

frontend: frontend/dist/index.html

test: setup test-contracts test-contracts-london test-backend test-frontend test-e2e

# Every linter and formatter check, as CI runs it (.ci/run calls this before
# the tests). `make format` applies the formatters.
lint: system $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	npx --no-install eslint frontend
	npx --no-install prettier --check frontend
	npx --no-install solhint --max-warnings 0 'contracts/**/*.sol'

format: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
	npx --no-install prettier --write frontend

# The pure and in-process tests: no Anvil, no PostgreSQL, no TensorFlow
# training, no subprocesses, no browser (markers in tests/conftest.py).
FAST_MARKERS := not (postgres or faults or tensorflow or slow or e2e)
test-fast: setup
	@start=$$(date +%s); \
	$(PY) -m pytest tests/backend tests/scripts tests/deploy -q -p no:cacheprovider -p no:ape_test -m "$(FAST_MARKERS)" && \
	npx --no-install vitest run --root . --dir frontend/src --silent; \
	status=$$?; echo "test-fast: $$(( $$(date +%s) - start )) s"; exit $$status

# Ape may copy OpenZeppelin (1,000+ files) into contracts/.cache; its source
# scan stops at 500 files, which then hides contracts/test/. Compilation
# works from ~/.ape/packages without it.
test-contracts:
	rm -rf contracts/.cache
	$(APE) test tests/contracts -q -p no:cacheprovider

# The London-level build (Energy Web Chain 246, Volta 73799: no PUSH0, MCOPY,
# TLOAD, TSTORE): the same sources and ape-config.yaml settings, only
# solidity.evm_version changed, into .build/london/ (backend/chain/artifacts.py).
# `vatio deploy --network ewc|volta` deploys it.
.PHONY: contracts-london test-contracts-london
contracts-london: .build/london/__local__.json

.build/london/__local__.json: $(wildcard contracts/*.sol contracts/*/*.sol) ape-config.yaml $(VENV)/.installed | solc
	$(PY) -c 'from backend.chain.artifacts import build_contracts; build_contracts("london")'
	rm -rf contracts/.cache
	touch $@

# The contract suite on the London build and `anvil --hardfork london`, then a
# deploy and one settled interval there (the default hardfork's run is
# test-contracts and the outbox tests in test-backend).
test-contracts-london: .build/london/__local__.json
	rm -rf contracts/.cache
	VATIO_EVM_VERSION=london $(APE) test tests/contracts -q -p no:cacheprovider
	$(PY) -m pytest tests/backend/chain/test_evm_levels.py tests/backend/oracle/test_outbox.py -q -p no:cacheprovider \
		-p no:ape_test -k "london or evm_levels"

test-backend:
	$(PY) -m pytest tests/backend tests/scripts tests/deploy -q -p no:cacheprovider -p no:ape_test

# The browser app's own tests (Vitest on Node): shared protocol vectors, error decoding.
test-frontend: node_modules/.installed
	npx --no-install vitest run --root . --dir frontend/src

# The site in Debian's Chromium (Playwright, /usr/bin/chromium) against a
# running chain, broker, oracle and web server; saves the screenshots in
# benchmarks/results/screenshots/.
test-e2e: frontend/dist/index.html
	$(PY) -m pytest tests/e2e -q -p no:cacheprovider -p no:ape_test

demo: setup
	$(VENV)/bin/vatio demo

bench: setup
	$(PY) benchmarks/bench_solver.py
	$(PY) benchmarks/bench_gas.py
	$(PY) benchmarks/bench_verify.py
	$(PY) benchmarks/bench_ingest.py
	$(PY) benchmarks/bench_settlement_build.py
	$(PY) benchmarks/bench_chain_reads.py --quick
	$(PY) benchmarks/bench_web.py
	$(PY) benchmarks/bench_summary_stall.py
	$(PY) benchmarks/bench_failover.py
	$(PY) benchmarks/bench_scale.py --quick
	$(PY) benchmarks/bench_forecast.py
	$(PY) benchmarks/bench_bridge.py
	$(PY) benchmarks/bench_money.py
	$(PY) benchmarks/bench_coefficients.py
	$(PY) benchmarks/bench_audit.py --quick
	$(PY) benchmarks/bench_forecast_advice.py
	$(PY) benchmarks/bench_forecast_selection.py --members 3 --max-epochs 12
	$(PY) benchmarks/forecast_ceiling.py --lstm benchmarks/results/forecast_lstm.npz

slither: setup
	$(PY) scripts/slither_offline.py

clean:
	rm -rf .build var deployments/31337.json frontend/dist
