"""Seeds (``seeds: N``): N complete runs, ``OUT/seed_<k>/``, run k adding k to every seed of the
config, then one comparison over them (``OUT/compare/``). The testbed stays fixed, so all seeds
are scored on the same prompts against the same base.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from ..config.stages import CompareConfig, RunConfig
from ..data.state import open_run_dir
from .baseline_runs import SWEEP_FILE, is_sweeping
from .compare import run_compare
from .single import run_single

__all__ = ["seeded", "run_seeds"]

log = logging.getLogger(__name__)


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
    out = Path(cfg.out)
    state = open_run_dir(out, cfg, force=cfg.force)
    runs, chosen = [], dict(cfg.baseline_choices)
    for k in range(cfg.seeds):
        # Each seed is its own tracked run, side by side in OUT/tracking: <name>-seed<k>.
        tracking = dataclasses.replace(cfg.tracking, name=f"{cfg.tracking.name or out.name}-seed{k}",
                                       dir=cfg.tracking.dir or str(out / "tracking"))
        ck = dataclasses.replace(seeded(cfg, k), out=str(out / f"seed_{k}"), seeds=1, force=False, tracking=tracking)
        if k > 0 and is_sweeping(cfg):  # the first seed's sweep chose; the others reuse it
            ck = dataclasses.replace(ck, baseline_lr_sweep=[], baseline_beta_sweep=[], baseline_pair_mode_sweep=[],
                                     baseline_choices=chosen)
        log.info("seed %d of %d -> %s", k + 1, cfg.seeds, ck.out)
        run_single(ck)
        if k == 0 and is_sweeping(cfg):
            chosen = {**chosen, **json.loads((Path(ck.out) / SWEEP_FILE).read_text())["chosen"]}
        runs.append(ck.out)
    result = run_compare(CompareConfig(runs=runs, out=str(out / "compare")))
    state.mark("complete")
    return result
