"""The revision audit in report.md and in compare.md, from hand-made round metrics."""
from seft.report.audit import render_audit, render_audit_across_runs
from seft.report.summary import render_report


def _audit(pres, harm, imp, top=10, kept=12):
    overall = {"n": 100, "judged": 100, "missing": 0, "kept": kept, "mean_draft": 0.4, "mean_final": 0.5,
               "top_drafts": top, "preserved": round(pres * top), "preservation": pres, "harm_rate": harm,
               "improvement_rate": imp, "keep_precision": 0.75, "keep_recall": 0.9}
    return {"overall": overall, "levels": {"KEEP": {**overall, "n": 12, "judged": 12}}}


ROUNDS = [{"round": 1, "source": "internal", "audit": _audit(0.9, 0.05, 0.4)},
          {"round": 2, "source": "external", "audit": _audit(0.5, 0.25, 0.1)},
          {"round": 3, "source": "internal", "audit": None}]


def test_one_row_per_round_and_level():
    lines = render_audit(ROUNDS)
    rows = [x for x in lines if x.startswith("| 1") or x.startswith("| 2") or x.startswith("| 3")]
    assert rows[0] == ("| 1 | internal | 100 of 100 | 0.400 -> 0.500 | 9 of 10 (90%) | 5% | 40% | 75% | 90% | 12 |")
    assert rows[1].startswith("| 1 · KEEP |") and "12 of 12" in rows[1]
    assert rows[2].startswith("| 2 | external |") and "5 of 10 (50%)" in rows[2] and "| 25% |" in rows[2]
    assert not any(r.startswith("| 3") for r in rows)  # an unaudited round has no row
    assert render_audit([{"round": 1, "source": "internal"}]) == []


def test_a_judge_without_scores_shows_dashes():
    a = {"n": 4, "judged": 3, "missing": 1, "kept": 1, "mean_draft": None, "mean_final": None, "preservation": None,
         "harm_rate": 0.3333, "improvement_rate": 0.6667, "keep_precision": None, "keep_recall": None}
    row = render_audit([{"round": 1, "source": "internal", "audit": {"overall": a, "levels": {}}}])[-2]
    assert row == "| 1 | internal | 3 of 4 | - -> - | - | 33% | 67% | - | - | 1 |"


def test_mean_across_runs():
    lines = render_audit_across_runs([ROUNDS[:2], [{"round": 1, "source": "internal", "audit": _audit(0.7, 0.15, 0.2)}]])
    assert "| 1 | internal | 2 | 0.400 -> 0.500 | 80% | 10% | 30% | 75% |" in lines
    assert "| 2 | external | 1 | 0.400 -> 0.500 | 50% | 25% | 10% | 75% |" in lines


def test_report_md_holds_the_audit():
    s = {"score": 0.5, "ci95": [0.4, 0.6], "n": 10}
    summary = {"judge": "testbed", "sets": {"eval": {"base": s, "seft_round_1": s, "seft_final": s}}}
    m = {"round": 1, "phase": "internal", "source": "internal", "drafts": 100, "train_size": 90, "seconds": 3,
         "revision": {"levels": {"KEEP": 10}, "changed_share": 0.5, "fallbacks": {}}, "scores": {"eval": s},
         "audit": _audit(0.9, 0.05, 0.4)}
    text = render_report(summary, [m], None, None)
    assert "## Revision audit" in text and "9 of 10 (90%)" in text
