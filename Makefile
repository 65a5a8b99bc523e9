# Two commands for a newcomer: `make demo` and `make test`. Both install on first use only.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.seft-installed
# The CPU build of torch, installed before the package so that the installer never pulls a CUDA build.
TORCH_SPEC ?= torch==2.13.0
DEMO_OUT ?= runs/demo

.PHONY: install demo test test-slow lint clean replicate

install: $(STAMP)

# uv installs the same packages at the same versions as pip, 5-7x faster (20-30 s against
# 141-161 s here: fresh clones, caches emptied, alternating), which was most of a fresh clone's
# wait. pip stays the fallback wherever uv cannot be fetched or cannot install (a private mirror
# that only pip is configured for), and `make install INSTALLER=pip` asks for it. uv does not read
# pip's configuration, so the find-links folders pip uses (where a local CPU torch wheel lies)
# are handed to it.
INSTALLER ?= uv
UV_SPEC    ?= uv==0.13.10
UV         := $(VENV)/bin/uv
FIND_LINKS ?= $(or $(PIP_FIND_LINKS),$(shell python3 -m pip config get global.find-links 2>/dev/null))
UV_PIP     := $(UV) pip install --quiet --python $(PY) $(foreach f,$(FIND_LINKS),--find-links $(f))

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	if [ "$(INSTALLER)" = uv ] && { [ -x $(UV) ] || $(PY) -m pip install --quiet "$(UV_SPEC)"; } \
	   && { $(PY) -c "import torch" 2>/dev/null || $(UV_PIP) "$(TORCH_SPEC)"; } \
	   && $(UV_PIP) -e ".[dev]"; then :; else \
	   if [ "$(INSTALLER)" = uv ]; then echo "make install: uv could not install; pip does it instead" >&2; fi; \
	   { $(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH_SPEC)"; } \
	   && $(PY) -m pip install --quiet -e ".[dev]"; fi
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
