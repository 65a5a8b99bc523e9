"""The revision audit as markdown: one table of a run's rounds, one table across runs (seeds)."""
from __future__ import annotations

import statistics
from collections.abc import Sequence

__all__ = ["render_audit", "render_audit_across_runs"]

_HEAD = ("| round | source | drafts judged | mean draft -> final | perfect drafts kept perfect | harm | improved | "
         "KEEP precision | KEEP recall | drafts that stood |")
_RULE = "|---|---|---|---|---|---|---|---|---|---|"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def _row(label: str, source: str, a: dict) -> str:
    preserved = "-" if a.get("preservation") is None else \
        f"{a['preserved']} of {a['top_drafts']} ({a['preservation']:.0%})"
    return (f"| {label} | {source} | {a['judged']} of {a['n']} | {_num(a.get('mean_draft'))} -> "
            f"{_num(a.get('mean_final'))} | {preserved} | {_pct(a['harm_rate'])} | {_pct(a['improvement_rate'])} | "
            f"{_pct(a.get('keep_precision'))} | {_pct(a.get('keep_recall'))} | {a['kept']} |")


def render_audit(rounds: Sequence[dict]) -> list[str]:
    """Markdown lines: the audit of every round that has one (``metrics.json`` ``audit``), overall
    and per level; nothing when no round was audited."""
    audited = [m for m in rounds if m.get("audit")]
    if not audited:
        return []
    lines = ["## Revision audit", "",
             "Every draft and its final response judged by the run's judge (it measures; it never chooses "
             "what the policy trains on). *Perfect* is the judge's top score; *harm*: final worse than the draft; "
             "*KEEP precision / recall*: the draft stood, against 'the draft was already perfect'.", "",
             _HEAD, _RULE]
    for m in audited:
        lines.append(_row(str(m["round"]), m["source"], m["audit"]["overall"]))
        for level, a in m["audit"]["levels"].items():
            lines.append(_row(f"{m['round']} · {level}", "", a))
    return lines + [""]


def render_audit_across_runs(per_run: Sequence[Sequence[dict]]) -> list[str]:
    """Markdown lines: per round, the mean over runs of preservation, harm and improvement
    (``per_run``: each run's rounds' metrics, in round order)."""
    by_round: dict[int, list[dict]] = {}
    for rounds in per_run:
        for m in rounds:
            if m.get("audit"):
                by_round.setdefault(m["round"], []).append({**m["audit"]["overall"], "source": m["source"]})
    if not by_round:
        return []

    def mean(items, key):
        vals = [a[key] for a in items if a.get(key) is not None]
        return statistics.fmean(vals) if vals else None

    lines = ["## Revision audit (mean over runs)", "",
             "| round | source | runs | mean draft -> final | perfect drafts kept perfect | harm | improved | KEEP precision |",
             "|---|---|---|---|---|---|---|---|"]
    for k, items in sorted(by_round.items()):
        lines.append(f"| {k} | {items[0]['source']} | {len(items)} | {_num(mean(items, 'mean_draft'))} -> "
                     f"{_num(mean(items, 'mean_final'))} | {_pct(mean(items, 'preservation'))} | "
                     f"{_pct(mean(items, 'harm_rate'))} | {_pct(mean(items, 'improvement_rate'))} | "
                     f"{_pct(mean(items, 'keep_precision'))} |")
    return lines + [""]
