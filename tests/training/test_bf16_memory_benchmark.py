"""benchmarks/bf16_memory.py: resident memory over a training call, per precision, in processes of their own."""
from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "bf16_memory", Path(__file__).resolve().parents[2] / "benchmarks" / "bf16_memory.py")
bf16_memory = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bf16_memory)


def test_growth_row_by_hand():
    row = bf16_memory.growth_row("bf16", [(10, 2813), (50, 3447), (100, 3679)], 3790, 296.96)
    assert row == "| bf16 | 2813 (step 10) | 3679 (step 100) | +866 | 3790 | 297 |"
    assert "| -3 |" in bf16_memory.growth_row("fp32", [(10, 560), (20, 557)], 573, 1.0)


def test_rss_is_read_from_proc():
    assert 10 < bf16_memory.rss_mib() < 64 * 1024


def test_the_table_on_a_tiny_model(tiny_model_dir, capsys):
    assert bf16_memory.main(["--model", str(tiny_model_dir), "--steps", "20", "--batch", "2", "--max-length", "1024",
                             "--full", "--env", "ONEDNN_PRIMITIVE_CACHE_CAPACITY=4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| variant")]
    assert [r.split(" | ")[0] for r in rows] == ["| fp32", "| bf16", "| bf16, ONEDNN_PRIMITIVE_CACHE_CAPACITY=4"]
    for row in rows:  # first and last samples at steps 10 and 20, a positive peak and speed
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1].endswith("(step 10)") and cells[2].endswith("(step 20)")
        assert int(cells[4]) > 0 and float(cells[5]) > 0
