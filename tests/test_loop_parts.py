"""Pure pieces of the SEFT loop: selection, schedule, bootstrap CI, state, shards, report."""
from __future__ import annotations

import json

import pytest

from seft.config.stages import PhaseConfig
from seft.data.shards import map_sharded, read_jsonl
from seft.data.state import ConfigMismatch, RunState, open_run_dir
from seft.evaluation.stats import bootstrap_ci, summarize
from seft.evolution.evolve import _offset, schedule
from seft.evolution.selection import select_examples
from seft.report.summary import render_report, round_axis


def _rev(i, level, final, fallback=None, prompt="p"):
    return {"id": str(i), "prompt": prompt, "draft": "d", "level": level, "final": final,
            "changed": final != "d", "fallback": fallback}


def test_selection_rules():
    revs = [_rev(0, "KEEP", "d"), _rev(1, "MINOR", "good"), _rev(2, "MAJOR", "good"),  # 2 duplicates 1
            _rev(3, None, "d", "no_tag"), _rev(4, "MAJOR", "d", "runaway"), _rev(5, "MINOR", "x" * 50),
            _rev(6, "MINOR", "  "), _rev(7, "MAJOR", "fine", prompt=[{"role": "user", "content": "p"}])]
    kept, stats = select_examples(revs, keep_levels=["KEEP", "MINOR", "MAJOR"], min_chars=1, max_chars=20,
                                  dedup=True, include_fallbacks=False)
    assert [k["id"] for k in kept] == ["0", "1", "7"]
    assert stats["dropped"] == {"duplicate": 1, "fallback_no_tag": 1, "fallback_runaway": 1,
                                "too_long": 1, "too_short": 1}
    kept, stats = select_examples(revs, keep_levels=["MAJOR"], min_chars=1, max_chars=100, dedup=False,
                                  include_fallbacks=True)
    # the no-tag fallback (3) has no level to filter on: include_fallbacks keeps it
    assert [k["id"] for k in kept] == ["2", "3", "4", "7"]
    assert kept[0] == {"id": "2", "prompt": "p", "completion": "good", "level": "MAJOR"}


def test_schedule_and_fresh_prompt_offsets():
    phases = [PhaseConfig("a", "internal", 2), PhaseConfig("b", "external", 1), PhaseConfig("c", "internal", 1)]
    rounds = schedule(phases)
    assert [p.name for p in rounds] == ["a", "a", "b", "c"]
    # internal rounds tile the prompt stream; the external round starts its own file at 0
    assert [_offset(rounds, k, p.source, 100) for k, p in enumerate(rounds, 1)] == [0, 100, 0, 200]


def test_bootstrap_ci_hand_checked():
    assert bootstrap_ci([0.5] * 10) == (0.5, 0.5)  # no spread, no interval
    lo, hi = bootstrap_ci([0.0, 1.0] * 50, seed=1)
    assert 0.39 < lo < 0.5 < hi < 0.61  # ~ mean +- 1.96 * 0.05
    s = summarize([0.0, 1.0, 1.0, 1.0])
    assert s["score"] == 0.75 and s["n"] == 4 and s["ci95"][0] <= 0.75 <= s["ci95"][1]
    with pytest.raises(ValueError):
        bootstrap_ci([])


def test_state_marks_persist(tmp_path):
    st = RunState(tmp_path / "state.json")
    assert not st.done("a")
    st.mark("a", steps=3)
    again = RunState(tmp_path / "state.json")
    assert again.done("a") and again.info("a") == {"steps": 3}


def test_two_states_of_one_folder_keep_each_others_marks(tmp_path):
    """A run and the evolution inside it hold a RunState each of the same state.json: a mark made
    through one must survive the other's next mark (the run's baselines once erased the evolution's
    `eval/base`, so the no-draft ablation evaluated the base again)."""
    run = RunState(tmp_path / "state.json")
    run.mark("reviser_train")
    evolution = RunState(tmp_path / "state.json")  # opened later, as run_evolve does
    evolution.mark("eval/base")
    evolution.mark("round_01/policy", seconds=12)
    run.mark("baseline/sft")  # through the older object
    fresh = RunState(tmp_path / "state.json")
    assert fresh.data["done"] == ["reviser_train", "eval/base", "round_01/policy", "baseline/sft"]
    assert run.done("eval/base") and run.info("round_01/policy") == {"seconds": 12}


def test_changed_config_is_refused_with_the_keys(tmp_path):
    from seft.config import load_config
    from seft.config.stages import RunConfig

    out = tmp_path / "run"
    open_run_dir(out, load_config(RunConfig, None, [f"out={out}"]), force=False).mark("x")
    with pytest.raises(ConfigMismatch, match=r"changed: testbed.seed, evolve.prompts_per_round"):
        open_run_dir(out, load_config(RunConfig, None, [f"out={out}", "testbed.seed=4",
                                                         "evolve.prompts_per_round=3"]), force=False)
    st = open_run_dir(out, load_config(RunConfig, None, [f"out={out}", "testbed.seed=4"]), force=True)
    assert not st.done("x")  # --force starts over


def test_map_sharded_resumes_at_the_missing_shard(tmp_path):
    calls = []

    def fn(chunk):
        calls.append([c["i"] for c in chunk])
        if len(calls) == 2:
            raise KeyboardInterrupt  # killed while working on the second shard
        return [{"i": c["i"], "sq": c["i"] ** 2} for c in chunk]

    items = [{"i": i} for i in range(5)]
    out = tmp_path / "x.jsonl"
    with pytest.raises(KeyboardInterrupt):
        map_sharded(out, items, fn, shard_size=2)
    assert not out.exists()
    result = map_sharded(out, items, fn, shard_size=2)
    assert calls == [[0, 1], [2, 3], [2, 3], [4]]  # shard 0 was not redone
    assert [r["sq"] for r in result] == [0, 1, 4, 9, 16] == [r["sq"] for r in read_jsonl(out)]
    assert map_sharded(out, items, fn, shard_size=2) == result and len(calls) == 4  # complete: just read


def test_report_renders_tables():
    s = {"score": 0.5, "ci95": [0.4, 0.6], "n": 10}
    better = {"score": 0.8, "ci95": [0.7, 0.9], "n": 10}
    summary = {"judge": "testbed", "sets": {"eval": {"base": s, "seft_round_1": better, "seft_final": better}}}
    rounds = [{"round": 1, "phase": "internal", "source": "internal", "drafts": 10,
               "revision": {"levels": {"KEEP": 4, "MAJOR": 6}, "changed_share": 0.6, "fallbacks": {"no_tag": 1}},
               "train_size": 9, "scores": {"eval": better}, "seconds": 12.0}]
    text = render_report(summary, rounds, None, "plots/x.png")
    assert "| seft_final | 0.800 [0.700, 0.900] |" in text
    assert "seft_final's CI is **above** base's CI" in text
    assert "| 1 | internal (internal) | 10 | 4 | 0 | 6 | 0 | 60% | 1 | 9 | 0.800 | 12 |" in text
    json.dumps(summary)


def test_accumulate_counts_every_earlier_round_once(tmp_path):
    from seft.config import load_config
    from seft.config.stages import EvolveConfig
    from seft.evolution.evolve import _select

    cfg = load_config(EvolveConfig, None, ["accumulate=true"])
    phase = PhaseConfig("internal", "internal", 3)
    sizes = []
    for k in (1, 2, 3):
        rdir = tmp_path / "rounds" / f"round_{k:02d}"
        train = _select([_rev(f"{k}-{i}", "MAJOR", f"answer {k} {i}") for i in range(2)], phase, rdir, tmp_path, k, cfg)
        sizes.append(len(train))
        assert len(read_jsonl(rdir / "selected.jsonl")) == 2  # the round's own selection
    assert sizes == [2, 4, 6]  # not 2, 4, 8: round 1 is not counted twice in round 3
    assert [e["id"] for e in train] == ["1-0", "1-1", "2-0", "2-1", "3-0", "3-1"]


def test_a_phase_sets_its_own_learning_rate_and_margin(monkeypatch, tmp_path):
    """The default external phase trains at 3e-4 and decides at margin 8; internal phases inherit."""
    import dataclasses

    from seft.config.stages import EvolveConfig
    from seft.data.state import RunState
    from seft.evolution import evolve

    ev = EvolveConfig()
    internal, external = ev.phases
    assert (internal.learning_rate, internal.keep_margin) == (None, None)
    assert (external.learning_rate, external.keep_margin) == (3e-4, 8.0)
    assert evolve.phase_revise(ev, internal).keep_margin == 1.0 and evolve.phase_revise(ev, external).keep_margin == 8.0
    seen = []

    class Result:
        metrics = {}

    monkeypatch.setattr("seft.training.sft.train_sft", lambda policy, ex, out, cfg: seen.append(cfg.learning_rate) or Result())
    ev = dataclasses.replace(ev, lr_decay_per_round=0.5)
    state = RunState(tmp_path / "state.json")
    evolve._train("p", [], tmp_path / "r1", 1, internal, ev, state)
    evolve._train("p", [], tmp_path / "r4", 4, external, ev, state)
    assert seen == [1e-3, 3e-4 * 0.5 ** 3]


def test_a_final_only_set_must_be_an_eval_set(tmp_path):
    from seft.config import load_config
    from seft.config.core import ConfigError
    from seft.config.stages import EvolveConfig
    from seft.evolution.evolve import run_evolve

    cfg = load_config(EvolveConfig, None, ["policy=p", "reviser=r", "prompts=x.jsonl", f"out={tmp_path}",
                                           "eval_sets={eval: e.jsonl}", "final_only_sets=[ifbench]"])
    with pytest.raises(ConfigError, match="final_only_sets: ifbench not in eval_sets \\(eval\\)"):
        run_evolve(cfg)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_the_score_plot_axis_is_rounds_in_order():
    s = {"score": 0.5, "ci95": [0.4, 0.6], "n": 2}
    # a final-only set listed first; ten rounds (round 10 sorts after round 9, not after round 1)
    summary = {"sets": {"ood": {"base": s, "seft_round_10": s, "seft_final": s, "sft": s},
                        "eval": {"base": s, **{f"seft_round_{k}": s for k in range(1, 11)}, "seft_final": s}}}
    assert round_axis(summary) == ["base"] + [f"seft_round_{k}" for k in range(1, 11)]
