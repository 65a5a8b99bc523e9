"""``seft run``: the whole pipeline into one self-describing, resumable run directory, or with
``seeds: N`` N of them and their comparison.

testbed -> reviser data -> reviser training -> evolution rounds -> [baselines] -> summary -> report
(:mod:`.single`); seeds and their comparison: :mod:`.seeds`.
"""
from __future__ import annotations

from pathlib import Path

from ..config.stages import RunConfig
from .preflight import check_before_run
from .seeds import run_seeds
from .single import run_single

__all__ = ["run_pipeline"]


def run_pipeline(cfg: RunConfig) -> Path:
    """Check everything that can be checked without training (:mod:`.preflight`: inputs, counts
    against the schedule, judge, models, output folder), then run."""
    check_before_run(cfg)
    return run_seeds(cfg) if cfg.seeds > 1 else run_single(cfg)
