"""The experiment around one SEFT run: seeds, the baselines' learning-rate sweep, the data-scaling curve.

- **Seeds** (``seeds: N``): N complete runs, ``OUT/seed_<k>/``, run k adding k to every seed of
  the config, then one comparison over them (``OUT/compare/``). The testbed stays fixed, so all
  seeds are scored on the same prompts against the same base.
- **Sweep** (``baseline_lr_sweep``): every baseline is trained at each learning rate and scored on
  a development set that no table reports; the best becomes the method's row. The sweep runs
  once, in the first seed's run; later seeds train at the chosen rates.
- **Scaling** (``scaling``): more SEFT runs of the internal phases only, with other amounts of
  unannotated prompts per round and the same reviser, so the curve isolates the amount of data.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
from pathlib import Path

from .config.stages import PhaseConfig, RunConfig
from .data.io import atomic_write_json

__all__ = ["seeded", "run_seeds", "sweep_baselines", "scaling_runs", "scaling_points", "SWEEP_FILE"]

log = logging.getLogger(__name__)

SWEEP_FILE = Path("sweep") / "sweep.json"


def seeded(cfg: RunConfig, k: int) -> RunConfig:
    """``cfg`` with ``k`` added to every seed that drives data order, sampling or training.

    The testbed's seed is left alone: it defines the world (data, base policy, eval sets), and
    seeds that each rebuilt it would compare different tasks, not different runs."""
    r = dataclasses.replace
    ev = cfg.evolve
    return r(cfg,
             reviser_data=r(cfg.reviser_data, seed=cfg.reviser_data.seed + k),
             reviser_train=r(cfg.reviser_train, train=r(cfg.reviser_train.train, seed=cfg.reviser_train.train.seed + k)),
             evolve=r(ev, draft=r(ev.draft, seed=ev.draft.seed + k), train=r(ev.train, seed=ev.train.seed + k),
                      revise=r(ev.revise, generation=r(ev.revise.generation, seed=ev.revise.generation.seed + k))),
             baseline_train=r(cfg.baseline_train, seed=cfg.baseline_train.seed + k))


def run_seeds(cfg: RunConfig) -> Path:
    """``cfg.seeds`` complete runs in OUT/seed_<k>/, then ``seft compare`` over them into OUT/compare/."""
    from .compare import run_compare
    from .config.stages import CompareConfig
    from .pipeline import run_pipeline
    from .state import open_run_dir

    out = Path(cfg.out)
    state = open_run_dir(out, cfg, force=cfg.force)
    runs, chosen = [], dict(cfg.baseline_learning_rates)
    for k in range(cfg.seeds):
        ck = dataclasses.replace(seeded(cfg, k), out=str(out / f"seed_{k}"), seeds=1, force=False)
        if k > 0 and cfg.baseline_lr_sweep:  # the first seed's sweep chose; the others reuse it
            ck = dataclasses.replace(ck, baseline_lr_sweep=[], baseline_learning_rates=chosen)
        log.info("seed %d of %d -> %s", k + 1, cfg.seeds, ck.out)
        run_pipeline(ck)
        if k == 0 and cfg.baseline_lr_sweep:
            chosen = {**chosen, **json.loads((Path(ck.out) / SWEEP_FILE).read_text())["chosen"]}
        runs.append(ck.out)
    result = run_compare(CompareConfig(runs=runs, out=str(out / "compare")))
    state.mark("complete")
    return result


def sweep_baselines(cfg: RunConfig, state, models) -> dict[str, float]:
    """Train every baseline at every swept learning rate, score each on the dev set, and keep the
    best in RUN/baselines/<method>/ (a copy of the winner: the same config and seed give the same
    model, so it is not trained twice). Returns ``{method: chosen learning rate}``."""
    from .baselines import run_baseline
    from .evaluation.runner import evaluate_model
    from .pipeline import baseline_config

    out = Path(cfg.out)
    dev = dataclasses.replace(cfg.evolve, eval_sets={"dev": cfg.sweep_set})
    results: dict[str, dict[str, float]] = {}
    chosen: dict[str, float] = {}
    for method in cfg.baselines:
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


def scaling_runs(cfg: RunConfig) -> list[tuple[int, Path]]:
    """Run (or resume) the data-scaling evolutions: ``[(prompts_per_round, folder)]``."""
    from .evolve import run_evolve

    internal = [p for p in cfg.evolve.phases if p.source == "internal"]
    done = []
    for n in cfg.scaling:
        folder = Path(cfg.out) / "scaling" / f"ppr_{n}"
        run_evolve(dataclasses.replace(cfg.evolve, out=str(folder), prompts_per_round=n, phases=internal))
        done.append((n, folder))
    return done


def _internal_rounds(phases: list[PhaseConfig]) -> int:
    return sum(p.rounds for p in phases if p.source == "internal")


def scaling_points(cfg: RunConfig, main_rounds: list[dict], runs: list[tuple[int, Path]]) -> dict:
    """The curve for eval/summary.json: each amount of unannotated prompts, with the scores of the
    last internal round. ``main_rounds``: the main run's metrics (its internal-only point)."""
    from .report.summary import collect_rounds

    n_rounds = _internal_rounds(cfg.evolve.phases)
    points = []
    for ppr, rounds in [(n, collect_rounds(folder)) for n, folder in runs] + \
                       [(cfg.evolve.prompts_per_round, main_rounds)]:
        internal = [m for m in rounds if m["source"] == "internal"][:n_rounds]
        if len(internal) == n_rounds and n_rounds:
            points.append({"prompts_per_round": ppr, "prompts": ppr * n_rounds, "sets": internal[-1]["scores"]})
    points.sort(key=lambda p: p["prompts"])
    return {"internal_rounds": n_rounds, "points": points}
