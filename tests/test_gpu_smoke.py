"""benchmarks/gpu_smoke.py end to end on CPU (--tiny), so the GPU script does not rot between the
sessions that have a GPU. The shape folder is a tiny model with the testbed's character tokenizer
instead of SmolLM2's (which is not fetched in tests)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tiny_models import make_tiny_model_dir

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_smoke_runs_its_three_parts_on_cpu(tmp_path):
    assets = tmp_path / "assets"
    make_tiny_model_dir(assets / "smollm2-shape")
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py"), "--tiny", "--assets", str(assets),
                           "--out", str(tmp_path / "out")], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-4000:]
    out = done.stdout
    assert "| smollm2 | sft | full | seft train_sft |" in out and "| smollm2 | sft | lora | plain loop |" in out
    assert "one-pass engine, 50% KEEP" in out and "DIFFER" not in out  # the engine's outputs equal two-pass's
    assert "seft run: exit 0" in out and "| rounds/round_02/policy |" in out
    assert (tmp_path / "out" / "run" / "report.html").is_file()
