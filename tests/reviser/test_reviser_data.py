"""Reviser training examples: building, the KEEP cap, and the `run_reviser_data` stage."""
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seft.config.core import ConfigError
from seft.config.reviser import ReviserDataConfig
from seft.data.errors import DataError
from seft.data.schema import PreferencePair, ScoredList, ScoredResponse
from seft.reviser.data import build_reviser_examples, keep_quota, run_reviser_data
from seft.reviser.format import reviser_messages

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"


def records():
    # A: gaps 0, 0.01, 0.5, 0.8 -> KEEP KEEP MAJOR MAJOR; B: 0, 0, 0.2 -> KEEP KEEP MINOR;
    # C: margin (9 - 7) / 10 = 0.2 -> MINOR.  Before the cap: KEEP 5, MINOR 2, MAJOR 2.
    a = ScoredList(id="A", prompt="Q1", scale=(0, 10), responses=[
        ScoredResponse("a best", 10), ScoredResponse("a close", 9.9), ScoredResponse("a half", 5),
        ScoredResponse("a bad", 2)])
    b = ScoredList(id="B", prompt="Q2", scale=(0, 10), responses=[
        ScoredResponse("b1", 8), ScoredResponse("b2", 8), ScoredResponse("b3", 6)])
    c = PreferencePair(id="C", prompt="Q3", chosen="c good", rejected="c meh", chosen_score=9,
                       rejected_score=7)
    return [a, b, c]


# ----------------------------------------------------------------------------- KEEP cap
@pytest.mark.parametrize("n_keep, n_rev, share, expected", [
    (10, 7, 0.3, 3),   # 3 / 10 = 0.3 exactly: allowed despite float rounding of 0.3*7/0.7
    (10, 4, 0.3, 1),   # 0.3*4/0.7 = 1.71 -> 1 (2/6 = 0.33 would break the cap)
    (2, 7, 0.3, 2),    # fewer KEEPs than the quota: all stay
    (10, 0, 0.3, 0),   # nothing revised: no KEEP can stay under a cap < 1
    (10, 7, 1.0, 10),
    (10, 7, 0.0, 0),
    (10, 3, 0.5, 3),
])
def test_keep_quota(n_keep, n_rev, share, expected):
    assert keep_quota(n_keep, n_rev, share) == expected


@given(n_keep=st.integers(0, 500), n_rev=st.integers(0, 500), share=st.floats(0.0, 1.0))
def test_keep_quota_is_the_largest_allowed(n_keep, n_rev, share):
    k = keep_quota(n_keep, n_rev, share)
    assert 0 <= k <= n_keep
    assert k == 0 or k / (k + n_rev) <= share + 1e-9
    assert k == n_keep or (k + 1) / (k + 1 + n_rev) > share - 1e-9  # one more would break it


# ----------------------------------------------------------------------------- build
def test_build_counts_and_cap():
    examples, stats = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=0))
    assert stats["levels_before_cap"] == {"KEEP": 5, "MINOR": 2, "MAJOR": 2}
    # n_rev = 4, cap 0.3 -> 1 KEEP survives (1/5 = 0.2)
    assert stats["levels"] == {"KEEP": 1, "MINOR": 2, "MAJOR": 2}
    assert (stats["keep_dropped"], stats["examples"], stats["prompts_used"]) == (4, 5, 3)
    assert [e["id"] for e in examples] == ["A:2", "A:3", "B:1", "B:2", "C:1"]  # seed 0, input order
    assert examples[0] == {"id": "A:2", "prompt": reviser_messages("Q1", "a half"),
                           "completion": "[MAJOR]\na best", "level": "MAJOR", "gap": 0.5,
                           "source_id": "A"}
    assert examples[2]["completion"] == "[KEEP]\nb2"  # the default KEEP target copies the draft
    assert examples[4]["completion"] == "[MINOR]\nc good" and examples[4]["gap"] == 0.2


def test_build_is_deterministic_and_seeded():
    def ids(seed):
        return [e["id"] for e in build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=seed))[0]]

    assert ids(0) == ids(0)
    assert len({tuple(ids(s)) for s in range(6)}) > 1  # the seed picks which KEEP survives


def test_build_without_cap_keeps_everything():
    examples, stats = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10),
                                                                          max_keep_share=1.0))
    assert len(examples) == 9 and stats["keep_dropped"] == 0


@given(share=st.floats(0.0, 1.0), seed=st.integers(0, 3))
def test_build_keep_share_never_above_cap(share, seed):
    examples, _ = build_reviser_examples(records(), ReviserDataConfig(
        pair_scale=(0, 10), max_keep_share=share, seed=seed))
    keep = sum(e["level"] == "KEEP" for e in examples)
    assert sum(e["level"] != "KEEP" for e in examples) == 4  # MINOR/MAJOR are never dropped
    assert keep / len(examples) <= share + 1e-9


def test_build_counts_edge_cases():
    recs = [
        ScoredList(id="dup", prompt="Q", scale=(0, 10), responses=[
            ScoredResponse("x", 10), ScoredResponse("x ", 4), ScoredResponse("", 1),
            ScoredResponse("y", None)]),
        ScoredList(id="eb", prompt="Q", scale=(0, 10), responses=[
            ScoredResponse(" ", 10), ScoredResponse("z", 2)]),
        ScoredList(id="none", prompt="Q", responses=[ScoredResponse("q")]),
    ]
    examples, stats = build_reviser_examples(recs, ReviserDataConfig(max_keep_share=1.0))
    assert [(e["id"], e["level"]) for e in examples] == [("dup:0", "KEEP"), ("dup:2", "MAJOR")]
    assert {k: stats[k] for k in ("duplicates", "empty_drafts", "skipped_missing_score",
                                  "prompts_empty_best", "prompts_no_scores", "prompts_used")} == \
        {"duplicates": 1, "empty_drafts": 1, "skipped_missing_score": 2, "prompts_empty_best": 1,
         "prompts_no_scores": 1, "prompts_used": 1}


def test_build_missing_score_error():
    rec = ScoredList(id="bad", prompt="Q", responses=[ScoredResponse("a", 1), ScoredResponse("b")])
    with pytest.raises(DataError, match="record 'bad': response 1"):
        build_reviser_examples([rec], ReviserDataConfig(missing_score="error"))


def test_pair_scale_observed_over_the_input():
    pairs = [PreferencePair(id=str(i), prompt="Q", chosen=f"c{i}", rejected=f"r{i}",
                            chosen_score=cs, rejected_score=rs)
             for i, (cs, rs) in enumerate([(10, 0), (10, 8)])]
    examples, stats = build_reviser_examples(pairs, ReviserDataConfig(max_keep_share=1.0))
    assert stats["pair_scale"] == [0, 10]
    assert [(e["level"], e["gap"]) for e in examples if e["id"].endswith(":1")] == \
        [("MAJOR", 1.0), ("MINOR", 0.2)]


# ----------------------------------------------------------------------------- the stage
def write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return str(path)


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()]


def test_run_on_seft_scored(tmp_path):
    src = write(tmp_path / "prefs.jsonl", [
        {"id": "p1", "prompt": "Reverse 'ab'.", "scale": [0, 1],
         "responses": [{"text": "ba", "score": 1.0}, {"text": "b a", "score": 0.7},
                       {"text": "ab", "score": 0.0}]},
        {"id": "p2", "prompt": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Yo"},
                                {"role": "user", "content": "Upper 'x'."}],
         "scale": [0, 1], "responses": [{"text": "X", "score": 1.0}, {"text": "x", "score": 0.5}]},
    ])
    out = run_reviser_data(ReviserDataConfig(preferences=src, out=str(tmp_path / "rev" / "data.jsonl")))
    assert out == tmp_path / "rev" / "data.jsonl"
    rows = read_jsonl(out)
    # before the cap: KEEP 2, MINOR 1 (0.3), MAJOR 2 (1.0, 0.5); cap 0.3 of 3 revisions -> 1 KEEP
    assert sorted(r["level"] for r in rows) == ["KEEP", "MAJOR", "MAJOR", "MINOR"]
    stats = json.loads((tmp_path / "rev" / "data.stats.json").read_text())
    assert stats["kind"] == "scored" and stats["examples"] == 4 and stats["keep_dropped"] == 1
    p2 = next(r for r in rows if r["id"] == "p2:1")
    assert p2["prompt"][0]["content"] == "Draft: x\nUser: Hi\nAssistant: Yo\nUser: Upper 'x'."
    assert p2["completion"] == "[MAJOR]\nX"


def test_run_on_seft_pairs(tmp_path):
    src = write(tmp_path / "pairs.jsonl", [{"prompt": "Q", "chosen": "good", "rejected": "bad"}])
    out = run_reviser_data(ReviserDataConfig(preferences=src, out=str(tmp_path / "d.jsonl"),
                                             max_keep_share=0.5))
    assert [(r["level"], r["completion"]) for r in read_jsonl(out)] == \
        [("KEEP", "[KEEP]\ngood"), ("MAJOR", "[MAJOR]\ngood")]
    assert json.loads((tmp_path / "d.stats.json").read_text())["kind"] == "pairs"


def test_run_on_nectar_fixture(tmp_path):
    out = run_reviser_data(ReviserDataConfig(preferences=str(FIXTURES / "nectar.jsonl"),
                                             format="nectar", out=str(tmp_path / "n.jsonl")))
    stats = json.loads((tmp_path / "n.stats.json").read_text())
    # 3 prompts x 7 ranked answers: gaps (r-1)/6 -> 1 KEEP, 2 MINOR (1/6, 2/6), 4 MAJOR each;
    # the third prompt's 7th answer is empty (MAJOR anyway). 3/21 KEEP is under the 0.3 cap.
    assert stats["levels"] == {"KEEP": 3, "MINOR": 6, "MAJOR": 12}
    assert stats["empty_drafts"] == 1 and stats["prompts_used"] == 3
    assert len(read_jsonl(out)) == 21


def test_run_on_ultrafeedback_binarized_fixture(tmp_path):
    cfg = ReviserDataConfig(preferences=str(FIXTURES / "ultrafeedback_binarized.jsonl"),
                            format="ultrafeedback_binarized", out=str(tmp_path / "u.jsonl"),
                            pair_scale=(1, 10))
    rows = read_jsonl(run_reviser_data(cfg))
    # margins on 1-10: 6/9, 4.5/9, 7/9 -> all MAJOR; 3 KEEPs capped to 1 (0.3*3/0.7 = 1.3)
    assert sorted(r["level"] for r in rows) == ["KEEP", "MAJOR", "MAJOR", "MAJOR"]
    assert [r["gap"] for r in rows if r["level"] == "MAJOR"] == [0.666667, 0.5, 0.777778]
    assert rows[0]["prompt"][0]["content"].endswith("\nHow many legs does a spider have?")


def test_run_errors(tmp_path):
    src = write(tmp_path / "p.jsonl", [{"prompt": "Q", "responses": [{"text": "a", "score": 1},
                                                                      {"text": "b", "score": 1}]}])
    with pytest.raises(ConfigError, match="out: no output"):
        run_reviser_data(ReviserDataConfig(preferences=src))
    with pytest.raises(ConfigError, match="preferences: no preference"):
        run_reviser_data(ReviserDataConfig(out=str(tmp_path / "o.jsonl")))
    with pytest.raises(ConfigError, match="not preference data"):
        run_reviser_data(ReviserDataConfig(preferences=src, format="alpaca", out=str(tmp_path / "o.jsonl")))
    with pytest.raises(ConfigError, match="unknown format"):
        run_reviser_data(ReviserDataConfig(preferences=src, format="nope", out=str(tmp_path / "o.jsonl")))
    # two tied bests: only KEEPs, and a cap < 1 with nothing revised leaves no example
    with pytest.raises(DataError, match="no reviser examples"):
        run_reviser_data(ReviserDataConfig(preferences=src, out=str(tmp_path / "o.jsonl")))
    assert not (tmp_path / "o.jsonl").exists()
    odd = write(tmp_path / "odd.jsonl", [{"prompt": "Q"}])
    with pytest.raises(DataError, match="neither 'responses'"):
        run_reviser_data(ReviserDataConfig(preferences=odd, out=str(tmp_path / "o.jsonl")))


# ----------------------------------------------------------------------------- the adaptive options
def test_keep_target_tag_draft_teaches_copying():
    cfg = ReviserDataConfig(pair_scale=(0, 10), max_keep_share=1.0, keep_target="tag_draft")
    examples, _ = build_reviser_examples(records(), cfg)
    by_id = {e["id"]: e["completion"] for e in examples}
    assert by_id["A:0"] == "[KEEP]\na best" and by_id["A:1"] == "[KEEP]\na close"  # each KEEP copies its own draft
    assert by_id["A:2"] == "[MAJOR]\na best" and by_id["C:1"] == "[MINOR]\nc good"  # revisions are unchanged
    plain, _ = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), max_keep_share=1.0,
                                                                  keep_target="tag"))
    assert {e["id"]: e["completion"] for e in plain}["A:1"] == "[KEEP]"


def test_without_drafts_the_same_examples_become_a_teacher():
    """The 'SEFT without drafts' ablation: the same examples (ids, count, levels), an empty draft in
    every input, and the revision (MAJOR + the best response) as every target."""
    with_d, s1 = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=0))
    without, s2 = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=0, show_draft=False))
    assert [e["id"] for e in with_d] == [e["id"] for e in without] and s1["levels"] == s2["levels"]
    for e in without:
        q = {"A": "Q1", "B": "Q2", "C": "Q3"}[e["source_id"]]
        assert e["prompt"] == reviser_messages(q, "")  # no draft reaches the reviser
        best = {"A": "a best", "B": "b1", "C": "c good"}[e["source_id"]]
        assert e["completion"] == f"[MAJOR]\n{best}"
    assert any(e["completion"].startswith("[KEEP]") for e in with_d)  # while the real reviser keeps


def test_draft_dropout_hides_only_major_drafts_and_keeps_every_target():
    """draft_dropout 1: every MAJOR example shows an empty draft, nothing else changes (ids, levels,
    targets); KEEP and MINOR examples still show theirs. 0 (the default) changes nothing."""
    base, s0 = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=0))
    same, _ = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=0, draft_dropout=0.0))
    assert same == base and s0["drafts_dropped"] == 0
    full, s1 = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=0, draft_dropout=1.0))
    assert [(e["id"], e["level"], e["completion"]) for e in full] == [(e["id"], e["level"], e["completion"]) for e in base]
    majors = [e for e in full if e["level"] == "MAJOR"]
    assert len(majors) == 2 and s1["drafts_dropped"] == 2  # A's "a half" and "a bad"
    assert all(e["prompt"] == reviser_messages("Q1", "") for e in majors)
    assert all(e["prompt"] == b["prompt"] for e, b in zip(full, base) if e["level"] != "MAJOR")


def test_draft_dropout_is_seeded_per_example():
    """A share between 0 and 1 drops a seeded subset: the same seed drops the same examples even
    when other records are added, and the share is about the setting over many examples."""
    many = [ScoredList(id=f"R{i}", prompt=f"Q{i}", scale=(0, 10), responses=[
        ScoredResponse("best", 10), ScoredResponse(f"bad {i}", 0)]) for i in range(400)]
    cfg = ReviserDataConfig(pair_scale=(0, 10), seed=3, draft_dropout=0.5)
    ex, stats = build_reviser_examples(many, cfg)
    dropped = {e["id"] for e in ex if e["level"] == "MAJOR" and "bad" not in e["prompt"][0]["content"]}
    assert len(dropped) == stats["drafts_dropped"] and 160 < len(dropped) < 240
    ex2, _ = build_reviser_examples(many[200:] + many[:200], cfg)  # another order
    assert {e["id"] for e in ex2 if e["level"] == "MAJOR" and "bad" not in e["prompt"][0]["content"]} == dropped
    other, _ = build_reviser_examples(many, ReviserDataConfig(pair_scale=(0, 10), seed=4, draft_dropout=0.5))
    assert {e["id"] for e in other if e["level"] == "MAJOR" and "bad" not in e["prompt"][0]["content"]} != dropped


def test_answer_examples_add_empty_draft_answers_per_prompt():
    """answer_examples 2: each prompt gains two examples with no draft in view and MAJOR + its
    best response as the target; the drafts' own examples are unchanged, and the KEEP cap counts
    the new ones among the revisions (4 + 6 = 10 revisions: 0.3 * 10 / 0.7 -> 4 KEEPs allowed)."""
    base, s0 = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=0))
    more, s2 = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=0, answer_examples=2))
    assert s0["answer_examples"] == 0 and s2["answer_examples"] == 6
    extra = [e for e in more if ":answer" in e["id"]]
    assert [e["id"] for e in extra] == ["A:answer0", "A:answer1", "B:answer0", "B:answer1", "C:answer0", "C:answer1"]
    for e in extra:
        q, best = {"A": ("Q1", "a best"), "B": ("Q2", "b1"), "C": ("Q3", "c good")}[e["source_id"]]
        assert e["prompt"] == reviser_messages(q, "")
        assert (e["completion"], e["level"]) == (f"[MAJOR]\n{best}", "MAJOR")
    assert s2["levels"] == {"KEEP": 4, "MINOR": 2, "MAJOR": 8}
    own = [e for e in more if ":answer" not in e["id"]]
    assert [e for e in own if e["level"] != "KEEP"] == [e for e in base if e["level"] != "KEEP"]
    assert all(e == b for e in own for b in base if e["id"] == b["id"])  # a KEEP is the same example too
    # The teacher (no drafts) gets the same examples, which then read like its others.
    teach, _ = build_reviser_examples(records(), ReviserDataConfig(pair_scale=(0, 10), seed=0, answer_examples=2,
                                                                     show_draft=False))
    assert len(teach) == len(more) and {e["id"] for e in teach} == {e["id"] for e in more}
