"""``seft run``: the whole pipeline into one self-describing, resumable run directory.

testbed -> reviser data -> reviser training -> evolution rounds -> [baselines] -> summary -> report.
Settings left empty are wired here: the testbed's files feed the stages, and every stage writes
under the run directory. Each stage is skipped when ``state.json`` says it is complete.
"""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from .baselines import run_baseline
from .config.core import ConfigError
from .config.stages import BaselineConfig, RunConfig
from .evaluation.runner import evaluate_model
from .data.io import atomic_write_json
from .evolve import _ModelCache, run_evolve, schedule
from .experiments import run_seeds, scaling_points, scaling_runs, sweep_baselines
from .reviser.data import run_reviser_data
from .reviser.train import run_reviser_train
from .state import open_run_dir
from .testbed.build import run_testbed_build

__all__ = ["run_pipeline", "resolve_paths", "baseline_config", "BASELINE_METHODS"]

BASELINE_METHODS = ("sft", "dpo", "orpo")

log = logging.getLogger(__name__)


def resolve_paths(cfg: RunConfig, testbed: Path | None) -> RunConfig:
    """Fill every empty path of the stage configs from the run directory and the testbed, and every
    training section's empty ``launcher`` from the run's."""
    out = Path(cfg.out)
    rd, rt, ev = cfg.reviser_data, cfg.reviser_train, cfg.evolve

    def pick(value, default):
        return value if value is not None else (str(default) if default is not None else None)

    def launched(train):  # the run's launcher for every training section that names none
        return dataclasses.replace(train, launcher=pick(train.launcher, cfg.launcher))

    tb = (lambda name: testbed / name) if testbed else (lambda name: None)
    rd = dataclasses.replace(rd, preferences=pick(rd.preferences, tb("preferences.jsonl")),
                             out=pick(rd.out, out / "reviser" / "data.jsonl"))
    rt = dataclasses.replace(rt, data=pick(rt.data, rd.out), base_model=pick(rt.base_model, tb("base_policy")),
                             out=pick(rt.out, out / "reviser" / "model"), train=launched(rt.train))
    eval_sets = ev.eval_sets or ({"eval": str(testbed / "eval.jsonl"), "eval_ood": str(testbed / "eval_ood.jsonl")}
                                 if testbed else {})
    ev = dataclasses.replace(
        ev, policy=pick(ev.policy, tb("base_policy")), reviser=pick(ev.reviser, rt.out),
        prompts=pick(ev.prompts, f"testbed:{testbed}" if testbed else None),
        external=pick(ev.external, tb("external.jsonl")), eval_sets=eval_sets, out=pick(ev.out, out),
        # One source of truth for tags and template: the reviser learned the data stage's.
        revise=dataclasses.replace(ev.revise, tags=dict(rd.tags), template=rd.template), train=launched(ev.train))
    return dataclasses.replace(cfg, reviser_data=rd, reviser_train=rt, evolve=ev,
                               sweep_set=pick(cfg.sweep_set, tb("dev.jsonl")), baseline_train=launched(cfg.baseline_train))


def _uses_testbed(cfg: RunConfig) -> bool:
    ev = cfg.evolve
    return None in (cfg.reviser_data.preferences, cfg.reviser_train.base_model, ev.policy, ev.prompts) or \
        not ev.eval_sets or (bool(cfg.baseline_lr_sweep) and cfg.sweep_set is None) or \
        (ev.external is None and any(p.source == "external" for p in schedule(ev.phases)))


def run_pipeline(cfg: RunConfig) -> Path:
    out = Path(cfg.out)
    if cfg.with_baselines:  # fail before hours of training, not after
        bad = [m for m in cfg.baselines if m not in BASELINE_METHODS]
        if bad or len(set(cfg.baselines)) != len(cfg.baselines):
            raise ConfigError(f"baselines: expected distinct methods from {list(BASELINE_METHODS)}, got {cfg.baselines}")
        unknown = sorted(set(cfg.baseline_learning_rates) - set(cfg.baselines))
        if unknown:
            raise ConfigError(f"baseline_learning_rates: {unknown} not among baselines {cfg.baselines}")
    if cfg.seeds > 1:
        return run_seeds(cfg)
    state = open_run_dir(out, cfg, force=cfg.force)
    if state.done("complete"):
        log.info("%s is complete; nothing to do (use --force to start over)", out)
        return out
    testbed = run_testbed_build(cfg.testbed) if _uses_testbed(cfg) else None
    cfg = resolve_paths(cfg, testbed)
    if not state.done("reviser_data"):
        run_reviser_data(cfg.reviser_data)
        state.mark("reviser_data")
    if not state.done("reviser_train"):
        run_reviser_train(cfg.reviser_train)
        state.mark("reviser_train")
    run_evolve(cfg.evolve)
    scaling = scaling_runs(cfg)
    baselines = _run_baselines(cfg, state) if cfg.with_baselines else {}
    from .report.summary import collect_rounds, write_report, write_summary

    summary = write_summary(out, cfg.evolve)
    if baselines:
        summary = _with_baselines(out, summary, baselines)
    if scaling:
        summary["scaling"] = scaling_points(cfg, collect_rounds(out), scaling)
        atomic_write_json(out / "eval" / "summary.json", summary)
    # The testbed's line (its base policy's size and score) belongs in the report only when that
    # policy is the one evolved, not when a real model is (configs/smollm2-testbed.yaml).
    uses_base = testbed is not None and Path(cfg.evolve.policy) == testbed / "base_policy"
    write_report(out, summary, testbed if uses_base else None)
    state.mark("complete")
    log.info("run complete: %s", out / "report.md")
    return out


def baseline_config(cfg: RunConfig, method: str, *, learning_rate: float | None = None,
                    out: Path | None = None) -> BaselineConfig:
    """A baseline of a resolved run: the base policy SEFT evolves from, the reviser's preference
    file read exactly as the reviser's data stage read it, output in RUN/baselines/<method>/.
    The learning rate: ``learning_rate``, else the method's entry in baseline_learning_rates, else
    baseline_train's."""
    rd = cfg.reviser_data
    lr = learning_rate or cfg.baseline_learning_rates.get(method, cfg.baseline_train.learning_rate)
    return BaselineConfig(method=method, preferences=rd.preferences, format=rd.format,
                          on_bad_record=rd.on_bad_record, base_model=cfg.evolve.policy,
                          out=str(out or Path(cfg.out) / "baselines" / method),
                          train=dataclasses.replace(cfg.baseline_train, learning_rate=lr),
                          missing_score=rd.missing_score, pair_scale=rd.pair_scale)


def _run_baselines(cfg: RunConfig, state) -> dict[str, dict]:
    """Train (one state unit each, skipped when done) and evaluate every baseline: {method: scores}."""
    out, models, scores = Path(cfg.out), _ModelCache(), {}
    if cfg.baseline_lr_sweep:  # leaves each method's chosen model in RUN/baselines/<method>/
        sweep_baselines(cfg, state, models)
    for method in cfg.baselines:
        unit = f"baseline/{method}"
        bcfg = baseline_config(cfg, method)
        if not state.done(unit):
            run_baseline(bcfg)
            state.mark(unit)
        # evaluate_model is its own unit (eval/<method>), so a kill between the two redoes neither
        scores[method] = evaluate_model(method, bcfg.out, cfg.evolve, out / "eval" / method, state, models)
        models.forget(bcfg.out)
    return scores


def _with_baselines(out: Path, summary: dict, baselines: dict[str, dict]) -> dict:
    """Add the baselines to eval/summary.json under their method names, after the contract keys
    (base, seft_round_k, seft_final)."""
    for method, per_set in baselines.items():
        for set_name, s in per_set.items():
            summary["sets"][set_name][method] = s
    atomic_write_json(out / "eval" / "summary.json", summary)
    return summary
