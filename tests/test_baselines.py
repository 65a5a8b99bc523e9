"""Baselines: pair and SFT data built like the reviser's (hand-worked), and run_baseline end to end."""
from __future__ import annotations

import json

import pytest

from seft.config.core import ConfigError, load_config
from seft.config.stages import BaselineConfig
from seft.data.errors import DataError
from seft.data.schema import PreferencePair, ScoredList, ScoredResponse
from seft.runs.baselines import COST_FILE, DATA_FILE, pairs_from_records, run_baseline, sft_examples_from_records
from tiny_models import _one_torch_thread, make_tiny_model_dir  # noqa: F401  (_one_torch_thread: autouse)


def scored(texts, scores=None, ranks=None, scale=None, rid="r1"):
    n = len(texts)
    scores, ranks = scores or [None] * n, ranks or [None] * n
    return ScoredList(id=rid, prompt="Q?", scale=scale,
                      responses=[ScoredResponse(text=t, score=s, rank=r) for t, s, r in zip(texts, scores, ranks)])


def view(pairs):
    return [(p["id"], p["chosen"], p["rejected"], pytest.approx(p["gap"])) for p in pairs]


# ----------------------------------------------------------------------------- pure data
def test_ties_for_best_and_worst_pairing():
    # scores 3 9 5 9 1, observed range 8: the first 9 is the best; the other 9 is a tie (no pair);
    # gaps 6/8, 4/8, 8/8
    rec = scored(["c", "a", "b", "a2", "e"], scores=[3, 9, 5, 9, 1])
    each, stats = pairs_from_records([rec], "best_vs_each")
    assert view(each) == [("r1:1-0", "a", "c", 0.75), ("r1:1-2", "a", "b", 0.5), ("r1:1-4", "a", "e", 1.0)]
    assert stats["pairs"] == 3 and stats["prompts_used"] == 1
    worst, _ = pairs_from_records([rec])  # best_vs_worst is the default
    assert view(worst) == [("r1:1-4", "a", "e", 1.0)]
    # min_gap drops responses within that gap of the best
    assert [p["rejected"] for p in pairs_from_records([rec], "best_vs_each", min_gap=0.5)[0]] == ["c", "e"]
    # a tie for worst: the first in list order
    assert view(pairs_from_records([scored(["w1", "b", "w2"], scores=[0, 5, 0])])[0]) == [("r1:1-0", "b", "w1", 1.0)]


def test_duplicates_count_once_and_never_pair_with_themselves():
    # " best" duplicates the best (dropped); "x " duplicates "x": its first occurrence (score 2) stands
    rec = scored(["x", "best", " best", "x ", "y"], scores=[2, 8, 7, 6, 5], scale=(0, 10))
    pairs, stats = pairs_from_records([rec], "best_vs_each")
    assert view(pairs) == [("r1:1-0", "best", "x", 0.6), ("r1:1-4", "best", "y", 0.3)]
    assert stats["duplicates"] == 2
    same = PreferencePair(id="p", prompt="Q", chosen="ok", rejected=" ok ")
    pairs, stats = pairs_from_records([same])
    assert pairs == [] and stats["duplicates"] == 1 and stats["prompts_no_rejected"] == 1


def test_empty_responses_are_never_chosen_and_always_worst():
    # "" ties the best score but is empty: rejected with gap 1; "  " duplicates it
    rec = scored(["good", "", "ok", "  "], scores=[9, 9, 5, 1], scale=(0, 10))
    pairs, stats = pairs_from_records([rec], "best_vs_each")
    assert view(pairs) == [("r1:0-1", "good", "", 1.0), ("r1:0-2", "good", "ok", 0.4)]
    assert stats["empty_rejected"] == 1 and stats["duplicates"] == 1
    assert [p["rejected"] for p in pairs_from_records([rec])[0]] == [""]  # the worst
    # the only best is empty: the prompt gives nothing, even with a good second response (as for the reviser)
    dead = scored(["", "good"], scores=[10, 9], rid="dead")
    assert pairs_from_records([dead])[0] == [] and sft_examples_from_records([dead])[0] == []
    assert pairs_from_records([dead])[1]["prompts_empty_best"] == 1


def test_ranks_missing_scores_and_all_ties():
    by_rank = scored(["mid", "top", "low"], ranks=[2, 1, 3])  # gaps 0.5, 0, 1
    assert view(pairs_from_records([by_rank], "best_vs_each")[0]) == [
        ("r1:1-0", "top", "mid", 0.5), ("r1:1-2", "top", "low", 1.0)]
    partial = scored(["a", "b", "c"], scores=[5, None, 3])  # scores win; "b" is skipped
    pairs, stats = pairs_from_records([partial], "best_vs_each")
    assert view(pairs) == [("r1:0-2", "a", "c", 1.0)] and stats["skipped_missing_score"] == 1
    with pytest.raises(DataError, match="no score"):
        pairs_from_records([partial], missing_score="error")
    ties = scored(["x", "y"], scores=[4, 4], rid="ties")
    pairs, stats = pairs_from_records([ties])
    assert pairs == [] and stats["prompts_no_rejected"] == 1
    assert sft_examples_from_records([ties])[0][0]["completion"] == "x"  # SFT still has a best


def test_pair_records():
    plain = PreferencePair(id="a", prompt="Q", chosen="yes", rejected="no")  # no scores: the preference stands
    tie = PreferencePair(id="t", prompt="Q", chosen="p", rejected="q", chosen_score=7, rejected_score=7)
    wide = PreferencePair(id="w", prompt="Q", chosen="8", rejected="3", chosen_score=8, rejected_score=3)
    empty_chosen = PreferencePair(id="e", prompt="Q", chosen=" ", rejected="r")
    empty_rejected = PreferencePair(id="r", prompt="Q", chosen="c", rejected="")
    recs = [plain, tie, wide, empty_chosen, empty_rejected]
    pairs, stats = pairs_from_records(recs, pair_scale=(1, 10))
    assert view(pairs) == [("a:0-1", "yes", "no", 1.0), ("w:0-1", "8", "3", 5 / 9), ("r:0-1", "c", "", 1.0)]
    assert stats["prompts_no_rejected"] == 1 and stats["prompts_empty_best"] == 1
    assert [p["id"] for p in pairs_from_records(recs, pair_scale=(1, 10), min_gap=0.6)[0]] == ["a:0-1", "r:0-1"]
    examples, stats = sft_examples_from_records(recs)
    assert [(e["id"], e["completion"]) for e in examples] == [("a:0", "yes"), ("t:0", "p"), ("w:0", "8"), ("r:0", "c")]
    assert stats["examples"] == 4 and stats["prompts_empty_best"] == 1
    with pytest.raises(ValueError, match="mode"):
        pairs_from_records(recs, "all_pairs")


def test_config_requires_data_model_and_out(tmp_path):
    cfg = load_config(BaselineConfig, None, ["method=orpo", "pair_mode=best_vs_each", "train.lora=true"])
    assert cfg.method == "orpo" and cfg.train.lora and cfg.beta == 0.1
    with pytest.raises(ConfigError, match="preferences"):
        run_baseline(cfg)
    with pytest.raises(ConfigError, match="best_vs_worst"):
        load_config(BaselineConfig, None, ["pair_mode=worst"])


# ----------------------------------------------------------------------------- end to end
@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(scope="module")
def scored_jsonl(tmp_path_factory):
    """12 prompts, 4 scored responses each (one empty), plus one all-tie prompt."""
    rows = []
    for i, (a, b) in enumerate(zip("abcdefghijkl", "lkjihgfedcba")):
        rows.append({"id": f"s{i}", "prompt": f"x: {a}{b}", "scale": [0, 1],
                     "responses": [{"text": f"{a}{a}", "score": 0.5}, {"text": f"{b}{a}", "score": 1.0},
                                   {"text": "", "score": 0.0}, {"text": f"{a}", "score": 0.2}]})
    rows.append({"id": "tie", "prompt": "x: zz", "responses": [{"text": "zz", "score": 1}, {"text": "z", "score": 1}]})
    path = tmp_path_factory.mktemp("data") / "prefs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("method, pair_mode, examples, per_example", [
    ("sft", "best_vs_worst", 13, 1), ("dpo", "best_vs_worst", 12, 4), ("orpo", "best_vs_each", 36, 2)])
def test_run_baseline_writes_model_and_cost(tiny_base, scored_jsonl, tmp_path, method, pair_mode, examples, per_example):
    out = tmp_path / method
    cfg = load_config(BaselineConfig, None, [
        f"method={method}", f"preferences={scored_jsonl}", f"base_model={tiny_base}", f"out={out}",
        f"pair_mode={pair_mode}", "beta=0.5", "train.max_steps=2", "train.batch_size=4", "train.max_length=64",
        "train.logging_steps=1"])
    assert run_baseline(cfg) == out
    cost = json.loads((out / COST_FILE).read_text())
    assert cost["method"] == method and cost["optimizer_steps"] == 2 and cost["examples"] == examples
    # 2 steps x 4 examples; a pair is 2 sequences, and DPO runs them through the reference too
    assert cost["forward_passes"] == 2 * 4 * per_example
    assert cost["tokens"] > 0 and cost["wall_seconds"] > 0
    assert cost["data"]["records"] == 13 and cost["data"]["kind"] == "scored"
    assert (out / "model.safetensors").is_file() and (out / "train_metrics.json").is_file()
    data = [json.loads(line) for line in (out / DATA_FILE).read_text().splitlines()]
    assert len(data) == examples
    if method == "dpo":  # the worst of each list is its empty response
        assert {d["rejected"] for d in data} == {""} and cost["reference_forward_passes"] == 2 * 4 * 2
    from seft.models.loading import load_model_and_tokenizer

    load_model_and_tokenizer(out)
