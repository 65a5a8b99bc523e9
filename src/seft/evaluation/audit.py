"""The revision audit (METHOD.md section 3): does the reviser keep good drafts, improve bad ones,
and rarely make a draft worse?

Every revised draft is judged twice, as drafted and as finally kept (the revision, or the draft
when it stood), and :func:`audit_summary` reduces the pairs of scores to the numbers a run reports
per round, overall and per level:

- ``mean_draft`` -> ``mean_final``: the judge's mean score before and after revision;
- ``preservation``: of the drafts already at the judge's top score, the share still at the top;
- ``harm_rate`` / ``improvement_rate``: final worse / better than the draft;
- ``keep_precision`` / ``keep_recall``: the draft stood (final == draft) against "the draft was
  already at the top": of the drafts that stood, how many were at the top, and of those at the
  top, how many stood.

A judge that only compares (an LLM judge in pairwise mode) says for each pair whether the final
beats the draft: improvement and harm come from its verdicts; preservation and the KEEP numbers
need scores and are then None. A failed judgment (None) is left out and counted as ``missing``.

The judge measures; it never chooses among revisions of training prompts (those prompts have no
labels, and choosing would be rejection sampling, another method).
"""
from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["AUDIT_LEVELS", "audit_revisions", "audit_rows", "audit_summary", "sample_for_audit"]

AUDIT_LEVELS = ("KEEP", "MINOR", "MAJOR", "fallback")
_EPS = 1e-9


def level_of(revision: dict) -> str:
    """The audit's level of a revision: its tag, or ``fallback`` when the output did not parse."""
    return "fallback" if revision.get("fallback") or revision.get("level") is None else revision["level"]


def sample_for_audit(n: int, sample: int | None, seed: int = 0) -> list[int]:
    """Indices of the revisions to judge: all ``n``, or a seeded sample of ``sample`` of them in
    their original order (to bound a paid judge's cost)."""
    if sample is None or sample >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), sample))


def audit_rows(revisions: Sequence[dict], draft_scores: Sequence[float | None] | None,
               final_scores: Sequence[float | None] | None,
               preferences: Sequence[float | None] | None = None) -> list[dict]:
    """One row per revision: id, level, whether the draft stood, and the judge's numbers.

    Either scores (``draft_scores`` and ``final_scores``) or ``preferences`` (final over draft in
    [0, 1], 0.5 = tie) must be given."""
    if (draft_scores is None) != (final_scores is None) or (draft_scores is None and preferences is None):
        raise ValueError("audit_rows needs draft and final scores, or preferences")
    rows = []
    for i, r in enumerate(revisions):
        row = {"id": r["id"], "level": level_of(r), "kept": r["final"] == r["draft"]}
        if draft_scores is not None:
            row["draft_score"], row["final_score"] = draft_scores[i], final_scores[i]
        if preferences is not None:
            row["preference"] = preferences[i]
        rows.append(row)
    return rows


def _verdict(row: dict) -> int | None:
    """+1 final better than draft, -1 worse, 0 the same, None not judged."""
    if "draft_score" in row:
        d, f = row["draft_score"], row["final_score"]
        if d is None or f is None:
            return None
        return 0 if abs(f - d) <= _EPS else (1 if f > d else -1)
    p = row.get("preference")
    if p is None:
        return None
    return 0 if abs(p - 0.5) <= _EPS else (1 if p > 0.5 else -1)


def _share(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def _summary(rows: list[dict], top: float | None) -> dict:
    judged = [r for r in rows if _verdict(r) is not None]
    out: dict = {"n": len(rows), "judged": len(judged), "missing": len(rows) - len(judged),
                 "kept": sum(r["kept"] for r in rows)}
    verdicts = [_verdict(r) for r in judged]
    out["improvement_rate"] = _share(sum(v > 0 for v in verdicts), len(judged))
    out["harm_rate"] = _share(sum(v < 0 for v in verdicts), len(judged))
    out["unchanged_score_rate"] = _share(sum(v == 0 for v in verdicts), len(judged))
    scored = [r for r in judged if "draft_score" in r]
    if not scored:
        out.update(mean_draft=None, mean_final=None, top_drafts=None, preserved=None, preservation=None,
                   keep_precision=None, keep_recall=None)
        return out
    out["mean_draft"] = round(sum(r["draft_score"] for r in scored) / len(scored), 4)
    out["mean_final"] = round(sum(r["final_score"] for r in scored) / len(scored), 4)
    if top is None:
        top = max(r["draft_score"] for r in scored)
    at_top = [r for r in scored if r["draft_score"] >= top - _EPS]
    preserved = [r for r in at_top if r["final_score"] >= top - _EPS]
    kept = [r for r in scored if r["kept"]]
    out.update(top_score=top, top_drafts=len(at_top), preserved=len(preserved),
               preservation=_share(len(preserved), len(at_top)),
               keep_precision=_share(sum(r["draft_score"] >= top - _EPS for r in kept), len(kept)),
               keep_recall=_share(sum(r["kept"] for r in at_top), len(at_top)))
    return out


def audit_summary(rows: Sequence[dict], top_score: float | None = 1.0) -> dict:
    """``{"overall": {...}, "levels": {level: {...}}}`` from :func:`audit_rows` rows.

    ``top_score``: the judge's best possible score (1.0 for the testbed's and the Python judges'
    [0, 1] scores); None takes the best draft score observed."""
    rows = list(rows)
    if top_score is None:  # one top for every level: the best draft of the whole audit
        top_score = max((r["draft_score"] for r in rows if r.get("draft_score") is not None), default=None)
    return {"overall": _summary(rows, top_score),
            "levels": {lvl: _summary(grp, top_score) for lvl in AUDIT_LEVELS
                       if (grp := [r for r in rows if r["level"] == lvl])}}


def audit_revisions(judge, revisions: Sequence[dict], records: Sequence[dict], *, mode: str = "score",
                    sample: int | None = None, seed: int = 0, top_score: float | None = 1.0) -> tuple[list[dict], dict]:
    """Judge ``revisions`` (each with id, draft, final) and summarise: ``(rows, summary)``.

    ``records``: the judge's view of each revision's prompt record, in the same order (for the
    testbed, with the reference the reviser and the policy never see). ``mode``: ``score`` judges
    each text (a text judged once, drafts that stood are not judged again), ``compare`` asks the
    judge for final-over-draft preferences."""
    if len(records) != len(revisions):
        raise ValueError(f"audit: {len(revisions)} revisions but {len(records)} judge records")
    picked = sample_for_audit(len(revisions), sample, seed)
    chosen, recs = [revisions[i] for i in picked], [records[i] for i in picked]
    if mode == "compare":
        prefs = judge.compare(recs, [r["final"] for r in chosen], [r["draft"] for r in chosen])
        rows = audit_rows(chosen, None, None, prefs)
    elif mode == "score":
        # Each distinct (prompt, text) once: a draft that stood is its own final.
        todo: dict[tuple[int, str], int] = {}
        for i, r in enumerate(chosen):
            for text in (r["draft"], r["final"]):
                todo.setdefault((i, text), len(todo))
        keys = list(todo)
        scores = judge.score([recs[i] for i, _ in keys], [text for _, text in keys])
        by_key = dict(zip(keys, scores))
        rows = audit_rows(chosen, [by_key[(i, r["draft"])] for i, r in enumerate(chosen)],
                          [by_key[(i, r["final"])] for i, r in enumerate(chosen)])
    else:
        raise ValueError(f"audit mode must be 'score' or 'compare', got {mode!r}")
    return rows, audit_summary(rows, top_score if mode == "score" else None)
