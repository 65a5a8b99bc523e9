"""benchmarks/if_scores.py: IFEval's four metrics from a run's stored answers, hand-worked."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("if_scores", ROOT / "benchmarks" / "if_scores.py")
if_scores = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(if_scores)

LOWER = "change_case:english_lowercase"
COMMA = "punctuation:no_comma"
QUOTE = "startend:quotation"


def _jsonl(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_four_metrics_per_model_and_set(tmp_path, capsys):
    recs = [{"id": "a", "prompt": "p", "meta": {"instruction_id_list": [LOWER, COMMA], "kwargs": [{}, {}]}},
            {"id": "b", "prompt": "p", "meta": {"instruction_id_list": [QUOTE], "kwargs": [{}]}}]
    _jsonl(tmp_path / "eval.jsonl", recs)
    run = tmp_path / "run"
    (run / "rounds" / "round_01" / "eval").mkdir(parents=True)
    (run / "config.yaml").write_text(yaml.safe_dump({"evolve": {"eval_sets": {"eval": str(tmp_path / "eval.jsonl")}}}))
    # base: a follows one of two (lowercase, but a comma); b is quoted after a first line: loose only.
    _jsonl(run / "eval" / "base" / "eval.jsonl", [{"id": "a", "response": "paris is big, and old."},
                                                  {"id": "b", "response": 'Sure:\n"Paris."'}])
    _jsonl(run / "rounds" / "round_01" / "eval" / "eval.jsonl", [{"id": "a", "response": "paris is big and old."},
                                                                 {"id": "b", "response": '"Paris."'}])
    assert if_scores.main([str(run)]) == 0
    lines = capsys.readouterr().out.splitlines()
    base = next(line for line in lines if line.startswith("| base | eval |"))
    cells = [c.strip().split(" ")[0] for c in base.split("|")[4:8]]
    # prompt strict 0/2, prompt loose 1/2 (b), inst strict (1/2 + 0)/2, inst loose (1/2 + 1)/2
    assert cells == ["0.000", "0.500", "0.250", "0.750"]
    assert "| seft_round_1 | eval | 2 of 2 | 1.000 [1.000, 1.000]" in "\n".join(lines)


def test_not_a_run(tmp_path, capsys):
    assert if_scores.main([str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
