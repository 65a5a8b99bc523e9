"""``eval/summary.json`` (the contract scripts rely on), ``report.md`` and the score plot."""
from __future__ import annotations

import json
from pathlib import Path

from ..data.io import atomic_write_json, atomic_write_text
from .audit import render_audit
from .figures import save_figure

__all__ = ["CALIBRATION_FILE", "collect_rounds", "plot_scores", "read_calibration", "render_report", "round_axis",
           "write_report", "write_summary"]


CALIBRATION_FILE = Path("reviser") / "calibration.json"  # written by runs/calibration.py

def read_calibration(out: Path) -> dict | None:
    """A run's RUN/reviser/calibration.json (the margins chosen on dev), or None when it has none."""
    path = Path(out) / CALIBRATION_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def collect_rounds(out: Path) -> list[dict]:
    """Every completed round's metrics.json, in order."""
    return [json.loads(p.read_text()) for p in sorted((out / "rounds").glob("round_*/metrics.json"))]


def write_summary(out: Path, evolve_cfg) -> dict:
    """``{"judge", "sets": {set: {model: {"score", "ci95", "n"}}}}`` with base, every round and final."""
    base = json.loads((out / "eval" / "base" / "summary.json").read_text())
    rounds = collect_rounds(out)
    sets: dict[str, dict] = {name: {"base": s} for name, s in base.items()}
    for m in rounds:
        for name, s in m["scores"].items():
            sets[name][f"seft_round_{m['round']}"] = s
    if rounds:
        for name, s in rounds[-1]["scores"].items():
            sets[name]["seft_final"] = s
    from ..config.core import to_dict
    from ..judges import judge_label

    # "judge" is the name reports print; "judge_config" lets `seft compare` rebuild the same judge.
    summary = {"judge": judge_label(evolve_cfg.judge), "judge_config": to_dict(evolve_cfg.judge), "sets": sets}
    atomic_write_json(out / "eval" / "summary.json", summary)
    return summary


def _fmt(s: dict | None) -> str:
    """A score with its CI; a dash where the model was not scored on the set (`final_only_sets`)."""
    return "—" if s is None else f"{s['score']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]"


def render_calibration(cal: dict) -> list[str]:
    """The margins chosen on dev (RUN/reviser/calibration.json): per draft source, every margin's
    audit over the dev drafts, the chosen one in bold."""
    lines = [f"## Likelihood margins chosen on dev ({cal['dev_prompts']} prompts; the smallest that keeps "
             f"{cal['preservation']:.0%} of the perfect dev drafts)", "",
             "| drafts | margin | perfect drafts kept | harm | improved | mean draft -> final |", "|---|---|---|---|---|---|"]
    for kind, got in cal["kinds"].items():
        for r in got["rows"]:
            m = "off" if r["margin"] is None else f"{r['margin']:g}"
            m = f"**{m}**" if r["margin"] is not None and r["margin"] == got["margin"] else m
            kept = f"{r['preserved']} of {r['top_drafts']}" + (f" ({r['preservation']:.0%})" if r["top_drafts"] else "")
            lines.append(f"| {kind} | {m} | {kept} | {r['harm_rate']:.1%} | {r['improvement_rate']:.1%} | "
                         f"{r['mean_draft']:.3f} -> {r['mean_final']:.3f} |")
        if got["margin"] is None:
            lines.append(f"| {kind} | (no perfect dev draft: the configured {got['configured']:g} stands) | | | | |")
    return lines


def render_report(summary: dict, rounds: list[dict], testbed_manifest: dict | None, plot: str | None,
                  calibration: dict | None = None) -> str:
    sets = list(summary["sets"])
    lines = ["# SEFT run report", ""]
    if testbed_manifest:
        lines += [f"Testbed `{testbed_manifest['config_hash']}`: base policy {testbed_manifest['base_policy']['params']:,} "
                  f"parameters, held-out score {testbed_manifest['base_policy_score']:.3f}.", ""]
    lines += [f"## Held-out scores (judge: {summary['judge']}; mean with bootstrap 95% CI over prompts)", "",
              "| model | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for model in summary["sets"][sets[0]]:
        lines.append(f"| {model} | " + " | ".join(_fmt(summary["sets"][s].get(model)) for s in sets) + " |")
    base, final = summary["sets"][sets[0]].get("base"), summary["sets"][sets[0]].get("seft_final")
    if base and final:
        verdict = ("above" if final["ci95"][0] > base["ci95"][1] else
                   "below" if final["ci95"][1] < base["ci95"][0] else "overlapping")
        lines += ["", f"On `{sets[0]}`, seft_final's CI is **{verdict}** base's CI."]
    lines += ["", "## Rounds", "",
              "| round | phase | drafts | KEEP | MINOR | MAJOR | no tag | changed | fallbacks | SFT set | "
              + " | ".join(sets) + " | seconds |",
              "|---|---|---|---|---|---|---|---|---|---|" + "---|" * len(sets) + "---|"]
    for m in rounds:
        lv, rev = m["revision"]["levels"], m["revision"]
        lines.append(f"| {m['round']} | {m['phase']} ({m['source']}) | {m['drafts']} | {lv.get('KEEP', 0)} | "
                     f"{lv.get('MINOR', 0)} | {lv.get('MAJOR', 0)} | {lv.get('none', 0)} | {rev['changed_share']:.0%} | "
                     f"{sum(rev['fallbacks'].values())} | {m['train_size']} | "
                     + " | ".join(f"{m['scores'][s]['score']:.3f}" if s in m["scores"] else "—" for s in sets)
                     + f" | {m['seconds']:.0f} |")
    audit = render_audit(rounds)
    if audit:
        lines += [""] + audit
    if calibration:
        lines += [""] + render_calibration(calibration)
    if plot:
        lines += ["", f"![score by round]({plot})"]
    return "\n".join(lines) + "\n"


def round_axis(summary: dict) -> list[str]:
    """The score plot's x axis: base, then every round scored on any set, in round order.
    Baselines and seft_final (= the last round) have no place on it; a set in `final_only_sets`
    has points at base and the last round only, at their rounds' places."""
    names = {m for models in summary["sets"].values() for m in models if m == "base" or m.startswith("seft_round_")}
    return sorted(names, key=lambda m: 0 if m == "base" else int(m.removeprefix("seft_round_")))


def plot_scores(summary: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    axis = round_axis(summary)
    for set_name, models in summary["sets"].items():
        names = [m for m in axis if m in models]
        xs = [axis.index(m) for m in names]
        ys = [models[m]["score"] for m in names]
        err = [[y - models[m]["ci95"][0] for m, y in zip(names, ys)], [models[m]["ci95"][1] - y for m, y in zip(names, ys)]]
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=set_name)
    ax.set_xticks(range(len(axis)), ["base" if n == "base" else n.replace("seft_round_", "r") for n in axis])
    ax.set_xlabel("round")
    ax.set_ylabel(f"score ({summary['judge']})")
    ax.set_title("Held-out score by round (95% CI)")
    ax.grid(alpha=0.3)
    ax.legend()
    save_figure(fig, path)


def write_report(out: Path, summary: dict, testbed: Path | None) -> Path:
    manifest = json.loads((testbed / "manifest.json").read_text()) if testbed else None
    plot_scores(summary, out / "plots" / "score_by_round.png")
    text = render_report(summary, collect_rounds(out), manifest, "plots/score_by_round.png", read_calibration(out))
    return atomic_write_text(out / "report.md", text)
