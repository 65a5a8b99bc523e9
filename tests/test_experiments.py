"""Seeds, the baselines' learning-rate sweep and the data-scaling curve: pure pieces with
hand-worked values, then one tiny end-to-end `seft run --seeds 2` with all three."""
from __future__ import annotations

import csv
import json

import pytest
import yaml

from seft.config.core import ConfigError, from_dict, to_dict
from seft.config.stages import RunConfig
from seft.report.experiments import aggregate_scaling, render_scaling, render_sweep
from seft.runs.scaling import scaling_points
from seft.runs.seeds import seeded
from test_pipeline import run_config  # noqa: F401  (the tiny end-to-end run config fixture)


def test_seeded_shifts_every_training_and_sampling_seed_but_not_the_testbed():
    cfg = seeded(from_dict(RunConfig, {"evolve": {"draft": {"seed": 5}}}), 2)
    assert cfg.reviser_data.seed == 2 and cfg.reviser_train.train.seed == 2 and cfg.baseline_train.seed == 2
    assert cfg.evolve.draft.seed == 7 and cfg.evolve.train.seed == 2 and cfg.evolve.revise.generation.seed == 2
    assert cfg.testbed.seed == 0
    # everything else is untouched: only keys ending in "seed" differ
    a, b = to_dict(RunConfig()), to_dict(seeded(RunConfig(), 3))
    flat = lambda d, p="": {k2: v2 for k, v in d.items() for k2, v2 in  # noqa: E731
                            (flat(v, f"{p}{k}.").items() if isinstance(v, dict) else [(f"{p}{k}", v)])}
    fa, fb = flat(a), flat(b)
    assert {k for k in fa if fa[k] != fb[k]} == {"reviser_data.seed", "reviser_train.train.seed", "evolve.draft.seed",
                                                   "evolve.train.seed", "evolve.revise.generation.seed",
                                                   "baseline_train.seed"}


@pytest.mark.parametrize("settings, message", [
    ({"baseline_lr_sweep": [1e-3]}, "with_baselines is false"),
    ({"with_baselines": True, "baseline_lr_sweep": [1e-3, 1e-3]}, "distinct positive"),
    ({"with_baselines": True, "baseline_lr_sweep": [0.0]}, "distinct positive"),
    ({"scaling": [512, 2048]}, "already a point"),
    ({"scaling": [0]}, "distinct positive"),
    ({"seeds": 0}, "below the minimum"),
])
def test_run_config_rejects_bad_experiment_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(RunConfig, settings)


def _s(score, lo=None, hi=None):
    return {"score": score, "ci95": [lo if lo is not None else score - 0.1, hi if hi is not None else score + 0.1], "n": 10}


def test_aggregate_scaling_means_and_t_intervals_across_runs():
    run = lambda a, b: {"internal_rounds": 2, "points": [  # noqa: E731
        {"prompts_per_round": 4, "prompts": 8, "sets": {"eval": _s(a)}},
        {"prompts_per_round": 16, "prompts": 32, "sets": {"eval": _s(b)}}]}
    one = aggregate_scaling([run(0.4, 0.6)])
    assert [(p["prompts"], p["multiple"], p["runs"]) for p in one] == [(8, 1.0, 1), (32, 4.0, 1)]
    assert one[0]["score_ci95"] == [pytest.approx(0.3), pytest.approx(0.5)]  # one run keeps its bootstrap CI
    two = aggregate_scaling([run(0.4, 0.6), run(0.6, 0.6)])
    # mean 0.5, sd 0.141421, t_{0.975,1} = 12.706: half width 12.706 * 0.141421 / sqrt(2) = 1.2706
    assert two[0]["score"] == 0.5 and two[0]["score_ci95"] == pytest.approx([-0.7706, 1.7706])
    assert two[1]["score"] == 0.6 and two[1]["score_ci95"] == pytest.approx([0.6, 0.6])
    lines = render_scaling(two, {"eval": 0.3}, 2)
    assert "| 8 (1x) | 4 | 2 | 0.500 [-0.771, 1.771] |" in lines and "| 32 (4x) | 16 | 2 | 0.600 [0.600, 0.600] |" in lines
    assert aggregate_scaling([]) == []


def test_scaling_points_take_the_last_internal_round(tmp_path):
    cfg = from_dict(RunConfig, {"evolve": {"prompts_per_round": 16}, "scaling": [4]})
    main = [{"round": 1, "source": "internal", "scores": {"eval": _s(0.4)}},
            {"round": 2, "source": "internal", "scores": {"eval": _s(0.5)}},
            {"round": 3, "source": "internal", "scores": {"eval": _s(0.55)}},
            {"round": 4, "source": "external", "scores": {"eval": _s(0.1)}}]
    small = tmp_path / "ppr_4"
    for k, score in ((1, 0.3), (2, 0.32), (3, 0.35)):
        (small / "rounds" / f"round_{k:02d}").mkdir(parents=True)
        (small / "rounds" / f"round_{k:02d}" / "metrics.json").write_text(
            json.dumps({"round": k, "source": "internal", "scores": {"eval": _s(score)}}))
    pts = scaling_points(cfg, main, [(4, small)])
    assert pts["internal_rounds"] == 3
    assert [(p["prompts_per_round"], p["prompts"], p["sets"]["eval"]["score"]) for p in pts["points"]] == \
        [(4, 12, 0.35), (16, 48, 0.55)]


def test_render_sweep_marks_the_chosen_setting():
    lines = render_sweep({"set": "/x/dev.jsonl", "learning_rates": [1e-4, 1e-3], "betas": [0.1], "pair_modes": [],
                          "scores": {"dpo": {"lr_0.0001_beta_0.1": 0.41, "lr_0.001_beta_0.1": 0.3}},
                          "chosen_tags": {"dpo": "lr_0.0001_beta_0.1"}})
    assert "| dpo | **lr_0.0001_beta_0.1** | **0.410** |" in lines and "| dpo | lr_0.001_beta_0.1 | 0.300 |" in lines
    assert any("`dev.jsonl`" in line and "betas 0.1" in line for line in lines)


def test_sweep_grid_crosses_the_axes_a_method_has():
    from seft.config.stages import RunConfig
    from seft.runs.baseline_runs import baseline_config, setting_tag, sweep_grid

    cfg = RunConfig(out="/r", with_baselines=True, baseline_lr_sweep=[1e-3, 3e-3], baseline_beta_sweep=[0.1, 0.5],
                    baseline_pair_mode_sweep=["best_vs_each"])
    assert sweep_grid(cfg, "sft") == [{"learning_rate": 1e-3}, {"learning_rate": 3e-3}]
    dpo = sweep_grid(cfg, "dpo")
    assert len(dpo) == 4 and {setting_tag(g) for g in dpo} == {
        "lr_0.001_beta_0.1_best_vs_each", "lr_0.001_beta_0.5_best_vs_each",
        "lr_0.003_beta_0.1_best_vs_each", "lr_0.003_beta_0.5_best_vs_each"}
    assert sweep_grid(RunConfig(with_baselines=True), "dpo") == [{}] and setting_tag({}) == "default"
    cfg = RunConfig(out="/r", evolve=RunConfig().evolve, baseline_learning_rates={"dpo": 1e-4},
                    baseline_choices={"sft+dpo": {"learning_rate": 2e-4, "beta": 0.5}})
    b = baseline_config(cfg, "sft+dpo")  # DPO from the sft baseline, with the chosen settings
    assert (b.method, b.base_model, b.out, b.train.learning_rate, b.beta) == ("dpo", "/r/baselines/sft",
                                                                           "/r/baselines/sft+dpo", 2e-4, 0.5)
    assert baseline_config(cfg, "dpo").train.learning_rate == 1e-4
    assert baseline_config(cfg, "dpo", setting={"pair_mode": "best_vs_each"}).pair_mode == "best_vs_each"


def test_sft_dpo_needs_sft_before_it():
    from seft.config.core import ConfigError
    from seft.config.stages import RunConfig
    from seft.runs.baseline_runs import check_baselines

    check_baselines(RunConfig(with_baselines=True, baselines=["sft", "sft+dpo"]))
    with pytest.raises(ConfigError, match="list sft before it"):
        check_baselines(RunConfig(with_baselines=True, baselines=["sft+dpo", "sft"]))
    with pytest.raises(ConfigError, match="not among baselines"):
        check_baselines(RunConfig(with_baselines=True, baselines=["sft"], baseline_choices={"dpo": {"beta": 1.0}}))


def test_seeds_sweep_and_scaling_end_to_end(run_config, tmp_path):  # noqa: F811
    from seft.cli import main

    conf = yaml.safe_load(run_config.read_text())
    conf["evolve"]["phases"] = [{"name": "internal", "source": "internal", "rounds": 1}]
    conf.update(with_baselines=True, baselines=["sft"], baseline_train={"epochs": 1.0, "batch_size": 8},
                baseline_lr_sweep=[1e-3, 1e-2], scaling=[8])
    run_config.write_text(yaml.safe_dump(conf))
    out = tmp_path / "exp"
    assert main(["run", str(run_config), "--out", str(out), "--seeds", "2"]) == 0

    sweep = json.loads((out / "seed_0" / "sweep" / "sweep.json").read_text())
    scores = sweep["scores"]["sft"]
    assert set(scores) == {"lr_0.001", "lr_0.01"}
    assert sweep["chosen"]["sft"] == {"learning_rate": max((1e-3, 1e-2), key=lambda x: scores[f"lr_{x:g}"])}
    assert sweep["set"].endswith("dev.jsonl")
    # the chosen model is the row: a copy of the sweep's winner, not a retrained one
    winner = out / "seed_0" / "sweep" / "sft" / sweep["chosen_tags"]["sft"]
    assert (out / "seed_0" / "baselines" / "sft" / "model.safetensors").read_bytes() == \
        (winner / "model.safetensors").read_bytes()
    # the second seed trained once, at the first seed's choice, and swept nothing
    seed1 = yaml.safe_load((out / "seed_1" / "config.yaml").read_text())
    assert seed1["baseline_lr_sweep"] == [] and seed1["baseline_choices"] == {"sft": sweep["chosen"]["sft"]}
    assert seed1["evolve"]["train"]["seed"] == 1 and not (out / "seed_1" / "sweep").exists()
    assert json.loads((out / "seed_1" / "baselines" / "sft" / "train_metrics.json").read_text())  # trained

    for k in (0, 1):
        s = json.loads((out / f"seed_{k}" / "eval" / "summary.json").read_text())
        assert [p["prompts"] for p in s["scaling"]["points"]] == [8, 16]
        assert (out / f"seed_{k}" / "scaling" / "ppr_8" / "rounds" / "round_01" / "metrics.json").exists()
        # the scaling point starts from the run's own evaluation of the base policy, adopted, not redone
        state = json.loads((out / f"seed_{k}" / "scaling" / "ppr_8" / "state.json").read_text())
        assert state["info"]["eval/base"]["adopted_from"] == str(out / f"seed_{k}" / "eval" / "base")
        assert (out / f"seed_{k}" / "scaling" / "ppr_8" / "eval" / "base" / "eval.jsonl").read_text() == \
            (out / f"seed_{k}" / "eval" / "base" / "eval.jsonl").read_text()
    rows = list(csv.DictReader((out / "compare" / "compare.csv").open()))
    assert {r["runs"] for r in rows} == {"2"} and {r["model"] for r in rows} >= {"base", "sft", "seft_final"}
    curve = list(csv.DictReader((out / "compare" / "scaling.csv").open()))
    assert [(c["prompts"], c["multiple"], c["runs"]) for c in curve if c["set"] == "eval"] == \
        [("8", "1.0", "2"), ("16", "2.0", "2")]
    md = (out / "compare" / "compare.md").read_text()
    assert "## Data scaling" in md and "## Baselines' sweep" in md
    assert (out / "compare" / "scaling.png").stat().st_size > 1000
    # a rerun finds every seed complete and changes nothing
    before = (out / "compare" / "compare.csv").read_text()
    assert main(["run", str(run_config), "--out", str(out), "--seeds", "2"]) == 0
    assert (out / "compare" / "compare.csv").read_text() == before
