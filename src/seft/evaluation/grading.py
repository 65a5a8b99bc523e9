"""Grading a model's answers to a benchmark prompt set: MT-Bench-style single 1-10 grades per turn
(each turn on the conversation so far), or AlpacaEval-style pairwise preferences against reference
answers; and the summaries of both.
"""
from __future__ import annotations

from typing import Sequence

from ..data.errors import DataError
from ..models.chat import to_messages
from .metrics import length_controlled_win_rate, mean_length, mt_bench_summary, text_length, win_rate
from .stats import summarize

__all__ = ["conversation", "follow_ups", "grade_pairwise", "grade_single", "pairwise_summary", "single_summary",
           "summary_line"]


def follow_ups(record: dict) -> list[str]:
    """The user turns after the first (``meta.turns[1:]``); empty for a single-turn record."""
    turns = (record.get("meta") or {}).get("turns")
    if turns is None:
        return []
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        raise DataError("meta.turns must be a list of strings (the user turns)", path=record.get("id"), field="meta")
    return turns[1:]


def conversation(record: dict, answers: Sequence[str]) -> list[dict]:
    """The chat for the turn after ``answers``: the prompt, then per earlier answer the assistant's
    reply and the user's next turn. With one answer: [user q1, assistant a1, user q2]."""
    messages = to_messages(record["prompt"])
    for answer, turn in zip(answers, follow_ups(record)):
        messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": turn}]
    return messages


# ----------------------------------------------------------------------------- seft eval


def _category(record: dict) -> str:
    meta = record.get("meta") or {}
    return str(meta.get("category") or meta.get("dataset") or meta.get("task") or "all")


def grade_single(judge, records: list[dict], answers: list[dict]) -> list[dict]:
    requests, texts, rows = [], [], []
    for r, a in zip(records, answers):
        meta = r.get("meta") or {}
        for t, text in enumerate(a["answers"], start=1):
            if not follow_ups(r):
                rec = r  # graded as it is: the testbed judge reads its meta
            else:
                # Turn t is graded on the conversation so far, against the references of turns 1..t.
                m = {k: v for k, v in meta.items() if k != "reference"}
                if isinstance(meta.get("reference"), list) and len(meta["reference"]) >= t:
                    m["reference"] = meta["reference"][:t]
                rec = {"id": r["id"], "prompt": conversation(r, a["answers"][:t - 1]), "meta": m}
            requests.append(rec)
            texts.append(text)
            rows.append({"id": r["id"], "turn": t, "category": _category(r), "grading": "single"})
    scores = judge.score(requests, texts)
    return [{**row, "score": s} for row, s in zip(rows, scores)]


def grade_pairwise(judge, records: list[dict], answers: list[dict], ref_texts: list[str]) -> list[dict]:
    mine = [a["answers"][0] for a in answers]
    prefs = judge.compare(records, mine, ref_texts)
    return [{"id": r["id"], "turn": 1, "category": _category(r), "grading": "pairwise", "preference": p,
             "length": text_length(x), "reference_length": text_length(y)}
            for r, p, x, y in zip(records, prefs, mine, ref_texts)]


def _mean_ci(values: list) -> dict:
    judged = [v for v in values if v is not None]
    out = summarize(judged) if judged else {"score": None, "ci95": None, "n": 0}
    out["missing"] = len(values) - len(judged)
    return out


def single_summary(rows: list[dict], *, on_1_to_10: bool) -> dict:
    out = _mean_ci([r["score"] for r in rows])
    turns = sorted({r["turn"] for r in rows})
    if len(turns) > 1:
        out["turns"] = {str(t): _mean_ci([r["score"] for r in rows if r["turn"] == t]) for t in turns}
    if on_1_to_10 and set(turns) <= {1, 2}:  # MT-Bench's own summary: per turn and category
        out["mt_bench"] = mt_bench_summary(rows)
    return out


def pairwise_summary(rows: list[dict], ref_name: str, ref_texts: list[str]) -> dict:
    prefs = [r["preference"] for r in rows]
    out = {"reference": ref_name, "reference_mean_length": mean_length(ref_texts)}
    if all(p is None for p in prefs):  # nothing judged: say so instead of failing
        out.update(win_rate=None, length_controlled=None, n=0, missing=len(prefs))
        return out
    out["win_rate"] = win_rate(prefs)
    out["length_controlled"] = length_controlled_win_rate(prefs, [r["length"] for r in rows],
                                                          [r["reference_length"] for r in rows])
    return out


def summary_line(summary: dict) -> str:
    parts = [f"mean length {summary['mean_length']:.0f} chars"]
    single = summary.get("single")
    if single and single["score"] is not None:
        parts.append(f"score {single['score']:.3f} (n {single['n']}, missing {single['missing']})")
    pair = summary.get("pairwise")
    if pair and pair["win_rate"] is not None:
        parts.append(f"win rate {pair['win_rate']['win_rate']:.3f}, LC {pair['length_controlled']['lc_win_rate']:.3f} "
                     f"vs {pair['reference']}")
    return ", ".join(parts)
