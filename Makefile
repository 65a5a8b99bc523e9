# Two commands for a newcomer: `make demo` and `make test`. Both install on first use only.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.seft-installed
# The CPU build of torch, installed before the package so that pip never pulls a CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= runs/demo

.PHONY: install demo test test-slow lint clean replicate

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(VENV)/bin/seft run --out $(DEMO_OUT)

test: install
	$(PY) -m pytest

test-slow: install
	$(PY) -m pytest -m slow

lint: install
	$(VENV)/bin/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache

# The replication table and the data-scaling curve (3 seeds; about an hour on 2 cores).
# Resumable: rerun after a kill. Writes runs/replicate/ and benchmarks/results/replicate.md.
replicate: install
	$(PY) benchmarks/replicate.py
