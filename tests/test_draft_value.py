"""benchmarks/draft_value.py's blank rewrite: MAJOR drafts rewritten from an empty draft, the tag and
the likelihood decision still reading the draft; and its table of paired differences."""
from __future__ import annotations

import importlib.util
from pathlib import Path

from seft.config.reviser import ReviseConfig

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("draft_value", ROOT / "benchmarks" / "draft_value.py")
draft_value = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(draft_value)

TEMPLATE = "{instruction}|{draft}"


class TwoViews:
    """A scripted reviser: the tag depends on the draft; a revision written with the draft in view is
    ``seen``, one written from an empty draft is ``blank``; log-likelihoods come from a table keyed by
    (draft in view, text)."""

    def __init__(self, heads, seen, blank, logprobs):
        self.heads, self.seen, self.blank, self.logprobs, self.calls = heads, seen, blank, logprobs, []

    def generate(self, prompts, params, *, prefixes=None, desc=""):
        split = [p[0]["content"].split("|", 1) for p in prompts]
        self.calls.append((desc, [d for _, d in split], prefixes))
        if prefixes is None:
            return [self.heads[d] for _, d in split]
        return [(self.blank[q] if d == "" else self.seen[d]) for q, d in split]

    def continuation_logprobs(self, prompts, texts, *, prefixes=None, desc=""):
        return [self.logprobs[(p[0]["content"].split("|", 1)[1], t)] for p, t in zip(prompts, texts)]


def test_blank_rewrite_by_hand():
    recs = [{"id": "a", "prompt": "qa", "draft": "good"}, {"id": "b", "prompt": "qb", "draft": "bad"},
            {"id": "c", "prompt": "qc", "draft": "meh"}, {"id": "d", "prompt": "qd", "draft": "near"}]
    gen = TwoViews(heads={"good": "[KEEP]", "bad": "[MAJOR]", "meh": "[MINOR]", "near": "[MAJOR]"},
                   seen={"bad": "seen-b", "meh": "edited", "near": "seen-d"},
                   blank={"qb": "fresh-b", "qd": "fresh-d"},
                   # the decision scores the draft and the *fresh* rewrite with the draft in view:
                   # b's draft is 5 nats less likely (the rewrite stays), d's only 0.5 (d's draft stands)
                   logprobs={("bad", "bad"): -9.0, ("bad", "fresh-b"): -4.0,
                             ("near", "near"): -3.5, ("near", "fresh-d"): -3.0,
                             ("meh", "meh"): -8.0, ("meh", "edited"): -2.0})
    cfg = ReviseConfig(keep_margin=1.0, template=TEMPLATE)
    out = draft_value.revise_blank(gen, recs, cfg, ("MAJOR",), tag_budget=9)
    assert [(r["level"], r["final"], r["changed"]) for r in out] == [
        ("KEEP", "good", False), ("MAJOR", "fresh-b", True), ("MINOR", "edited", True), ("MAJOR", "near", False)]
    assert out[3]["decision"] == "likelihood" and out[3]["revision"] == "fresh-d"
    # only the MAJOR rows were rewritten, each from an empty draft, its MAJOR tag line forced
    blank_calls = [c for c in gen.calls if c[0] == "revise: from an empty draft"]
    assert blank_calls == [("revise: from an empty draft", ["", ""], ["[MAJOR]\n", "[MAJOR]\n"])]
    # without a margin nothing is decided: d's fresh rewrite stays
    plain = draft_value.revise_blank(gen, recs, ReviseConfig(keep_margin=None, template=TEMPLATE), ("MAJOR",),
                                     tag_budget=9)
    assert [r["final"] for r in plain] == ["good", "fresh-b", "edited", "fresh-d"]


def test_render_table_pairs_each_seed():
    row = {"written": 0.5, "final": 0.5, "draft": 0.3, "preservation": 0.9, "harm_rate": 0.02,
           "improvement_rate": 0.4}
    results = {"internal": {"reviser": [row, row],
                            "teacher": [{**row, "final": 0.6, "harm_rate": 0.05}, {**row, "final": 0.4}],
                            "blank": [{**row, "final": 0.7}, {**row, "final": 0.7}]}}
    lines = draft_value.render_table(results).splitlines()
    final = next(line for line in lines if "| final |" in line)
    assert "+0.000" in final and "1 of 2 seeds" in final  # +0.1 - 0.1: ahead in one seed, even on the mean
    harm = next(line for line in lines if "| harm_rate |" in line)
    assert "1 of 2 seeds" in harm  # a lower harm rate is ahead
    blank = draft_value.render_table(results, first="blank", label="blank")
    assert "| blank |" in blank.splitlines()[0] and "2 of 2 seeds" in next(
        line for line in blank.splitlines() if "| final |" in line)
