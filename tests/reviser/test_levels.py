"""Revision levels: gaps, thresholds and every edge case, with hand-worked values."""
import pytest

from seft.config.reviser import ReviserDataConfig
from seft.data.errors import DataError
from seft.data.schema import PreferencePair, ScoredList, ScoredResponse
from seft.reviser.levels import assign_level, levels_for_pair, levels_for_scored_list, normalised_gaps, rank_gaps

CFG = ReviserDataConfig()  # keep_gap 0.05, major_gap 0.4, pair_level MAJOR, missing_score skip


def scored(texts, scores=None, ranks=None, scale=(0, 10), rid="r1"):
    n = len(texts)
    scores, ranks = scores or [None] * n, ranks or [None] * n
    return ScoredList(id=rid, prompt="Q?", scale=scale,
                      responses=[ScoredResponse(text=t, score=s, rank=r)
                                 for t, s, r in zip(texts, scores, ranks)])


def summary(res):
    return [(a.index, a.level, pytest.approx(a.gap), a.reason) for a in res.items]


# ----------------------------------------------------------------------------- gaps
def test_normalised_gaps_with_scale():
    assert normalised_gaps([8, 6, 10, None], scale=(0, 10)) == pytest.approx([0.2, 0.4, 0.0, None])


def test_normalised_gaps_observed_range():
    # range 10 - 6 = 4: (10-8)/4, (10-6)/4, 0
    assert normalised_gaps([8, 6, 10], scale=None) == pytest.approx([0.5, 1.0, 0.0])


def test_normalised_gaps_all_equal_and_all_missing():
    assert normalised_gaps([3, 3], scale=None) == [0.0, 0.0]
    assert normalised_gaps([3, None, 3], scale=(1, 10)) == [0.0, None, 0.0]
    assert normalised_gaps([None, None], scale=None) == [None, None]


def test_normalised_gaps_clamped_to_unit_interval():
    # 12 is outside the declared scale: (12 - 0) / 10 = 1.2 would break the thresholds
    assert normalised_gaps([12, 0], scale=(0, 10)) == [0.0, 1.0]


def test_rank_gaps():
    assert rank_gaps([1, 2, 3, 4, 5]) == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    assert rank_gaps([2, 1, None]) == [1.0, 0.0, None]  # K = 2 ranked responses
    assert rank_gaps([3]) == [0.0]
    assert rank_gaps([None]) == [None]
    assert rank_gaps([1, 2, 7]) == [0.0, 0.5, 1.0]  # (7-1)/2 = 3 clamps to 1


def test_assign_level_boundaries():
    assert assign_level(0.0, 0.05, 0.4) == "KEEP"
    assert assign_level(0.05, 0.05, 0.4) == "KEEP"
    assert assign_level(0.0501, 0.05, 0.4) == "MINOR"
    assert assign_level(0.4, 0.05, 0.4) == "MINOR"
    assert assign_level(0.41, 0.05, 0.4) == "MAJOR"
    assert assign_level(0.3, 0.3, 0.3) == "KEEP"
    assert assign_level(0.31, 0.3, 0.3) == "MAJOR"


# ----------------------------------------------------------------------------- scored lists
def test_scored_list_levels():
    rec = scored(["a", "b", "c", "d", "e"], scores=[6, 10, 9.8, 8, 1])
    res = levels_for_scored_list(rec, CFG)
    assert res.target == "b"
    assert summary(res) == [(0, "MINOR", 0.4, "gap"), (1, "KEEP", 0.0, "best"),
                            (2, "KEEP", 0.02, "gap"), (3, "MINOR", 0.2, "gap"),
                            (4, "MAJOR", 0.9, "gap")]
    assert (res.duplicates, res.empty, res.missing, res.why) == (0, 0, 0, None)


def test_ties_for_best_all_keep_first_is_target():
    rec = scored(["x", "y", "z"], scores=[9, 7, 9], scale=None)  # observed range 2
    res = levels_for_scored_list(rec, CFG)
    assert res.target == "x"
    assert summary(res) == [(0, "KEEP", 0.0, "best"), (1, "MAJOR", 1.0, "gap"),
                            (2, "KEEP", 0.0, "gap")]


def test_duplicates_kept_once():
    rec = scored(["a", "b", " a ", "b"], scores=[5, 10, 5, 3])
    res = levels_for_scored_list(rec, CFG)
    assert res.target == "b"
    # index 3 repeats the target's text, index 2 repeats index 0 (after stripping)
    assert summary(res) == [(0, "MAJOR", 0.5, "gap"), (1, "KEEP", 0.0, "best")]
    assert res.duplicates == 2


def test_duplicate_of_target_listed_first_is_dropped():
    res = levels_for_scored_list(scored(["b", "b"], scores=[3, 10]), CFG)
    assert res.target == "b"
    assert summary(res) == [(1, "KEEP", 0.0, "best")]
    assert res.duplicates == 1


def test_empty_draft_is_major_whatever_its_score():
    rec = scored(["", "good", "  "], scores=[9.9, 10, 1])
    res = levels_for_scored_list(rec, CFG)
    assert res.target == "good"
    # gap 0.01 would be KEEP for a real draft; "  " is a duplicate of "" once stripped
    assert summary(res) == [(0, "MAJOR", 0.01, "empty"), (1, "KEEP", 0.0, "best")]
    assert (res.empty, res.duplicates) == (1, 1)


def test_empty_best_yields_nothing():
    res = levels_for_scored_list(scored(["  ", "ok"], scores=[10, 5]), CFG)
    assert res.target is None and res.items == [] and res.why == "empty_best"


def test_tied_best_skips_empty_for_target():
    res = levels_for_scored_list(scored(["", "x"], scores=[10, 10]), CFG)
    assert res.target == "x"
    assert summary(res) == [(0, "MAJOR", 0.0, "empty"), (1, "KEEP", 0.0, "best")]


def test_ranks_used_when_no_scores():
    res = levels_for_scored_list(scored(["a", "b", "c"], ranks=[2, 1, 3], scale=None), CFG)
    assert res.target == "b"
    assert summary(res) == [(0, "MAJOR", 0.5, "gap"), (1, "KEEP", 0.0, "best"),
                            (2, "MAJOR", 1.0, "gap")]


def test_scores_preferred_over_ranks_when_complete():
    # the two signals disagree; scores win because every response has one
    res = levels_for_scored_list(scored(["a", "b"], scores=[10, 9.9], ranks=[2, 1]), CFG)
    assert res.target == "a"


def test_partial_scores_but_complete_ranks_use_ranks():
    res = levels_for_scored_list(scored(["a", "b"], scores=[None, 5], ranks=[1, 2]), CFG)
    assert res.target == "a" and res.missing == 0
    assert summary(res) == [(0, "KEEP", 0.0, "best"), (1, "MAJOR", 1.0, "gap")]


def test_missing_scores_skipped_and_counted():
    res = levels_for_scored_list(scored(["a", "b", "c"], scores=[10, None, 5], scale=None), CFG)
    assert res.missing == 1
    assert summary(res) == [(0, "KEEP", 0.0, "best"), (2, "MAJOR", 1.0, "gap")]


def test_majority_signal_used_when_both_partial():
    rec = scored(["a", "b", "c"], scores=[10, None, None], ranks=[None, 1, 2])
    res = levels_for_scored_list(rec, CFG)
    assert res.target == "b" and res.missing == 1
    assert summary(res) == [(1, "KEEP", 0.0, "best"), (2, "MAJOR", 1.0, "gap")]


def test_no_scores_at_all():
    res = levels_for_scored_list(scored(["a", "b"], scale=None), CFG)
    assert (res.target, res.why, res.missing) == (None, "no_scores", 2)


def test_missing_score_error_names_record_and_response():
    cfg = ReviserDataConfig(missing_score="error")
    with pytest.raises(DataError, match=r"record 'p7': response 1 has no score") as err:
        levels_for_scored_list(scored(["a", "b", "c"], scores=[10, None, 5], rid="p7"), cfg)
    assert err.value.field == "responses[1]"


# ----------------------------------------------------------------------------- pairs
def pair(chosen="good", rejected="bad", cs=None, rs=None):
    return PreferencePair(id="p", prompt="Q?", chosen=chosen, rejected=rejected,
                          chosen_score=cs, rejected_score=rs)


@pytest.mark.parametrize("cs, rs, level, gap", [(9, 3, "MAJOR", 0.6), (9, 7, "MINOR", 0.2),
                                                (9, 9, "KEEP", 0.0), (9, 10, "KEEP", 0.0)])
def test_pair_margin(cs, rs, level, gap):
    res = levels_for_pair(pair(cs=cs, rs=rs), CFG, scale=(0, 10))
    assert res.target == "good"
    assert summary(res) == [(0, "KEEP", 0.0, "chosen"), (1, level, gap, "margin")]


def test_pair_without_scores_uses_pair_level():
    assert summary(levels_for_pair(pair(), CFG, scale=(0, 10)))[1] == (1, "MAJOR", 1.0, "pair_default")
    minor = ReviserDataConfig(pair_level="MINOR")
    assert summary(levels_for_pair(pair(cs=9), minor, scale=(0, 10)))[1] == (1, "MINOR", 0.4, "pair_default")
    # scores but no scale to measure the margin on
    assert summary(levels_for_pair(pair(cs=9, rs=1), minor, scale=None))[1][1] == "MINOR"


def test_pair_identical_rejected_is_duplicate():
    res = levels_for_pair(pair(rejected=" good\n", cs=9, rs=2), CFG, scale=(0, 10))
    assert summary(res) == [(0, "KEEP", 0.0, "chosen")] and res.duplicates == 1


def test_pair_empty_sides():
    res = levels_for_pair(pair(chosen=" "), CFG, scale=None)
    assert res.target is None and res.why == "empty_best"
    res = levels_for_pair(pair(rejected="", cs=9, rs=8.9), CFG, scale=(0, 10))
    assert summary(res)[1] == (1, "MAJOR", 1.0, "empty") and res.empty == 1
