# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test test-gpu bench install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install -q -e ".[test]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/isxt demo --out demo_out --force

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The GPU tests on a GPU host: installs the gpu extra, and a missing or broken
# GPU fails the run (ISXT_REQUIRE_GPU=1) instead of skipping its tests.
test-gpu: $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,gpu]"
	ISXT_REQUIRE_GPU=1 $(BIN)/python -m pytest -q tests/test_gpu.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_projectors.py
	$(BIN)/python benchmarks/bench_cgls.py

clean:
	rm -rf $(VENV) demo_out build *.egg-info src/*.egg-info
