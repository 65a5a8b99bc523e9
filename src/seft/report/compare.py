"""The comparison table over runs: aggregation, ``compare.md``, ``compare.csv``, ``compare.png``.

One run: every interval is the run's own (bootstrap over prompts). Several runs (seeds): each
number is the mean over the runs that have the row, and the interval is a Student t-interval
across runs (mean +- t_{0.975, n-1} * sd / sqrt(n)). Seeds vary training and sampling, which a
bootstrap over prompts of one run cannot see; with a handful of runs a bootstrap over runs would
give too narrow an interval (it cannot leave the observed range), the t-interval does not.
"""
from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Sequence

from ..config.core import ConfigError
from ..data.io import atomic_write_text
from ..evaluation.stats import t_interval
from .audit import render_audit_across_runs
from .figures import save_figure

__all__ = ["aggregate_runs", "render_compare", "write_compare", "plot_compare", "CSV_COLUMNS"]

_CI_KEYS = {"score": "score_ci95", "win_rate": "win_rate_ci95", "lc_win_rate": "lc_win_rate_ci95"}
_MEAN_KEYS = ("mean_length", "train_seconds", "train_forward_passes", "gen_sequences")
CSV_COLUMNS = ["model", "set", "runs", "ci", "score", "score_lo", "score_hi", "win_rate", "win_rate_lo", "win_rate_hi",
               "lc_win_rate", "lc_win_rate_lo", "lc_win_rate_hi", "mean_length", "train_seconds",
               "train_forward_passes", "gen_sequences"]


def aggregate_runs(per_run: Sequence[Sequence[dict]]) -> list[dict]:
    """One row per (model, set), in first-seen order: see the module doc for means and intervals."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for rows in per_run:
        for r in rows:
            groups.setdefault((r["model"], r["set"]), []).append(r)
    out = []
    for (model, set_name), rows in groups.items():
        agg = {"model": model, "set": set_name, "runs": len(rows), "ci": "prompts" if len(rows) == 1 else "runs_t"}
        for key, ci_key in _CI_KEYS.items():
            vals = [r[key] for r in rows]
            agg[key] = round(statistics.fmean(vals), 6)
            agg[ci_key] = list(rows[0][ci_key]) if len(rows) == 1 else t_interval(vals)
        for key in _MEAN_KEYS:
            agg[key] = round(statistics.fmean(r[key] for r in rows), 2)
        out.append(agg)
    return out


def _ci(v: float, ci: Sequence[float]) -> str:
    return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"


def render_compare(rows: Sequence[dict]) -> str:
    runs = max((r["runs"] for r in rows), default=1)
    how = ("bootstrap 95% CI over prompts" if runs == 1 else
           f"mean over {runs} runs, 95% t-interval across runs")
    lines = ["# SEFT comparison", "",
             f"Scores and win rates against base ({how}). Length: mean characters per answer. Cost: training only "
             "(wall seconds, forward passes of training sequences incl. a reference model); SEFT's generated drafts "
             "and revisions are counted separately as generated sequences.", ""]
    for set_name in dict.fromkeys(r["set"] for r in rows):
        lines += [f"## {set_name}", "",
                  "| model | runs | score | win rate vs base | LC win rate vs base | length | train s | "
                  "train fwd passes | gen sequences |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if r["set"] != set_name:
                continue
            lines.append(f"| {r['model']} | {r['runs']} | {_ci(r['score'], r['score_ci95'])} | "
                         f"{_ci(r['win_rate'], r['win_rate_ci95'])} | {_ci(r['lc_win_rate'], r['lc_win_rate_ci95'])} | "
                         f"{r['mean_length']:.1f} | {r['train_seconds']:.1f} | {r['train_forward_passes']:,.0f} | "
                         f"{r['gen_sequences']:,.0f} |")
        lines.append("")
    lines.append("![score by model](compare.png)")
    return "\n".join(lines) + "\n"


def _csv(rows: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        flat = {k: r[k] for k in CSV_COLUMNS if k in r}
        for key, ci_key in _CI_KEYS.items():
            flat[f"{key}_lo"], flat[f"{key}_hi"] = r[ci_key]
        w.writerow(flat)
    return buf.getvalue()


def _scaling_csv(points: Sequence[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["prompts", "prompts_per_round", "multiple", "set", "runs", "score", "score_lo", "score_hi"])
    for p in points:
        w.writerow([p["prompts"], p["prompts_per_round"], p["multiple"], p["set"], p["runs"], p["score"], *p["score_ci95"]])
    return buf.getvalue()


def plot_compare(rows: Sequence[dict], set_name: str, path: Path) -> None:
    """Bar chart of the score of every model on one set, with its 95% interval as error bars."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in rows if r["set"] == set_name]
    ys = [r["score"] for r in rows]
    err = [[y - r["score_ci95"][0] for r, y in zip(rows, ys)], [r["score_ci95"][1] - y for r, y in zip(rows, ys)]]
    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(rows) + 1), 3.5))
    ax.bar(range(len(rows)), ys, yerr=err, capsize=4, color=["#999999" if r["model"] == "base" else
                                                            "#4c72b0" if r["model"].startswith("seft") else "#dd8452"
                                                            for r in rows])
    labels = [r["model"].replace("seft_", "seft\n").replace("internal_", "internal\n") for r in rows]
    ax.set_xticks(range(len(rows)), labels, fontsize=8)
    ax.set_ylabel("score")
    ax.set_title(f"{set_name}: score by model (95% CI)")
    ax.grid(axis="y", alpha=0.3)
    save_figure(fig, path)


def write_compare(out: Path, per_run: Sequence[Sequence[dict]], *, main_set: str | None = None,
                  scaling: Sequence[dict] = (), sweep: dict | None = None,
                  rounds: Sequence[Sequence[dict]] = ()) -> list[dict]:
    """Aggregate the runs' rows and write compare.md, compare.csv and compare.png into ``out``;
    with the runs' ``scaling`` summaries also the curve (a section and scaling.png), with a
    ``sweep`` (sweep.json) the baselines' learning-rate table, with the runs' ``rounds`` (their
    metrics.json) the revision audit per round."""
    from .experiments import aggregate_scaling, plot_scaling, render_scaling, render_sweep

    rows = aggregate_runs(per_run)
    if not rows:
        raise ValueError("nothing to compare: no rows")
    sets = list(dict.fromkeys(r["set"] for r in rows))
    main_set = main_set or sets[0]
    if main_set not in sets:
        raise ConfigError(f"main_set: '{main_set}' is not an eval set of the runs ({', '.join(sets)})")
    out.mkdir(parents=True, exist_ok=True)
    text = render_compare(rows)
    points = aggregate_scaling(scaling)
    if points:
        base = {r["set"]: r["score"] for r in rows if r["model"] == "base"}
        text += "\n" + "\n".join(render_scaling(points, base, scaling[0]["internal_rounds"]))
        plot_scaling(points, base, out / "scaling.png")
        atomic_write_text(out / "scaling.csv", _scaling_csv(points))
    if sweep:
        text += "\n" + "\n".join(render_sweep(sweep))
    audit = render_audit_across_runs(rounds)
    if audit:
        text += "\n" + "\n".join(audit)
    atomic_write_text(out / "compare.md", text)
    atomic_write_text(out / "compare.csv", _csv(rows))
    plot_compare(rows, main_set, out / "compare.png")
    return rows
