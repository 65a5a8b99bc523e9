"""The revision audit, on hand-made (draft, final, score) records worked out by hand."""
from __future__ import annotations

import pytest

from seft.evaluation.audit import audit_revisions, audit_rows, audit_summary, sample_for_audit

# id, level, fallback, draft, final: a kept perfect draft, a perfect draft made worse, a bad draft
# improved, a draft changed at the same score, a kept mediocre draft, and a fallback the judge fails on.
REVISIONS = [
    {"id": "a", "level": "KEEP", "fallback": None, "draft": "x", "final": "x"},
    {"id": "b", "level": "MINOR", "fallback": None, "draft": "y", "final": "z"},
    {"id": "c", "level": "MAJOR", "fallback": None, "draft": "p", "final": "q"},
    {"id": "d", "level": "MAJOR", "fallback": None, "draft": "r", "final": "s"},
    {"id": "e", "level": "KEEP", "fallback": None, "draft": "t", "final": "t"},
    {"id": "f", "level": None, "fallback": "no_tag", "draft": "u", "final": "u"},
]
SCORES = {"x": 1.0, "y": 1.0, "z": 0.5, "p": 0.2, "q": 0.8, "r": 0.4, "s": 0.4, "t": 0.3, "u": None}


class TextJudge:
    """Scores by text; ``u`` is a judgment that failed. Records every text it is asked about."""
    name = "fake"

    def __init__(self):
        self.asked = []

    def score(self, records, responses):
        assert len(records) == len(responses)
        self.asked += list(responses)
        return [SCORES[t] for t in responses]

    def compare(self, records, a, b):
        return [None if SCORES[x] is None else 0.5 if SCORES[x] == SCORES[y] else float(SCORES[x] > SCORES[y])
                for x, y in zip(a, b)]


def test_the_overall_numbers_by_hand():
    judge = TextJudge()
    rows, s = audit_revisions(judge, REVISIONS, [{"id": r["id"], "prompt": "?"} for r in REVISIONS])
    o = s["overall"]
    assert (o["n"], o["judged"], o["missing"], o["kept"]) == (6, 5, 1, 3)
    assert (o["improvement_rate"], o["harm_rate"], o["unchanged_score_rate"]) == (0.2, 0.2, 0.6)
    assert (o["mean_draft"], o["mean_final"]) == (0.58, 0.6)  # 2.9/5 -> 3.0/5
    assert (o["top_drafts"], o["preserved"], o["preservation"]) == (2, 1, 0.5)  # a kept, b harmed
    assert (o["keep_precision"], o["keep_recall"]) == (0.5, 0.5)  # kept & judged: a (top), e (not)
    assert [r["level"] for r in rows] == ["KEEP", "MINOR", "MAJOR", "MAJOR", "KEEP", "fallback"]
    # every distinct text once: a draft that stood is not judged again as its own final
    assert sorted(judge.asked) == sorted("xyzpqrstu")


def test_the_numbers_per_level():
    _, s = audit_revisions(TextJudge(), REVISIONS, REVISIONS)
    lv = s["levels"]
    assert (lv["KEEP"]["preservation"], lv["KEEP"]["keep_precision"], lv["KEEP"]["keep_recall"]) == (1.0, 0.5, 1.0)
    assert (lv["MINOR"]["harm_rate"], lv["MINOR"]["preservation"]) == (1.0, 0.0)
    assert (lv["MAJOR"]["improvement_rate"], lv["MAJOR"]["mean_draft"], lv["MAJOR"]["mean_final"]) == (0.5, 0.3, 0.6)
    assert lv["MAJOR"]["top_drafts"] == 0 and lv["MAJOR"]["preservation"] is None  # no perfect draft there
    assert lv["fallback"] == {**lv["fallback"], "n": 1, "judged": 0, "missing": 1, "improvement_rate": None}


def test_a_pairwise_judge_gives_improvement_and_harm_only():
    _, s = audit_revisions(TextJudge(), REVISIONS, REVISIONS, mode="compare")
    o = s["overall"]
    assert (o["judged"], o["improvement_rate"], o["harm_rate"]) == (5, 0.2, 0.2)
    assert o["preservation"] is None and o["keep_precision"] is None and o["mean_draft"] is None


def test_top_score_none_takes_the_best_draft_seen_for_every_level():
    rows = audit_rows(REVISIONS[2:4], [0.2, 0.4], [0.8, 0.4])
    s = audit_summary(rows, top_score=None)  # best draft 0.4: d is "at the top" and stays there
    assert (s["overall"]["top_drafts"], s["overall"]["preservation"]) == (1, 1.0)
    assert s["levels"]["MAJOR"]["top_score"] == 0.4


def test_sampling_is_seeded_ordered_and_bounded():
    assert sample_for_audit(5, None) == [0, 1, 2, 3, 4] == sample_for_audit(5, 9)
    picked = sample_for_audit(100, 10, seed=3)
    assert picked == sorted(picked) and len(set(picked)) == 10 and picked == sample_for_audit(100, 10, seed=3)
    assert picked != sample_for_audit(100, 10, seed=4)


def test_bad_calls_are_errors():
    with pytest.raises(ValueError, match="scores, or preferences"):
        audit_rows(REVISIONS, None, None)
    with pytest.raises(ValueError, match="judge records"):
        audit_revisions(TextJudge(), REVISIONS, REVISIONS[:2])
    with pytest.raises(ValueError, match="mode"):
        audit_revisions(TextJudge(), REVISIONS, REVISIONS, mode="vote")


def test_testbed_references_reach_the_judge_only(tmp_path):
    """judge_records adds each training prompt's reference to copies; the drafts stay unlabeled."""
    import json
    import random

    from seft.evolution.prompts import judge_records
    from seft.testbed.splits import derive_seed, prompt_stream, reference_of, take
    from seft.testbed.tasks import make_example, score_response

    tasks = ["add", "sort", "reverse"]
    (tmp_path / "manifest.json").write_text(json.dumps({"seed": 7, "tasks": tasks}))
    recs = [r.to_dict() for r in take(prompt_stream(7, tasks), 6)]
    drafts = [{"id": f"{r['id']}#s0", "prompt": r["prompt"], "meta": r["meta"], "draft": "1"} for r in recs]
    seen = judge_records(f"testbed:{tmp_path}", drafts)
    assert all("reference" not in d["meta"] for d in drafts)  # the inputs are not touched
    for d, r in zip(seen, recs):
        i = int(r["id"].rsplit("-", 1)[1])
        ex = make_example(tasks[i % 3], random.Random(derive_seed(7, "prompts", i)))
        assert d["meta"]["reference"] == ex.reference and score_response(ex.task, d["meta"]["reference"], ex.reference) == 1.0
    assert reference_of(7, tasks, recs[0]["id"], "another prompt") is None  # a mismatch gives nothing
    assert reference_of(7, tasks, "eval-0000001", recs[0]["prompt"]) is None  # held-out ids are not rebuilt
    assert judge_records("prompts.jsonl", drafts) is drafts  # real data: the judge sees the records as they are
