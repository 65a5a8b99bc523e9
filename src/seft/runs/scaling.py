"""The data-scaling curve (``scaling``): more SEFT runs of the internal phases only, with other
amounts of unannotated prompts per round and the same reviser, so the curve isolates the amount of data.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config.stages import PhaseConfig, RunConfig
from ..evolution.evolve import adopt_base_evaluation, run_evolve
from ..report.summary import collect_rounds

__all__ = ["scaling_runs", "scaling_points"]


def scaling_runs(cfg: RunConfig) -> list[tuple[int, Path]]:
    """Run (or resume) the data-scaling evolutions: ``[(prompts_per_round, folder)]``."""
    internal = [p for p in cfg.evolve.phases if p.source == "internal"]
    done = []
    for n in cfg.scaling:
        folder = Path(cfg.out) / "scaling" / f"ppr_{n}"
        adopt_base_evaluation(Path(cfg.evolve.out), folder)  # the same base policy on the same sets
        run_evolve(dataclasses.replace(cfg.evolve, out=str(folder), prompts_per_round=n, phases=internal))
        done.append((n, folder))
    return done


def _internal_rounds(phases: list[PhaseConfig]) -> int:
    return sum(p.rounds for p in phases if p.source == "internal")


def scaling_points(cfg: RunConfig, main_rounds: list[dict], runs: list[tuple[int, Path]]) -> dict:
    """The curve for eval/summary.json: each amount of unannotated prompts, with the scores of the
    last internal round. ``main_rounds``: the main run's metrics (its internal-only point)."""
    n_rounds = _internal_rounds(cfg.evolve.phases)
    points = []
    for ppr, rounds in [(n, collect_rounds(folder)) for n, folder in runs] + \
                       [(cfg.evolve.prompts_per_round, main_rounds)]:
        internal = [m for m in rounds if m["source"] == "internal"][:n_rounds]
        if len(internal) == n_rounds and n_rounds:
            points.append({"prompts_per_round": ppr, "prompts": ppr * n_rounds, "sets": internal[-1]["scores"]})
    points.sort(key=lambda p: p["prompts"])
    return {"internal_rounds": n_rounds, "points": points}
