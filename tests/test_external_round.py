"""benchmarks/external_round.py: round K's SFT redone on other sets; its redo of the run's own set reproduces the run."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from test_pipeline import run_config  # noqa: F401  (the tiny end-to-end run config fixture)

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("external_round", ROOT / "benchmarks" / "external_round.py")
external_round = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(external_round)


def test_redo_of_the_external_round(run_config, tmp_path, capsys):  # noqa: F811
    from seft.cli import main

    run = tmp_path / "run"
    assert main(["run", str(run_config), "--out", str(run)]) == 0
    capsys.readouterr()
    assert external_round.main([str(run), "--eval", "--lr-scale", "1", "0.5"]) == 0
    rows = {}
    for line in capsys.readouterr().out.splitlines():
        cells = [c.strip() for c in line.split("|")[1:-1]]
        if len(cells) == 5 and cells[0] not in ("policy", "---"):
            rows.setdefault(cells[0], []).append(cells)
    assert set(rows) == {"round 2 (the run's)", "round 3 (the run's)", "run's targets", "drafts as given",
                         "perfect drafts", "round 2's targets"}
    run_score = json.loads((run / "rounds" / "round_03" / "metrics.json").read_text())["scores"]["eval"]["score"]
    # the redo with the run's own targets, learning rate and seed is the run's round 3, score for score
    assert rows["round 3 (the run's)"][0][3].startswith(f"{run_score:.3f}")
    assert rows["run's targets"][0][3] == rows["round 3 (the run's)"][0][3]
    lrs = [float(r[2]) for r in rows["drafts as given"]]  # the run's rate, then half of it
    assert lrs[1] == lrs[0] / 2 and len(rows["perfect drafts"]) == 2
    assert int(rows["round 2's targets"][0][1]) <= int(rows["run's targets"][0][1])
    # by default the policies are scored on dev, not on a reported set
    assert external_round.main([str(run)]) == 0
    assert "eval set dev (12 prompts)" in capsys.readouterr().out
