"""report.html: row sampling, word diffs, audit outcomes and escaping, on hand-made records."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from seft.cli import main as seft_main
from seft.config.report import HtmlReportConfig
from seft.report.html import (
    audit_outcome,
    embed_images,
    row_group,
    sample_rows,
    word_diff,
    write_html_report,
)


# ----------------------------------------------------------------------------- pure pieces
def test_row_group_puts_fallbacks_apart_from_levels():
    assert row_group({"level": "KEEP", "fallback": None}) == "KEEP"
    assert row_group({"level": "MINOR"}) == "MINOR"
    assert row_group({"level": None, "fallback": "no_tag"}) == "fallback"
    assert row_group({"level": "MAJOR", "fallback": "empty"}) == "fallback"  # the draft stood, unvetted
    assert row_group({"level": "WEIRD"}) == "fallback"


@pytest.mark.parametrize("draft, final, top, expected", [
    (0.5, 1.0, 1.0, "improved"),
    (1.0, 0.5, 1.0, "harmed"),
    (1.0, 1.0, 1.0, "preserved"),
    (0.5, 0.5, 1.0, "unchanged"),
    (0.5, 0.5, None, "unchanged"),
    (None, 1.0, 1.0, None),      # the judge failed on the draft
    (0.5, None, 1.0, None),
])
def test_audit_outcome(draft, final, top, expected):
    assert audit_outcome(draft, final, top) == expected


def test_sample_rows_bounds_each_group_keeps_order_and_is_seeded():
    records = ([{"id": f"k{i}", "level": "KEEP"} for i in range(10)] +
               [{"id": f"m{i}", "level": "MINOR"} for i in range(3)] +
               [{"id": f"f{i}", "level": None, "fallback": "no_tag"} for i in range(7)])
    records = records[::2] + records[1::2]  # interleave the groups
    rows, seen = sample_rows(iter(records), 4, seed=1)
    assert seen == {"KEEP": 10, "MINOR": 3, "MAJOR": 0, "fallback": 7}
    assert Counter(row_group(r) for r in rows) == {"KEEP": 4, "MINOR": 3, "fallback": 4}
    positions = [records.index(r) for r in rows]
    assert positions == sorted(positions)  # input order
    assert sample_rows(iter(records), 4, seed=1)[0] == rows  # same seed, same rows
    others = {tuple(r["id"] for r in sample_rows(iter(records), 4, seed=s)[0]) for s in range(2, 8)}
    assert len(others) > 1  # the seed matters
    assert sample_rows(iter(records), 0, seed=1)[0] == []


def test_sample_rows_is_uniform_within_a_group():
    records = [{"id": str(i), "level": "MAJOR"} for i in range(20)]
    picks = Counter(r["id"] for s in range(2000) for r in sample_rows(records, 5, seed=s)[0])
    # each record is drawn with probability 5/20: 500 of 2000 draws, binomial sd ~19
    assert all(400 < picks[str(i)] < 600 for i in range(20)), picks


def test_word_diff_marks_changed_words_and_rebuilds_both_texts():
    assert word_diff("0 1 6", "0 1 7") == [("same", "0 1 "), ("del", "6"), ("ins", "7")]
    assert word_diff("same text", "same text") == [("same", "same text")]
    assert word_diff("", "new words") == [("ins", "new words")]
    assert word_diff("gone", "") == [("del", "gone")]
    old, new = "Le café coûte 3 €, <b>vraiment</b>!", "Le café coûte 4 €, <b>vraiment</b>?"
    diff = word_diff(old, new)
    assert "".join(t for op, t in diff if op != "ins") == old
    assert "".join(t for op, t in diff if op != "del") == new
    assert ("del", "3") in diff and ("ins", "4") in diff and ("same", " €, <b>vraiment</b>") in diff


def test_embed_images_inlines_existing_pngs_only(tmp_path):
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "a.png").write_bytes(b"\x89PNG fake")
    text = "x ![a](plots/a.png) y ![b](plots/missing.png)"
    out = embed_images(text, tmp_path)
    assert "![a](data:image/png;base64,iVBORyBmYWtl)" in out and "![b](plots/missing.png)" in out


# ----------------------------------------------------------------------------- the page
EVIL = "<script>alert('x')</script>"


def make_run(root: Path, n: int = 30) -> Path:
    """A run directory with report.md, one round of revisions and its audit, by hand."""
    out = root / "run"
    rd = out / "rounds" / "round_01"
    rd.mkdir(parents=True)
    (out / "report.md").write_text(f"# SEFT run report\n\n| model | {EVIL} |\n|---|---|\n| base | 0.5 -> 0.7 |\n")
    levels = ["KEEP", "MINOR", "MAJOR", None]
    revisions, audit = [], []
    for i in range(n):
        lv = levels[i % 4]
        draft = f"draft {i} naïve" + (f" {EVIL}" if i == 1 else "")
        final = draft if lv == "KEEP" or lv is None else draft.replace("naïve", "better")
        revisions.append({"id": f"r{i}", "prompt": f"question {i}", "draft": draft, "level": lv, "final": final,
                          "changed": final != draft, "fallback": "no_tag" if lv is None else None})
        if i % 5:  # every fifth row was not judged
            audit.append({"id": f"r{i}", "level": lv, "kept": final == draft,
                          "draft_score": 0.5, "final_score": 1.0 if lv == "MINOR" else 0.5})
    (rd / "revisions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in revisions))
    (rd / "audit.jsonl").write_text("".join(json.dumps(a) + "\n" for a in audit))
    metrics = {"round": 1, "phase": "internal", "source": "internal",
               "revision": {"levels": dict(Counter(lv or "none" for lv in (r["level"] for r in revisions)))},
               "audit": {"overall": {"top_score": 1.0}}}
    (rd / "metrics.json").write_text(json.dumps(metrics))
    return out


def test_page_escapes_run_text_and_shows_a_bounded_sample(tmp_path):
    out = make_run(tmp_path)
    from seft.report.summary import collect_rounds

    page = write_html_report(out, HtmlReportConfig(rows_per_level=3, seed=0), rounds=collect_rounds(out)).read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page  # in report.md's table and in drafts
    assert page.count("<script>") == 1  # the page's own
    rows = re.findall(r'<tr data-round="1" data-group="(\w+)" data-outcome="(\w+)">', page)
    assert Counter(g for g, _ in rows) == {"KEEP": 3, "MINOR": 3, "MAJOR": 3, "fallback": 3}
    assert "improved" in {o for g, o in rows if g == "MINOR"} and "unjudged" in {o for _, o in rows}
    assert "<del>naïve</del>" in page and "<ins>better</ins>" in page  # non-ASCII text, marked
    assert "http://" not in page and "https://" not in page  # nothing fetched from the network
    assert "30 revisions" in page.replace(",", "")


def test_seft_report_rebuilds_the_page_and_names_a_bad_folder(tmp_path):
    out = make_run(tmp_path)
    assert seft_main(["report", str(out), "--set", "html.rows_per_level=1"]) == 0
    assert len(re.findall(r"<tr data-round=", (out / "report.html").read_text())) == 4
    with pytest.raises(FileNotFoundError, match="neither rounds/ nor report.md"):
        from seft.config.report import ReportConfig
        from seft.report.html import run_report

        run_report(ReportConfig(run_dir=str(tmp_path / "nothing")))
