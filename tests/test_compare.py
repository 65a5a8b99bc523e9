"""``seft compare`` and ``seft run --set with_baselines=true``: pure row helpers on hand-made
summaries and answers, then one tiny end-to-end run with baselines compared."""
from __future__ import annotations

import csv
import json

import pytest
import yaml

from seft.config.stages import CompareConfig
from seft.report.compare import aggregate_runs, t_interval, write_compare
from seft.runs.compare import baseline_cost, model_rows, pairwise_vs_base, run_compare, seft_cost
from test_pipeline import run_config  # noqa: F401,F811  (the tiny end-to-end run config fixture)

ROUNDS = [{"round": 1, "source": "internal", "drafts": 10, "train": {"wall_seconds": 2.0, "forward_passes": 30}},
          {"round": 2, "source": "internal", "drafts": 10, "train": {"wall_seconds": 3.0, "forward_passes": 30}},
          {"round": 3, "source": "external", "drafts": 4, "train": {"wall_seconds": 1.0, "forward_passes": 12}}]
MODELS = ["base", "seft_round_1", "seft_round_2", "seft_round_3", "seft_final", "sft", "dpo"]


def test_model_rows_internal_then_external():
    assert model_rows(MODELS, ROUNDS) == [
        ("base", "base", None), ("sft", "sft", None), ("dpo", "dpo", None),
        ("seft_internal_only", "seft_round_2", 2), ("seft_internal_external", "seft_final", 3),
        ("seft_final", "seft_final", 3)]
    with_rounds = [r[0] for r in model_rows(MODELS, ROUNDS, include_rounds=True)]
    assert with_rounds[3:6] == ["seft_round_1", "seft_round_2", "seft_round_3"]


def test_model_rows_internal_only_and_external_only():
    internal = ROUNDS[:2]
    assert model_rows(["base", "seft_round_1", "seft_round_2", "seft_final"], internal) == [
        ("base", "base", None), ("seft_internal_only", "seft_round_2", 2), ("seft_final", "seft_final", 2)]
    external = [dict(ROUNDS[2], round=1)]
    assert [r[0] for r in model_rows(["base", "seft_round_1", "seft_final"], external)] == [
        "base", "seft_internal_external", "seft_final"]
    assert model_rows(["base"], []) == [("base", "base", None)]


def test_model_rows_of_a_final_only_set():
    # a set in final_only_sets: no score for round 2, so no internal-only row and no round rows
    models = ["base", "seft_round_3", "seft_final", "sft"]
    assert model_rows(models, ROUNDS, include_rounds=True) == [
        ("base", "base", None), ("sft", "sft", None), ("seft_round_3", "seft_round_3", 3),
        ("seft_internal_external", "seft_final", 3), ("seft_final", "seft_final", 3)]


def _by_text(records, a, b):
    # "good" beats anything else; equal quality ties (the testbed judge's score comparison, by hand)
    q = lambda s: s.startswith("good")  # noqa: E731
    return [0.5 if q(x) == q(y) else float(q(x)) for x, y in zip(a, b)]


def test_pairwise_vs_base_matches_by_id():
    records = [{"id": f"p{i}", "prompt": "x"} for i in range(5)]
    base = [{"id": f"p{i}", "response": "bad"} for i in range(5)]
    # shuffled order, p4 missing: 2 wins (p0, p1), 1 loss? none; p2, p3 tie
    answers = [{"id": "p3", "response": "bad"}, {"id": "p0", "response": "good!"},
               {"id": "p2", "response": "bad"}, {"id": "p1", "response": "good"}]
    r = pairwise_vs_base(records, answers, base, _by_text)
    assert r["n_pairs"] == 4 and r["win_rate"] == pytest.approx((1 + 1 + 0.5 + 0.5) / 4)
    assert r["mean_length"] == pytest.approx((5 + 4 + 3 + 3) / 4)
    assert 0.0 <= r["lc_win_rate"] <= 1.0 and r["win_rate_ci95"][0] <= r["win_rate"] <= r["win_rate_ci95"][1]
    with pytest.raises(ValueError, match="no prompt"):
        pairwise_vs_base(records, [{"id": "zz", "response": "good"}], base, _by_text)


def test_costs():
    reviser = {"wall_seconds": 10.0, "forward_passes": 100}
    assert seft_cost(reviser, ROUNDS, 2) == {"train_seconds": 15.0, "train_forward_passes": 160, "gen_sequences": 40}
    # the external round's drafts are given, only their revisions are generated
    assert seft_cost(reviser, ROUNDS, 3) == {"train_seconds": 16.0, "train_forward_passes": 172, "gen_sequences": 44}
    assert baseline_cost({"wall_seconds": 4.5, "forward_passes": 96}) == {
        "train_seconds": 4.5, "train_forward_passes": 96, "gen_sequences": 0}


def _row(model, score, run="r", set_name="eval"):
    return {"run": run, "model": model, "set": set_name, "score": score, "score_ci95": [score - 0.1, score + 0.1],
            "n": 8, "win_rate": score, "win_rate_ci95": [0.0, 1.0], "lc_win_rate": score, "lc_win_rate_ci95": [0.0, 1.0],
            "mean_length": 10.0, "n_pairs": 8, "train_seconds": 2.0, "train_forward_passes": 10, "gen_sequences": 0}


def test_aggregate_one_run_keeps_its_intervals_several_use_t():
    one = aggregate_runs([[_row("base", 0.4), _row("sft", 0.6)]])
    assert [r["model"] for r in one] == ["base", "sft"] and one[0]["score_ci95"] == [pytest.approx(0.3), 0.5]
    two = aggregate_runs([[_row("base", 0.4)], [_row("base", 0.6)]])[0]
    # mean 0.5, sd 0.141421, half width 12.706 * sd / sqrt(2) = 1.2706
    assert two["runs"] == 2 and two["score"] == 0.5 and two["score_ci95"] == pytest.approx([-0.7706, 1.7706])
    assert t_interval([1.0, 1.0, 1.0]) == [1.0, 1.0]
    with pytest.raises(ValueError):
        t_interval([1.0])


def test_write_compare_files(tmp_path):
    rows = [[_row("base", 0.4), _row("seft_final", 0.7), _row("base", 0.3, set_name="eval_ood")]]
    write_compare(tmp_path, rows)
    md = (tmp_path / "compare.md").read_text()
    assert "## eval" in md and "## eval_ood" in md and "| seft_final | 1 | 0.700 [0.600, 0.800] |" in md
    table = list(csv.DictReader((tmp_path / "compare.csv").open()))
    assert len(table) == 3 and float(table[1]["score_hi"]) == pytest.approx(0.8)
    assert (tmp_path / "compare.png").stat().st_size > 1000


TINY_TRAIN = {"epochs": 1.0, "batch_size": 8, "logging_steps": 2}


def test_run_with_baselines_then_compare(run_config, tmp_path):  # noqa: F811
    from seft.cli import main

    conf = yaml.safe_load(run_config.read_text())
    conf["evolve"]["phases"] = [{"name": "internal", "source": "internal", "rounds": 1},
                                {"name": "external", "source": "external", "rounds": 1}]
    conf.update(with_baselines=True, baselines=["sft", "dpo"], baseline_train=TINY_TRAIN)
    run_config.write_text(yaml.safe_dump(conf))
    out = tmp_path / "run"
    assert main(["run", str(run_config), "--out", str(out)]) == 0
    s = json.loads((out / "eval" / "summary.json").read_text())
    for models in s["sets"].values():
        assert list(models) == ["base", "seft_round_1", "seft_round_2", "seft_final", "sft", "dpo"]
    for method in ("sft", "dpo"):
        assert (out / "baselines" / method / "cost.json").exists() and (out / "eval" / method / "eval.jsonl").exists()
    state = json.loads((out / "state.json").read_text())["done"]
    assert {"baseline/sft", "baseline/dpo", "eval/sft", "eval/dpo", "complete"} <= set(state)
    assert "| sft |" in (out / "report.md").read_text()

    res = run_compare(CompareConfig(runs=[str(out)]))
    assert res == out / "compare"
    table = list(csv.DictReader((res / "compare.csv").open()))
    assert [r["model"] for r in table if r["set"] == "eval"] == [
        "base", "sft", "dpo", "seft_internal_only", "seft_internal_external", "seft_final"]
    by = {(r["model"], r["set"]): r for r in table}
    assert float(by["base", "eval"]["win_rate"]) == 0.5 and float(by["base", "eval"]["train_forward_passes"]) == 0
    assert float(by["seft_final", "eval"]["score"]) == s["sets"]["eval"]["seft_final"]["score"]
    assert float(by["sft", "eval"]["train_forward_passes"]) > 0 and float(by["sft", "eval"]["gen_sequences"]) == 0
    # SEFT up to round 2 costs more than up to round 1: one more round of training and revisions
    assert float(by["seft_final", "eval"]["gen_sequences"]) > float(by["seft_internal_only", "eval"]["gen_sequences"])
    assert (res / "compare.png").stat().st_size > 1000 and "seft_internal_external" in (res / "compare.md").read_text()
    page = (res / "report.html").read_text()  # compare.md as a self-contained page, its chart inlined
    assert "<h1>SEFT comparison</h1>" in page and "seft_internal_external" in page and "data:image/png" in page

    # two copies of the run = two "seeds": identical values give a zero-width t-interval
    two = run_compare(CompareConfig(runs=[str(out), str(out)], out=str(tmp_path / "cmp2")))
    rows = list(csv.DictReader((two / "compare.csv").open()))
    assert all(r["runs"] == "2" and r["ci"] == "runs_t" and float(r["score_lo"]) == pytest.approx(float(r["score"]))
               for r in rows)
