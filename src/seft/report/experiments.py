"""The data-scaling curve and the baselines' learning-rate sweep, as tables and a plot.

Across runs (seeds) a curve point is the mean of the runs' scores with a 95% t-interval, exactly
as a row of the comparison table is; from one run it keeps that run's bootstrap interval.
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Sequence

from ..evaluation.stats import t_interval
from .figures import save_figure

__all__ = ["aggregate_scaling", "render_scaling", "plot_scaling", "render_sweep"]


def aggregate_scaling(per_run: Sequence[dict]) -> list[dict]:
    """``[{"prompts", "prompts_per_round", "multiple", "set", "runs", "score", "score_ci95"}]`` from the
    ``scaling`` sections of several runs' summaries, sorted by amount of data, then set.

    ``multiple`` is the amount relative to the smallest amount of the curve (1x, 2x, 4x ...)."""
    groups: dict[tuple[int, int, str], list[dict]] = {}
    for scaling in per_run:
        for p in scaling["points"]:
            for set_name, s in p["sets"].items():
                groups.setdefault((p["prompts"], p["prompts_per_round"], set_name), []).append(s)
    if not groups:
        return []
    smallest = min(k[0] for k in groups)
    out = []
    for (prompts, ppr, set_name), scores in sorted(groups.items()):
        vals = [s["score"] for s in scores]
        out.append({"prompts": prompts, "prompts_per_round": ppr, "multiple": round(prompts / smallest, 3),
                    "set": set_name, "runs": len(vals), "score": round(statistics.fmean(vals), 6),
                    "score_ci95": list(scores[0]["ci95"]) if len(vals) == 1 else t_interval(vals)})
    return out


def render_scaling(points: Sequence[dict], base: dict[str, float], internal_rounds: int) -> list[str]:
    """Markdown lines: one row per amount of unannotated prompts, one column per eval set."""
    sets = list(dict.fromkeys(p["set"] for p in points))
    lines = ["## Data scaling: SEFT internal-only with more unannotated prompts", "",
             f"Same annotated data and reviser; {internal_rounds} internal rounds; only the prompts per round change. "
             "Base: " + ", ".join(f"{s} {base[s]:.3f}" for s in sets if s in base) + ".", "",
             "| unannotated prompts | per round | runs | " + " | ".join(sets) + " |",
             "|---|---|---|" + "---|" * len(sets)]
    by_amount: dict[int, dict[str, dict]] = {}
    for p in points:
        by_amount.setdefault(p["prompts"], {})[p["set"]] = p
    for prompts, per_set in by_amount.items():
        first = next(iter(per_set.values()))
        cells = [f"{per_set[s]['score']:.3f} [{per_set[s]['score_ci95'][0]:.3f}, {per_set[s]['score_ci95'][1]:.3f}]"
                 if s in per_set else "" for s in sets]
        lines.append(f"| {prompts:,} ({first['multiple']:g}x) | {first['prompts_per_round']:,} | {first['runs']} | "
                     + " | ".join(cells) + " |")
    return lines + ["", "![data scaling](scaling.png)", ""]


def plot_scaling(points: Sequence[dict], base: dict[str, float], path: Path) -> None:
    """Score against the amount of unannotated prompts (log2 axis), one line per set, base dashed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for set_name in dict.fromkeys(p["set"] for p in points):
        pts = [p for p in points if p["set"] == set_name]
        xs, ys = [p["prompts"] for p in pts], [p["score"] for p in pts]
        err = [[y - p["score_ci95"][0] for p, y in zip(pts, ys)], [p["score_ci95"][1] - y for p, y in zip(pts, ys)]]
        line = ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=f"SEFT, {set_name}")
        if set_name in base:
            ax.axhline(base[set_name], ls="--", lw=1, color=line[0].get_color(), label=f"base, {set_name}")
    ax.set_xscale("log", base=2)
    xs = sorted({p["prompts"] for p in points})
    ax.set_xticks(xs, [f"{x:,}\n({x / xs[0]:g}x)" for x in xs])
    ax.minorticks_off()
    ax.set_xlabel("unannotated prompts used (all internal rounds)")
    ax.set_ylabel("score")
    ax.set_title("SEFT with more unannotated prompts (95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def render_sweep(sweep: dict) -> list[str]:
    """Markdown lines for a sweep.json: the dev score of every (method, setting), the chosen one in bold."""
    lines = ["## Baselines' sweep", "",
             f"Every baseline was trained at each setting of its grid (learning rates "
             f"{', '.join(f'{x:g}' for x in sweep.get('learning_rates') or []) or 'default'}; for dpo, orpo and "
             f"sft+dpo also betas {', '.join(f'{x:g}' for x in sweep.get('betas') or []) or 'default'} and pairings "
             f"{', '.join(sweep.get('pair_modes') or []) or 'default'}) and scored on "
             f"`{Path(str(sweep['set'])).name}` (a development set no table reports); the best (bold) is the "
             "method's row. With several seeds the sweep ran in the first seed's run and the other seeds reused "
             "its choice.", "", "| method | setting | dev score |", "|---|---|---|"]
    for method, scores in sweep["scores"].items():
        best = (sweep.get("chosen_tags") or {}).get(method)
        for tag, score in scores.items():
            mark = "**" if tag == best else ""
            lines.append(f"| {method} | {mark}{tag}{mark} | {mark}{score:.3f}{mark} |")
    return lines + [""]
