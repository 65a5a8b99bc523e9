"""The likelihood decision's margin, chosen for the reviser a run trained, on a development set.

The margin (``revise.keep_margin``) is a threshold on the reviser's own log-likelihoods, so what
a margin of 1 nat means depends on how sure that reviser is of its answers: on the testbed the
margin chosen for seed 0's reviser kept 98% of the perfect dev drafts, seed 1's reviser kept 89%
at the same margin, and a reviser trained twice as long kept 55%. So a run can choose the margin
for its own reviser, by the rule the defaults were chosen with: the smallest candidate that keeps
at least ``preservation`` of the drafts the judge finds perfect.

The drafts are revised once with every decision deferred (both log-likelihoods of every changed
revision recorded), each text is judged once, and every candidate margin is then a threshold over
those numbers (:func:`margin_rows`, pure). The judge only measures dev prompts, which no table
reports; nothing here sees a training prompt.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence

from ..evaluation.audit import audit_rows, audit_summary
from .revise import keeps_draft, revise_drafts, tag_token_budget

__all__ = ["calibrate_margin", "choose_margin", "margin_rows"]

log = logging.getLogger(__name__)
DEFERRED = 1e9  # a margin no log-likelihood gap reaches: every changed revision is scored, none stands


def margin_rows(revisions: Sequence[dict], draft_scores: Sequence[float | None],
                revision_scores: Sequence[float | None], margins: Sequence[float | None],
                top_score: float | None = 1.0) -> list[dict]:
    """The audit's overall numbers at each margin (None: the tag alone decides).

    ``revisions``: records revised with the decision deferred (``logprob_draft`` and
    ``logprob_revision`` on every changed one, the reviser's text in ``revision``);
    ``draft_scores`` / ``revision_scores``: the judge's score of each record's draft and of its
    revision (a record the tag kept: its draft's score twice)."""
    out = []
    for margin in margins:
        chosen, finals = [], []
        for r, ds, rs in zip(revisions, draft_scores, revision_scores):
            changed = "logprob_draft" in r
            stands = not changed or (margin is not None and keeps_draft(r["logprob_draft"], r["logprob_revision"], margin))
            final = r["draft"] if stands else r.get("revision", r["final"])
            chosen.append({**r, "final": final})
            finals.append(ds if stands else rs)
        o = audit_summary(audit_rows(chosen, list(draft_scores), finals), top_score)["overall"]
        out.append({"margin": margin, **{k: o[k] for k in ("top_drafts", "preserved", "preservation", "harm_rate",
                                                          "improvement_rate", "mean_draft", "mean_final", "kept")}})
    return out


def choose_margin(rows: Sequence[dict], preservation: float) -> float | None:
    """The smallest margin whose row keeps at least ``preservation`` of the perfect drafts; the
    largest when none does; None when the set holds no perfect draft (nothing to measure)."""
    ranked = sorted((r for r in rows if r["margin"] is not None), key=lambda r: r["margin"])
    if not ranked or not ranked[0]["top_drafts"]:
        return None
    return next((r["margin"] for r in ranked if r["preservation"] >= preservation), ranked[-1]["margin"])


def calibrate_margin(generator, records: Sequence[dict], judge_records: Sequence[dict], revise_cfg, judge, *,
                     margins: Sequence[float], preservation: float, top_score: float | None = 1.0,
                     revise: Callable = revise_drafts, group: Callable[[dict], str] | None = None) -> dict:
    """Revise ``records`` (id, prompt, draft) with ``generator`` (the reviser) and choose the margin.

    ``judge_records``: the judge's view of each record (for the testbed, with its reference).
    ``revise``: how the records are revised, called as ``revise_drafts`` is (a benchmark's variant).
    Returns ``{"margin": chosen or None, "rows": margin_rows(...), "drafts": n}``, and with ``group``
    (a record -> its group's name) ``"groups": {name: margin_rows(...) over that group's records}``."""
    cfg = dataclasses.replace(revise_cfg, keep_margin=DEFERRED)
    revs = revise(generator, list(records), cfg, tag_budget=tag_token_budget(generator.tokenizer, cfg.tags))
    # each distinct text once: a draft, and the reviser's text where it wrote another
    texts = [(i, r["draft"]) for i, r in enumerate(revs)]
    texts += [(i, r["revision"]) for i, r in enumerate(revs) if "revision" in r and r["revision"] != r["draft"]]
    scores = judge.score([judge_records[i] for i, _ in texts], [t for _, t in texts])
    draft_scores = scores[:len(revs)]
    revision_scores = list(draft_scores)
    for (i, _), s in zip(texts[len(revs):], scores[len(revs):]):
        revision_scores[i] = s
    grid = [None, *sorted(margins)]
    rows = margin_rows(revs, draft_scores, revision_scores, grid, top_score)
    out = {"margin": choose_margin(rows, preservation), "drafts": len(revs), "rows": rows}
    if group is not None:  # the same thresholds over each group's share of the one pass
        names = [group(r) for r in records]
        out["groups"] = {}
        for g in sorted(set(names)):
            idx = [i for i, name in enumerate(names) if name == g]
            out["groups"][g] = margin_rows([revs[i] for i in idx], [draft_scores[i] for i in idx],
                                           [revision_scores[i] for i in idx], grid, top_score)
    return out
