"""The baselines inside a ``seft run``: each trained from the policy SEFT evolves, on the preference
file the reviser read, evaluated like every round; with ``baseline_lr_sweep``, each method's
learning rate chosen on a development set that no table reports.

The sweep runs once, in the first seed's run; later seeds train at the chosen rates
(``SWEEP_FILE`` records them).
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

from ..config.core import ConfigError
from ..config.stages import BaselineConfig, RunConfig
from ..data.io import atomic_write_json
from ..evaluation.runner import evaluate_model
from ..generation.factory import GeneratorCache
from .baselines import run_baseline

__all__ = ["BASELINE_METHODS", "NO_DRAFTS", "SWEEP_FILE", "baseline_config", "check_baselines", "run_baselines",
           "sweep_baselines", "trained_baselines"]

log = logging.getLogger(__name__)

NO_DRAFTS = "no_drafts"  # the "SEFT without drafts" ablation: a whole SEFT run, made by runs/single.py
BASELINE_METHODS = ("sft", "dpo", "orpo", NO_DRAFTS)
SWEEP_FILE = Path("sweep") / "sweep.json"


def check_baselines(cfg: RunConfig) -> None:
    """Fail before hours of training, not after: distinct known methods, rates only for them."""
    bad = [m for m in cfg.baselines if m not in BASELINE_METHODS]
    if bad or len(set(cfg.baselines)) != len(cfg.baselines):
        raise ConfigError(f"baselines: expected distinct methods from {list(BASELINE_METHODS)}, got {cfg.baselines}")
    unknown = sorted(set(cfg.baseline_learning_rates) - set(cfg.baselines))
    if unknown:
        raise ConfigError(f"baseline_learning_rates: {unknown} not among baselines {cfg.baselines}")


def trained_baselines(cfg: RunConfig) -> list[str]:
    """The baselines trained here from the base policy (no_drafts is a whole SEFT run instead)."""
    return [m for m in cfg.baselines if m != NO_DRAFTS]


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


def run_baselines(cfg: RunConfig, state) -> dict[str, dict]:
    """Train (one state unit each, skipped when done) and evaluate every baseline: {method: scores}."""
    out, models, scores = Path(cfg.out), GeneratorCache(), {}
    if cfg.baseline_lr_sweep:  # leaves each method's chosen model in RUN/baselines/<method>/
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


def sweep_baselines(cfg: RunConfig, state, models) -> dict[str, float]:
    """Train every baseline at every swept learning rate, score each on the dev set, and keep the
    best in RUN/baselines/<method>/ (a copy of the winner: the same config and seed give the same
    model, so it is not trained twice). Returns ``{method: chosen learning rate}``."""
    out = Path(cfg.out)
    dev = dataclasses.replace(cfg.evolve, eval_sets={"dev": cfg.sweep_set})
    results: dict[str, dict[str, float]] = {}
    chosen: dict[str, float] = {}
    for method in trained_baselines(cfg):
        results[method] = {}
        for lr in cfg.baseline_lr_sweep:
            tag = f"{method}/lr_{lr:g}"
            bcfg = baseline_config(cfg, method, learning_rate=lr, out=out / "sweep" / tag)
            if not state.done(f"sweep/{tag}"):
                run_baseline(bcfg)
                state.mark(f"sweep/{tag}")
            s = evaluate_model(f"sweep/{tag}", bcfg.out, dev, out / "sweep" / tag / "eval", state, models)
            models.forget(bcfg.out)
            results[method][f"{lr:g}"] = s["dev"]["score"]
        best = max(cfg.baseline_lr_sweep, key=lambda lr: results[method][f"{lr:g}"])  # a tie keeps the first
        chosen[method] = best
        final = Path(baseline_config(cfg, method).out)
        if not state.done(f"baseline/{method}"):
            shutil.rmtree(final, ignore_errors=True)
            shutil.copytree(out / "sweep" / f"{method}/lr_{best:g}", final, ignore=shutil.ignore_patterns("eval"))
            state.mark(f"baseline/{method}")
        log.info("sweep %s: %s -> lr %g", method, results[method], best)
    atomic_write_json(out / SWEEP_FILE, {"set": cfg.sweep_set, "learning_rates": cfg.baseline_lr_sweep,
                                         "scores": results, "chosen": chosen})
    return chosen
