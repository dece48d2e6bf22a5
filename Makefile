# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both are idempotent: set-up steps rerun only when their inputs change.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
DEMO_DIR ?= .demo

.PHONY: setup demo test clean

setup: $(PY_STAMP) $(NODE_STAMP)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first and pinned: an unpinned torch pulls GBs of CUDA wheels.
$(PY_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Off-chain path until the on-chain work lands: build, prove and verify the fee model.
demo: setup
	$(BIN)/prover build fee --workdir $(DEMO_DIR)
	$(BIN)/prover example fee --out $(DEMO_DIR)/fee-input.json
	$(BIN)/prover prove fee --workdir $(DEMO_DIR) --input $(DEMO_DIR)/fee-input.json --out $(DEMO_DIR)/fee-proof.json
	$(BIN)/prover verify fee --workdir $(DEMO_DIR) --proof $(DEMO_DIR)/fee-proof.json

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(DEMO_DIR) out .pytest_cache
