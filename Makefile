# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both are idempotent: set-up steps rerun only when their inputs change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEMO_DIR ?= .demo
# builds and dev SRS files kept between `make test-fast` runs (the pipeline's hashes decide what is stale)
TEST_CACHE ?= .cache/tests

.PHONY: setup demo lint test test-fast forge-test clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned torch pulls GBs of CUDA wheels. Where the default
# index serves a CUDA build of this version (PyPI on Linux x86-64 does), point pip at the
# CPU wheels: make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
$(PY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The main job: embedded anvil, deploy verifier + pool, calm then volatile swaps,
# prove over the pool's observations, updateFee; then the inference market's story (offers,
# requests, one keeper pass, a callback, a refund, the owner's revenue); then private inputs (two
# borrowers priced from attested, hashed features; a borrowed attestation refused; a privacy
# scan of everything the chain keeps). Ends by itself.
demo: setup
	$(BIN)/prover demo --workdir $(DEMO_DIR)
	$(BIN)/prover demo market --workdir $(DEMO_DIR)
	$(BIN)/prover demo credit --workdir $(DEMO_DIR)

# Style, types and the architecture (import-linter's layer contracts in pyproject.toml).
lint: setup
	$(BIN)/ruff check prover models tests bench
	$(BIN)/ruff format --check prover models tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

# pytest runs in a network namespace with only loopback where one can be made (tests/loopback):
# the suite must not reach past 127.0.0.1, and Ray's test clusters stay on it
test: lint
	tests/loopback $(BIN)/python -m pytest
	$(MAKE) forge-test

# The Solidity suites (contracts/test/*.t.sol: unit, fuzz, invariant) with the pinned npm forge,
# offline: foundry.toml points it at the npm solc through contracts/solc-forge.cjs. `snapshot
# --check` runs every test and fails on a gas change not recorded in .gas-snapshot (fixed seed).
FORGE := node_modules/@foundry-rs/forge-linux-amd64/bin/forge
forge-test: $(NODE_STAMP)
	$(FORGE) build
	$(FORGE) snapshot --check

# The edit loop: no notebooks, no slow builds, builds cached between runs, two workers
# (one test file each at a time, so a module's set-up is made once).
test-fast: setup
	PROVER_TEST_CACHE=$(TEST_CACHE) tests/loopback $(BIN)/python -m pytest -m "not slow and not notebook" -q -n 2 --dist loadfile

clean:
	rm -rf $(DEMO_DIR) out .pytest_cache .cache .forge

# Both notebooks, headless (notebooks/run.py): a line as each cell starts and ends, what the
# cells print, and an HTML of each run beside its notebook (notebooks/*.html, not committed).
# The .ipynb files are only read, so they stay committed without outputs. FULL=1 runs the
# compare notebook's full variant set (PROVER_NOTEBOOK_FULL=1) instead of its fast one.
FULL ?=
.PHONY: notebooks
notebooks: setup
	PROVER_NOTEBOOK_FULL=$(FULL) $(BIN)/python notebooks/run.py notebooks/quickstart.ipynb notebooks/compare_proofs.ipynb
