"""Hand-worked values for the evaluation metrics."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seft.evaluation import (
    bootstrap_ci,
    length_controlled_win_rate,
    length_stats,
    mean_length,
    mt_bench_summary,
    text_length,
    win_rate,
)

# ---------------------------------------------------------------- win_rate


def test_win_rate_counts_ties_half_and_excludes_missing():
    prefs = [1, 0, 0.5, None, 1, 0.75]
    out = win_rate(prefs, seed=3)
    # judged: 1 + 0 + 0.5 + 1 + 0.75 = 3.25 over 5 prompts
    assert out["win_rate"] == pytest.approx(0.65)
    assert (out["n"], out["wins"], out["ties"], out["losses"], out["missing"]) == (5, 3, 1, 1, 1)
    lo, hi = bootstrap_ci([1, 0, 0.5, 1, 0.75], seed=3)  # the CI is stats.bootstrap_ci over judged prompts
    assert out["ci95"] == [round(lo, 6), round(hi, 6)]
    assert out["ci95"][0] <= out["win_rate"] <= out["ci95"][1]


def test_win_rate_all_ties_is_half_with_degenerate_interval():
    out = win_rate([0.5] * 4)
    assert out["win_rate"] == 0.5 and out["ci95"] == [0.5, 0.5] and out["ties"] == 4


@pytest.mark.parametrize("bad", [[1.5], [-0.1], [float("nan")], [None, None]])
def test_win_rate_rejects_out_of_range_and_all_missing(bad):
    with pytest.raises(ValueError):
        win_rate(bad)


# ---------------------------------------------------------------- length-controlled win rate


def test_lc_equals_raw_when_length_carries_no_signal():
    # Same outcomes (2 wins, 1 loss) among longer and shorter answers: the slope is exactly 0.
    prefs = [1, 1, 0, 1, 1, 0]
    model = [300, 300, 300, 100, 100, 100]
    ref = [200] * 6
    out = length_controlled_win_rate(prefs, model, ref, n_boot=50)
    assert out["win_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert out["lc_win_rate"] == pytest.approx(out["win_rate"], abs=1e-6)
    assert out["b1"] == pytest.approx(0.0, abs=1e-6)
    assert out["b0"] == pytest.approx(math.log(2), abs=1e-6)  # logit(2/3)


def test_lc_below_raw_when_model_wins_only_when_longer():
    # Longer on 7 prompts and wins them, shorter on 3 and loses them (separable).
    # With two feature values +-t and a large slope, the b0 gradient balances
    # 7 e^{-(b0 + b1 t)} against 3 e^{b0 - b1 t}, so b0 ~ ln(7/3) / 2 and lc ~ 0.605 < 0.7.
    prefs = [1] * 7 + [0] * 3
    model = [200] * 7 + [100] * 3
    ref = [100] * 7 + [200] * 3
    out = length_controlled_win_rate(prefs, model, ref, n_boot=100)
    assert out["win_rate"] == pytest.approx(0.7)
    assert out["b1"] > 3 and math.isfinite(out["b1"])  # the penalty keeps the separable slope finite
    assert out["b0"] == pytest.approx(0.5 * math.log(7 / 3), abs=0.01)
    assert out["lc_win_rate"] < out["win_rate"]
    assert out["ci95"][0] <= out["lc_win_rate"] <= out["ci95"][1]


def test_lc_above_raw_when_model_wins_only_when_shorter():
    prefs = [1] * 3 + [0] * 7
    model = [100] * 3 + [200] * 7
    ref = [200] * 3 + [100] * 7
    out = length_controlled_win_rate(prefs, model, ref, n_boot=50)
    assert out["b1"] < 0 and out["lc_win_rate"] > out["win_rate"] == pytest.approx(0.3)


@pytest.mark.parametrize("offset", [0, 40])
def test_constant_length_difference_falls_back_to_raw(offset):
    # std of the differences is 0: length and quality cannot be separated, so no length term.
    prefs = [1, 0, 1, 1, 0.5]
    out = length_controlled_win_rate(prefs, [100 + offset] * 5, [100] * 5, n_boot=50)
    assert out["b1"] == 0.0
    assert out["lc_win_rate"] == pytest.approx(out["win_rate"]) == pytest.approx(0.7)


def test_all_ties_is_half():
    out = length_controlled_win_rate([0.5] * 6, [10, 20, 30, 40, 50, 60], [30] * 6, n_boot=50)
    assert (out["lc_win_rate"], out["b0"], out["b1"], out["ci95"]) == (0.5, 0.0, 0.0, [0.5, 0.5])


def test_all_wins_gives_one_and_finite_intercept():
    out = length_controlled_win_rate([1, 1, 1], [10, 50, 90], [50] * 3, n_boot=20)
    assert out["lc_win_rate"] == 1.0 and out["ci95"] == [1.0, 1.0]
    assert math.isfinite(out["b0"]) and out["b0"] > 0


def test_missing_preferences_are_dropped_with_their_lengths():
    full = length_controlled_win_rate([1, 0, 1, 0.5], [120, 80, 150, 100], [100] * 4, n_boot=50)
    gappy = length_controlled_win_rate([1, None, 0, 1, None, 0.5], [120, 999, 80, 150, 1, 100], [100] * 6,
                                       n_boot=50)
    assert gappy["missing"] == 2 and gappy["n"] == 4
    assert {k: v for k, v in gappy.items() if k != "missing"} == {k: v for k, v in full.items() if k != "missing"}


def test_newton_fit_matches_grid_search_of_penalised_likelihood():
    prefs = [0, 1, 0.5, 0.7, 1]
    model, ref = [10, 20, 30, 40, 50], [30] * 5
    l2 = 0.01
    out = length_controlled_win_rate(prefs, model, ref, n_boot=10, l2=l2)
    # Hand standardisation: d = [-20, -10, 0, 10, 20], sample std = sqrt(1000 / 4) = sqrt(250).
    x = np.tanh(np.array([-20, -10, 0, 10, 20]) / math.sqrt(250))
    y = np.array(prefs, dtype=float)
    assert x[4] == pytest.approx(0.8524, abs=1e-4)

    def objective(b0, b1):  # penalised negative log-likelihood with soft labels
        z = b0[..., None] + b1[..., None] * x
        return np.sum(np.logaddexp(0, z) - y * z, axis=-1) + 0.5 * l2 * b1 ** 2

    step = 0.005
    g0, g1 = np.meshgrid(np.arange(-1, 3, step), np.arange(-2, 5, step), indexing="ij")
    vals = objective(g0, g1)
    i, j = np.unravel_index(np.argmin(vals), vals.shape)
    assert out["b0"] == pytest.approx(g0[i, j], abs=step)
    assert out["b1"] == pytest.approx(g1[i, j], abs=step)
    fit = objective(np.array(out["b0"]), np.array(out["b1"]))
    assert fit <= vals[i, j] + 1e-9  # Newton finds the exact optimum, at least as good as any grid point
    assert out["lc_win_rate"] == pytest.approx(1 / (1 + math.exp(-out["b0"])), abs=1e-6)
    assert out["win_rate"] == pytest.approx(0.64)


def test_lc_bootstrap_is_seeded():
    args = ([1, 0, 1, 0.5, 1, 0], [120, 80, 150, 100, 90, 60], [100] * 6)
    assert length_controlled_win_rate(*args, seed=1) == length_controlled_win_rate(*args, seed=1)


def test_lc_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        length_controlled_win_rate([1, 0], [10], [10, 20])


@pytest.mark.parametrize("which", ["model", "reference"])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), -1, "12", None, True])
def test_lc_rejects_a_bad_length_naming_its_index(which, bad, recwarn):
    # One bad number used to switch the length term off (b1 = 0, the raw win rate) with no error,
    # and inf flooded the log with numpy warnings.
    model, reference = [120, 80, 150, 100], [100, 100, 100, 100]
    (model if which == "model" else reference)[2] = bad
    with pytest.raises(ValueError, match=rf"{which}_lengths\[2\] is"):
        length_controlled_win_rate([1, 0, 1, 0.5], model, reference, n_boot=10)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_lc_bad_length_of_an_unjudged_prompt_is_still_an_error():
    # A None preference drops the prompt from the fit, but a NaN beside it is still a caller bug.
    with pytest.raises(ValueError, match=r"model_lengths\[1\]"):
        length_controlled_win_rate([1, None, 0, 1], [120, float("nan"), 80, 90], [100] * 4, n_boot=10)


def test_lc_zero_lengths_are_valid():
    out = length_controlled_win_rate([1, 0, 1, 0], [0, 0, 10, 10], [0, 10, 0, 10], n_boot=10)
    assert 0.0 <= out["lc_win_rate"] <= 1.0


def test_empty_and_all_missing_inputs_say_which():
    with pytest.raises(ValueError, match="no preferences: the input is empty"):
        length_controlled_win_rate([], [], [])
    with pytest.raises(ValueError, match="no preferences: the input is empty"):
        win_rate([])
    with pytest.raises(ValueError, match="all 2 preferences are None"):
        length_controlled_win_rate([None, None], [1, 2], [3, 4])


# ---------------------------------------------------------------- MT-Bench


def test_mt_bench_summary_hand_worked():
    ratings = [
        {"turn": 1, "score": 8, "category": "writing"},
        {"turn": 2, "score": 6, "category": "writing"},
        {"turn": 1, "score": 4, "category": "math"},
        {"turn": 2, "score": None, "category": "math"},
        {"turn": 1, "score": 9, "category": "coding"},
        {"turn": 2, "score": 7, "category": "coding"},
        {"turn": 1, "score": None, "category": "roleplay"},
    ]
    out = mt_bench_summary(ratings)
    assert out["turn_1"] == pytest.approx((8 + 4 + 9) / 3)  # 7.0
    assert out["turn_2"] == pytest.approx((6 + 7) / 2)  # 6.5
    assert out["overall"] == pytest.approx(34 / 5)  # 6.8, mean over rated turns, not of the turn means
    assert out["per_category"] == {"coding": 8.0, "math": 4.0, "roleplay": None, "writing": 7.0}
    assert (out["n"], out["missing"]) == (5, 2)


def test_mt_bench_summary_without_second_turns():
    out = mt_bench_summary([{"turn": 1, "score": 5.5, "category": "stem"}])
    assert (out["turn_1"], out["turn_2"], out["overall"]) == (5.5, None, 5.5)


@pytest.mark.parametrize("bad", [{"turn": 3, "score": 5, "category": "x"}, {"turn": 1, "score": -1, "category": "x"},
                                 {"turn": 1, "score": 11, "category": "x"}])
def test_mt_bench_summary_rejects_bad_ratings(bad):
    with pytest.raises(ValueError):
        mt_bench_summary([bad])


# ---------------------------------------------------------------- lengths


def test_lengths_in_chars_and_words():
    texts = ["a bc", "hello world foo", "x"]
    assert [text_length(t) for t in texts] == [4, 15, 1]
    assert mean_length(texts) == pytest.approx(20 / 3, abs=1e-6)
    assert mean_length(texts, unit="words") == pytest.approx(2.0)  # 2 + 3 + 1 words
    assert length_stats(texts) == {"mean": round(20 / 3, 6), "median": 4.0, "n": 3}
    assert length_stats(["ab", "abcd"], unit="chars")["median"] == 3.0


def test_lengths_reject_empty_and_unknown_unit():
    with pytest.raises(ValueError):
        mean_length([])
    with pytest.raises(ValueError):
        length_stats([])
    with pytest.raises(ValueError):
        mean_length(["a"], unit="tokens")
