"""One complete run (one seed) into one self-describing, resumable run directory.

testbed -> reviser data -> reviser training -> evolution rounds -> [baselines] -> summary -> report.
Settings left empty are wired here: the testbed's files feed the stages, and every stage writes
under the run directory. Each stage is skipped when ``state.json`` says it is complete.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from ..config.stages import RunConfig
from ..data.io import atomic_write_json
from ..data.state import open_run_dir
from ..evolution.evolve import adopt_base_evaluation, run_evolve, schedule
from ..reviser.data import run_reviser_data
from ..reviser.train import run_reviser_train
from ..tracking import log_metrics, stage_name
from ..worlds.build import build_world
from .baseline_runs import NO_DRAFTS, run_baselines
from .calibration import apply_margins, read_calibration, run_calibration
from .scaling import scaling_points, scaling_runs

__all__ = ["IF_JUDGE", "resolve_paths", "run_single", "uses_testbed"]

IF_JUDGE = "seft.worlds.scoring:strict"  # the IF world's judge when a config names none

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

    track = cfg.tracking
    track = dataclasses.replace(track, name=track.name or out.name, dir=pick(track.dir, out / "tracking"))

    def tracked(train, stage: str | None):  # every training call logs into the run's tracker, named by stage
        return dataclasses.replace(train, tracking=dataclasses.replace(track, stage=stage_name(track.stage, stage) or None))

    tb = (lambda name: testbed / name) if testbed else (lambda name: None)
    # The IF world has no policy of its own: its base model wrote the preference set's answers.
    world_policy = tb("base_policy") if cfg.testbed.world == "testbed" else (cfg.testbed.if_world.base_model if testbed else None)
    judge = ev.judge
    if testbed and cfg.testbed.world == "if" and judge.kind == "testbed":  # the world's own scorer
        judge = dataclasses.replace(judge, kind="python", function=IF_JUDGE)
    rd = dataclasses.replace(rd, preferences=pick(rd.preferences, tb("preferences.jsonl")),
                             out=pick(rd.out, out / "reviser" / "data.jsonl"))
    rt = dataclasses.replace(rt, data=pick(rt.data, rd.out), base_model=pick(rt.base_model, world_policy),
                             out=pick(rt.out, out / "reviser" / "model"), train=tracked(launched(rt.train), "reviser"))
    eval_sets = ev.eval_sets or ({"eval": str(testbed / "eval.jsonl"), "eval_ood": str(testbed / "eval_ood.jsonl")}
                                 if testbed else {})
    ev = dataclasses.replace(
        ev, policy=pick(ev.policy, world_policy), reviser=pick(ev.reviser, rt.out), judge=judge,
        prompts=pick(ev.prompts, f"testbed:{testbed}" if testbed else None),
        external=pick(ev.external, tb("external.jsonl")), eval_sets=eval_sets, out=pick(ev.out, out),
        # One source of truth for tags and template: the reviser learned the data stage's.
        revise=dataclasses.replace(ev.revise, tags=dict(rd.tags), template=rd.template, show_draft=rd.show_draft),
        train=tracked(launched(ev.train), None))  # the rounds add round_KK (evolve.py)
    return dataclasses.replace(cfg, reviser_data=rd, reviser_train=rt, evolve=ev, tracking=track,
                               sweep_set=pick(cfg.sweep_set, tb("dev.jsonl")),
                               baseline_train=tracked(launched(cfg.baseline_train), "baseline"))


def uses_testbed(cfg: RunConfig) -> bool:
    ev = cfg.evolve
    return None in (cfg.reviser_data.preferences, cfg.reviser_train.base_model, ev.policy, ev.prompts) or \
        not ev.eval_sets or (bool(cfg.baseline_lr_sweep) and cfg.sweep_set is None) or \
        (ev.external is None and any(p.source == "external" for p in schedule(ev.phases)))


def run_single(cfg: RunConfig, world: Path | None = None) -> Path:
    """One complete run (one seed) into ``cfg.out``; each stage skipped when ``state.json`` says it is done.
    ``world``: the world folder a parent run resolved this one's paths from (the ablation's run)."""
    out = Path(cfg.out)
    state = open_run_dir(out, cfg, force=cfg.force)
    if state.done("complete"):
        log.info("%s is complete; nothing to do (use --force to start over)", out)
        return out
    testbed = world or (build_world(cfg.testbed) if uses_testbed(cfg) else None)
    cfg = resolve_paths(cfg, testbed)
    if not state.done("reviser_data"):
        run_reviser_data(cfg.reviser_data)
        state.mark("reviser_data")
    if not state.done("reviser_train"):
        run_reviser_train(cfg.reviser_train)
        state.mark("reviser_train")
    # the likelihood margins chosen for this reviser on dev (before any round revises with them)
    if not state.done("calibration"):
        run_calibration(cfg, testbed)
        state.mark("calibration")
    resolved, cfg = cfg, apply_margins(cfg, read_calibration(out))
    run_evolve(cfg.evolve)
    scaling = scaling_runs(cfg)
    baselines = run_baselines(cfg, state) if cfg.with_baselines else {}
    if cfg.with_baselines and NO_DRAFTS in cfg.baselines:
        # the run's settings as configured: the ablation chooses its own margins for its teacher
        baselines[NO_DRAFTS] = _run_no_drafts(resolved, state, testbed)
    log_metrics(cfg.tracking, baselines, 0, "baselines")  # baselines/<method>/<set>/score
    from ..report.html import write_html_report
    from ..report.summary import collect_rounds, write_report, write_summary

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
    write_html_report(out, cfg.html, rounds=collect_rounds(out))
    state.mark("complete")
    log.info("run complete: %s (and report.html)", out / "report.md")
    return out


def _run_no_drafts(cfg: RunConfig, state, world: Path | None) -> dict[str, dict]:
    """The "SEFT without drafts" ablation: the same run with a reviser that never sees the draft
    (reviser_data.show_draft=false: the same examples, every target the revision), so it answers
    each prompt like a teacher; every other setting is the run's, the likelihood decision included.
    It runs as its own run directory, RUN/baselines/no_drafts/, and its final round joins the
    summary as ``no_drafts``: its answers are copied to RUN/eval/no_drafts/, and its training cost
    (reviser + rounds, counted as SEFT's is) to cost.json there."""
    import shutil

    from ..report.summary import collect_rounds
    from .compare import seft_cost

    folder = Path(cfg.out) / "baselines" / NO_DRAFTS
    r = dataclasses.replace
    sub = r(cfg, out=str(folder), with_baselines=False, baselines=[], baseline_lr_sweep=[], baseline_beta_sweep=[],
            baseline_pair_mode_sweep=[], baseline_choices={}, baseline_learning_rates={}, scaling=[], force=False,
            reviser_data=r(cfg.reviser_data, show_draft=False, out=None),
            tracking=r(cfg.tracking, stage=NO_DRAFTS),  # the same tracked run (cfg is resolved), its own names
            reviser_train=r(cfg.reviser_train, data=None, out=None),
            evolve=r(cfg.evolve, reviser=None, out=None))
    if not state.done(f"baseline/{NO_DRAFTS}"):
        adopt_base_evaluation(Path(cfg.evolve.out), folder)  # the same base policy on the same sets
        run_single(sub, world)  # its teacher's margins are chosen on the same dev set, by the same rule
        rounds = collect_rounds(folder)
        reviser = json.loads((folder / "reviser" / "model" / "train_metrics.json").read_text())
        cost = seft_cost(reviser, rounds, rounds[-1]["round"])
        atomic_write_json(folder / "cost.json", {"method": NO_DRAFTS, "wall_seconds": cost["train_seconds"],
                                                 "forward_passes": cost["train_forward_passes"],
                                                 "gen_sequences": cost["gen_sequences"]})
        answers = folder / "rounds" / f"round_{len(rounds):02d}" / "eval"
        dest = Path(cfg.out) / "eval" / NO_DRAFTS
        dest.mkdir(parents=True, exist_ok=True)
        for name in cfg.evolve.eval_sets:
            shutil.copyfile(answers / f"{name}.jsonl", dest / f"{name}.jsonl")
        state.mark(f"baseline/{NO_DRAFTS}")
    summary = json.loads((folder / "eval" / "summary.json").read_text())
    return {name: models["seft_final"] for name, models in summary["sets"].items()}


def _with_baselines(out: Path, summary: dict, baselines: dict[str, dict]) -> dict:
    """Add the baselines to eval/summary.json under their method names, after the contract keys
    (base, seft_round_k, seft_final)."""
    for method, per_set in baselines.items():
        for set_name, s in per_set.items():
            summary["sets"][set_name][method] = s
    atomic_write_json(out / "eval" / "summary.json", summary)
    return summary
