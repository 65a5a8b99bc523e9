"""Evaluation metrics: pairwise win rates (raw and length-controlled), MT-Bench summaries, lengths.

All functions are pure: they take per-prompt judgments already produced by a judge and return
plain dicts that can go straight into a JSON report. Confidence intervals resample prompts.
"""
from __future__ import annotations

import math
import statistics
from typing import Literal, Sequence

import numpy as np

from .stats import bootstrap_ci

__all__ = ["win_rate", "length_controlled_win_rate", "mt_bench_summary", "text_length", "mean_length",
           "length_stats"]

LengthUnit = Literal["chars", "words"]

# A model that wins (or loses) every prompt has no finite maximum-likelihood intercept; we report
# this value instead of +-inf so the result stays valid JSON. sigmoid(30) = 1 - 1e-13.
_B0_CAP = 30.0


def _r(x: float) -> float:
    # Same precision as ``stats.summarize`` so every summary.json number looks alike.
    return round(float(x), 6)


def _judged(preferences: Sequence[float | None]) -> tuple[list[int], list[float]]:
    """Indices and values of the judged prompts; values are checked to lie in [0, 1]."""
    idx, vals = [], []
    for i, p in enumerate(preferences):
        if p is None:
            continue
        p = float(p)
        if not 0.0 <= p <= 1.0:  # also rejects NaN
            raise ValueError(f"preference {i} is {p!r}; expected a value in [0, 1] or None")
        idx.append(i)
        vals.append(p)
    if not preferences:
        raise ValueError("no preferences: the input is empty")
    if not vals:
        raise ValueError(f"no judged prompts: all {len(preferences)} preferences are None")
    return idx, vals


def _lengths(values: Sequence[float], name: str) -> np.ndarray:
    """Lengths as floats, checked like preferences: a NaN, inf or negative length is a bug in the
    caller and would silently switch the length correction off (a NaN std makes the feature 0)."""
    out = np.empty(len(values), dtype=float)
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
            raise ValueError(f"{name}[{i}] is {v!r}; expected a number")
        if not math.isfinite(float(v)) or v < 0:
            raise ValueError(f"{name}[{i}] is {float(v)!r}; expected a finite length >= 0")
        out[i] = float(v)
    return out


def win_rate(preferences: Sequence[float | None], *, seed: int = 0, n_boot: int = 2000) -> dict:
    """Win rate of a model over a reference, with a bootstrap interval over prompts.

    ``preferences[i]`` is the judged probability that the model's answer beats the reference on
    prompt ``i``: 1 = win, 0 = loss, 0.5 = tie, anything in between a soft preference. ``None``
    means the judge gave no verdict; such prompts are excluded and counted in ``"missing"``.

    The win rate is the mean preference, so ties count half. ``wins`` / ``ties`` / ``losses``
    count preferences above, equal to and below 0.5 (a soft 0.75 is a win in the counts, but
    contributes 0.75, not 1, to the rate).
    """
    _, vals = _judged(preferences)
    lo, hi = bootstrap_ci(vals, n_boot=n_boot, seed=seed)
    return {
        "win_rate": _r(sum(vals) / len(vals)),
        "ci95": [_r(lo), _r(hi)],
        "n": len(vals),
        "wins": sum(v > 0.5 for v in vals),
        "ties": sum(v == 0.5 for v in vals),
        "losses": sum(v < 0.5 for v in vals),
        "missing": len(preferences) - len(vals),
    }


def _length_feature(delta: np.ndarray) -> np.ndarray:
    """``tanh(delta / std(delta))`` -- AlpacaEval's squashed, standardised length difference.

    Not centred: d = 0 must keep meaning "equal lengths", since that is where we predict. If the
    differences do not vary (std 0, or one prompt) a length effect cannot be told apart from
    quality, so the feature is 0 and the fit falls back to the raw win rate.
    """
    std = float(np.std(delta, ddof=1)) if delta.size > 1 else 0.0  # ddof=1 as pandas, as AlpacaEval
    if not math.isfinite(std) or std == 0.0:
        return np.zeros_like(delta, dtype=float)
    return np.tanh(delta / std)


def _penalised_nll(b0: float, b1: float, x: np.ndarray, y: np.ndarray, l2: float) -> float:
    z = b0 + b1 * x
    # -[y log s(z) + (1-y) log s(-z)] == log(1 + e^z) - y z, stable for any z.
    return float(np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * b1 * b1)


def _fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, *, max_iter: int = 100,
                  tol: float = 1e-10) -> tuple[float, float]:
    """Maximum-likelihood ``(b0, b1)`` of ``P(y) = sigmoid(b0 + b1 x)`` with soft labels ``y``.

    Newton's method with step halving. The L2 penalty on ``b1`` keeps the slope finite when the
    length feature separates wins from losses; the intercept is finite whenever 0 < mean(y) < 1,
    which is checked first. The penalised Hessian is positive definite (det >= l2 * sum(w) > 0),
    so every Newton direction is a descent direction.
    """
    ybar = float(np.mean(y))
    if ybar <= 0.0 or ybar >= 1.0:
        return (math.copysign(_B0_CAP, ybar - 0.5), 0.0)
    b = np.array([math.log(ybar / (1.0 - ybar)), 0.0])  # exact optimum when x carries no signal
    X = np.column_stack([np.ones_like(x), x])
    pen = np.array([0.0, l2])
    f = _penalised_nll(b[0], b[1], x, y, l2)
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-(X @ b)))
        grad = X.T @ (p - y) + pen * b
        w = p * (1.0 - p)
        hess = X.T @ (X * w[:, None]) + np.diag(pen)
        step = np.linalg.solve(hess, grad)
        t = 1.0
        while True:  # halve until the objective does not go up; at round-off level we are done
            cand = b - t * step
            f_new = _penalised_nll(cand[0], cand[1], x, y, l2)
            if f_new <= f + 1e-12:
                break
            t *= 0.5
            if t < 1e-8:
                return float(b[0]), float(b[1])
        b, f = cand, f_new
        if np.max(np.abs(t * step)) < tol:
            break
    return float(b[0]), float(b[1])


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z))


def length_controlled_win_rate(preferences: Sequence[float | None], model_lengths: Sequence[float],
                               reference_lengths: Sequence[float], *, seed: int = 0, n_boot: int = 500,
                               l2: float = 0.01) -> dict:
    """Win rate the model would have if its answers were as long as the reference's.

    Fits ``P(model preferred) = sigmoid(b0 + b1 * tanh(d))`` by penalised maximum likelihood,
    where ``d = (len_model - len_ref) / std(len_model - len_ref)`` over the judged prompts and
    the (possibly soft) preferences are the labels, then reports ``sigmoid(b0)``: the prediction
    at ``d = 0``. ``l2`` is a small ridge penalty on ``b1`` only, so separable data (the model
    wins exactly when it is longer) still gives a finite fit. Prompts whose preference is
    ``None`` are dropped. The interval is a percentile bootstrap over prompts that re-standardises
    and refits on every resample.

    How this differs from AlpacaEval 2.0's LC win rate: AlpacaEval fits one GLM over many models
    on its fixed 805 instructions, with the same ``tanh`` length term, a per-model intercept, and
    an instruction-difficulty term (a per-instruction effect estimated from all those models),
    regularised towards deliberately length-gamed baselines. We compare two models on arbitrary
    prompts, so there is no pool of models to estimate difficulty from and no difficulty term:
    ``b0`` absorbs the average difficulty, and numbers are not comparable to the leaderboard.

    Returns ``{"lc_win_rate", "ci95", "win_rate", "b0", "b1", "n", "missing"}``.
    """
    if not len(preferences) == len(model_lengths) == len(reference_lengths):
        raise ValueError("preferences, model_lengths and reference_lengths must have the same length")
    model, reference = _lengths(model_lengths, "model_lengths"), _lengths(reference_lengths, "reference_lengths")
    idx, vals = _judged(preferences)
    y = np.asarray(vals, dtype=float)
    delta = model[idx] - reference[idx]

    b0, b1 = _fit_logistic(_length_feature(delta), y, l2)

    rng = np.random.default_rng(seed)
    n = y.size
    boot = np.empty(n_boot)
    for k in range(n_boot):
        s = rng.integers(0, n, size=n)
        boot[k] = _sigmoid(_fit_logistic(_length_feature(delta[s]), y[s], l2)[0])
    boot.sort()
    # Same percentile convention as stats.bootstrap_ci.
    lo, hi = boot[int(0.025 * n_boot)], boot[min(n_boot - 1, int(0.975 * n_boot))]
    return {
        "lc_win_rate": _r(_sigmoid(b0)),
        "ci95": [_r(lo), _r(hi)],
        "win_rate": _r(float(np.mean(y))),
        "b0": _r(b0),
        "b1": _r(b1),
        "n": n,
        "missing": len(preferences) - n,
    }


def _mean(xs: Sequence[float]) -> float | None:
    # None rather than an error: a run may legitimately have no rated second turns.
    return _r(sum(xs) / len(xs)) if xs else None


def mt_bench_summary(ratings: Sequence[dict]) -> dict:
    """Per-turn, overall and per-category means of MT-Bench judge ratings.

    Each rating is ``{"turn": 1 | 2, "score": float in [1, 10] | None, "category": str}``;
    ``None`` means the judge's rating could not be parsed, and is counted in ``"missing"``.
    ``"overall"`` is the mean over all rated turns (as MT-Bench reports it), not the mean of the
    two turn means, and each category's value likewise averages its rated turns of both kinds.
    Means with nothing rated are ``None``.
    """
    by_turn: dict[int, list[float]] = {1: [], 2: []}
    by_cat: dict[str, list[float]] = {}
    missing = 0
    for i, r in enumerate(ratings):
        turn, score, cat = r["turn"], r["score"], r["category"]
        if turn not in (1, 2):
            raise ValueError(f"rating {i}: turn must be 1 or 2, got {turn!r}")
        by_cat.setdefault(cat, [])  # a category with only missing scores still shows up, as None
        if score is None:
            missing += 1
            continue
        score = float(score)
        if not 1.0 <= score <= 10.0:  # catches parser sentinels such as -1 and NaN
            raise ValueError(f"rating {i}: score must be in [1, 10] or None, got {score!r}")
        by_turn[turn].append(score)
        by_cat[cat].append(score)
    rated = by_turn[1] + by_turn[2]
    return {
        "turn_1": _mean(by_turn[1]),
        "turn_2": _mean(by_turn[2]),
        "overall": _mean(rated),
        "per_category": {c: _mean(v) for c, v in sorted(by_cat.items())},
        "n": len(rated),
        "missing": missing,
    }


def text_length(text: str, unit: LengthUnit = "chars") -> int:
    """Length of one answer in characters or whitespace-separated words (tokenizer-free)."""
    if unit == "chars":
        return len(text)
    if unit == "words":
        return len(text.split())
    raise ValueError(f"unit must be 'chars' or 'words', got {unit!r}")


def mean_length(texts: Sequence[str], *, unit: LengthUnit = "chars") -> float:
    """Mean answer length; see :func:`text_length` for the units."""
    if not texts:
        raise ValueError("mean_length needs at least one text")
    return _r(sum(text_length(t, unit) for t in texts) / len(texts))


def length_stats(texts: Sequence[str], *, unit: LengthUnit = "chars") -> dict:
    """``{"mean", "median", "n"}`` of answer lengths; the median resists a few runaway answers."""
    if not texts:
        raise ValueError("length_stats needs at least one text")
    lengths = [text_length(t, unit) for t in texts]
    return {"mean": _r(sum(lengths) / len(lengths)), "median": _r(statistics.median(lengths)), "n": len(lengths)}
