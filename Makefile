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

# The main job: embedded anvil, deploy verifier + pool, calm then volatile swaps,
# prove over the pool's observations, updateFee; ends by itself.
demo: setup
	$(BIN)/prover demo --workdir $(DEMO_DIR)

test: setup
	$(BIN)/python -m pytest

clean:
	rm -rf $(DEMO_DIR) out .pytest_cache
