"""The baselines inside a ``seft run``: each trained from the policy SEFT evolves, on the preference
file the reviser read, evaluated like every round; with ``baseline_lr_sweep``, each method's
learning rate chosen on a development set that no table reports.

The sweep crosses learning rates with, for the preference methods, betas and pairings; it runs
once, in the first seed's run, and later seeds train at the chosen settings (``SWEEP_FILE``
records them). ``sft+dpo`` is DPO started from the SFT baseline's model (the standard recipe).
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path
from typing import Any

from ..config.core import ConfigError
from ..config.stages import BaselineConfig, RunConfig
from ..data.io import atomic_write_json
from ..evaluation.runner import evaluate_model
from ..generation.factory import GeneratorCache
from ..tracking import stage_name
from .baselines import run_baseline

__all__ = ["BASELINE_METHODS", "NO_DRAFTS", "SFT_DPO", "SWEEP_FILE", "baseline_config", "check_baselines", "is_sweeping",
           "run_baselines", "setting_tag", "sweep_baselines", "sweep_grid", "trained_baselines"]

log = logging.getLogger(__name__)

NO_DRAFTS = "no_drafts"  # the "SEFT without drafts" ablation: a whole SEFT run, made by runs/single.py
SFT_DPO = "sft+dpo"      # DPO from the sft baseline's model
BASELINE_METHODS = ("sft", "dpo", "orpo", SFT_DPO, NO_DRAFTS)
SWEEP_FILE = Path("sweep") / "sweep.json"


def check_baselines(cfg: RunConfig) -> None:
    """Fail before hours of training, not after: distinct known methods, settings only for them."""
    bad = [m for m in cfg.baselines if m not in BASELINE_METHODS]
    if bad or len(set(cfg.baselines)) != len(cfg.baselines):
        raise ConfigError(f"baselines: expected distinct methods from {list(BASELINE_METHODS)}, got {cfg.baselines}")
    unknown = sorted((set(cfg.baseline_learning_rates) | set(cfg.baseline_choices)) - set(cfg.baselines))
    if unknown:
        raise ConfigError(f"baseline_learning_rates / baseline_choices: {unknown} not among baselines {cfg.baselines}")
    if SFT_DPO in cfg.baselines and ("sft" not in cfg.baselines or cfg.baselines.index("sft") > cfg.baselines.index(SFT_DPO)):
        raise ConfigError(f"baselines: {SFT_DPO} starts from the sft baseline; list sft before it, got {cfg.baselines}")


def trained_baselines(cfg: RunConfig) -> list[str]:
    """The baselines trained here from the base policy (no_drafts is a whole SEFT run instead)."""
    return [m for m in cfg.baselines if m != NO_DRAFTS]


def sweep_grid(cfg: RunConfig, method: str) -> list[dict[str, Any]]:
    """Every setting a method is swept over: learning rates, and for preference methods betas and
    pairings; a list left empty contributes nothing (the method's default)."""
    grid = [{}]
    axes = [("learning_rate", cfg.baseline_lr_sweep)]
    if method != "sft":
        axes += [("beta", cfg.baseline_beta_sweep), ("pair_mode", cfg.baseline_pair_mode_sweep)]
    for key, values in axes:
        if values:
            grid = [{**g, key: v} for g in grid for v in values]
    return grid


def setting_tag(setting: dict[str, Any]) -> str:
    """A folder-safe name of one swept setting, e.g. ``lr_0.001_beta_0.5_best_vs_each``."""
    parts = [f"lr_{setting['learning_rate']:g}"] if "learning_rate" in setting else []
    parts += [f"beta_{setting['beta']:g}"] if "beta" in setting else []
    parts += [setting["pair_mode"]] if "pair_mode" in setting else []
    return "_".join(parts) or "default"


def baseline_config(cfg: RunConfig, method: str, *, setting: dict[str, Any] | None = None,
                    out: Path | None = None) -> BaselineConfig:
    """A baseline of a resolved run: the base policy SEFT evolves from (for sft+dpo, the sft
    baseline's model), the reviser's preference file read exactly as the reviser's data stage read
    it, output in RUN/baselines/<method>/. Settings: ``setting``, else the method's
    baseline_choices, else its baseline_learning_rates entry, else baseline_train's and the defaults."""
    rd = cfg.reviser_data
    chosen = {**({"learning_rate": cfg.baseline_learning_rates[method]} if method in cfg.baseline_learning_rates else {}),
              **cfg.baseline_choices.get(method, {}), **(setting or {})}
    lr = chosen.get("learning_rate", cfg.baseline_train.learning_rate)
    extra = {k: chosen[k] for k in ("beta", "pair_mode") if k in chosen}
    base = str(Path(cfg.out) / "baselines" / "sft") if method == SFT_DPO else cfg.evolve.policy
    tracking = cfg.baseline_train.tracking  # its stage is "baseline" (resolve_paths): one name per method and setting
    stage = stage_name(tracking.stage, method, setting_tag(setting) if setting else None)
    return BaselineConfig(method="dpo" if method == SFT_DPO else method, preferences=rd.preferences, format=rd.format,
                          on_bad_record=rd.on_bad_record, base_model=base,
                          out=str(out or Path(cfg.out) / "baselines" / method),
                          train=dataclasses.replace(cfg.baseline_train, learning_rate=lr,
                                                    tracking=dataclasses.replace(tracking, stage=stage)),
                          missing_score=rd.missing_score, pair_scale=rd.pair_scale, **extra)


def is_sweeping(cfg: RunConfig) -> bool:
    return bool(cfg.baseline_lr_sweep or cfg.baseline_beta_sweep or cfg.baseline_pair_mode_sweep)


def run_baselines(cfg: RunConfig, state) -> dict[str, dict]:
    """Train (one state unit each, skipped when done) and evaluate every baseline: {method: scores}."""
    out, models, scores = Path(cfg.out), GeneratorCache(), {}
    if is_sweeping(cfg):  # leaves each method's chosen model in RUN/baselines/<method>/
        sweep_baselines(cfg, state, models)
    for method in trained_baselines(cfg):
        unit = f"baseline/{method}"
        bcfg = baseline_config(cfg, method)
        if not state.done(unit):
            run_baseline(bcfg)
            state.mark(unit)
        # evaluate_model is its own unit (eval/<method>), so a kill between the two redoes neither
        scores[method] = evaluate_model(method, bcfg.out, cfg.evolve, out / "eval" / method, state, models)
        models.forget(bcfg.out)
    return scores


def sweep_baselines(cfg: RunConfig, state, models) -> dict[str, dict]:
    """Train every baseline at every setting of its grid, score each on the dev set, and keep the
    best in RUN/baselines/<method>/ (a copy of the winner: the same config and seed give the same
    model, so it is not trained twice). Methods run in order, so sft+dpo's grid starts from the sft
    baseline the sweep just chose. Returns ``{method: chosen setting}``."""
    out = Path(cfg.out)
    dev = dataclasses.replace(cfg.evolve, eval_sets={"dev": cfg.sweep_set})
    results: dict[str, dict[str, float]] = {}
    chosen: dict[str, dict] = {}
    for method in trained_baselines(cfg):
        results[method], grid = {}, sweep_grid(cfg, method)
        for setting in grid:
            tag = f"{method}/{setting_tag(setting)}"
            bcfg = baseline_config(cfg, method, setting=setting, out=out / "sweep" / tag)
            if not state.done(f"sweep/{tag}"):
                run_baseline(bcfg)
                state.mark(f"sweep/{tag}")
            s = evaluate_model(f"sweep/{tag}", bcfg.out, dev, out / "sweep" / tag / "eval", state, models)
            models.forget(bcfg.out)
            results[method][setting_tag(setting)] = s["dev"]["score"]
        best = max(grid, key=lambda g: results[method][setting_tag(g)])  # a tie keeps the first
        chosen[method] = best
        final = Path(baseline_config(cfg, method).out)
        if not state.done(f"baseline/{method}"):
            shutil.rmtree(final, ignore_errors=True)
            shutil.copytree(out / "sweep" / method / setting_tag(best), final, ignore=shutil.ignore_patterns("eval"))
            state.mark(f"baseline/{method}")
        cfg = dataclasses.replace(cfg, baseline_choices={**cfg.baseline_choices, method: best})
        log.info("sweep %s: %s -> %s", method, results[method], setting_tag(best))
    atomic_write_json(out / SWEEP_FILE, {"set": cfg.sweep_set, "learning_rates": cfg.baseline_lr_sweep,
                                         "betas": cfg.baseline_beta_sweep, "pair_modes": cfg.baseline_pair_mode_sweep,
                                         "scores": results, "chosen": chosen,
                                         "chosen_tags": {m: setting_tag(s) for m, s in chosen.items()}})
    return chosen
