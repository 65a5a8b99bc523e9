"""Small statistics used by every report: means with bootstrap confidence intervals over prompts,
and Student t-intervals over runs (seeds)."""
from __future__ import annotations

import math
import random
import statistics
from typing import Sequence

__all__ = ["bootstrap_ci", "summarize", "t_interval"]

# t_{0.975, df} for df = 1..30; beyond, the normal 1.96 is within 2%.
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def bootstrap_ci(values: Sequence[float], *, n_boot: int = 2000, alpha: float = 0.05,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, resampling items (prompts) with replacement."""
    if not values:
        raise ValueError("bootstrap_ci needs at least one value")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(n_boot))
    lo = means[int(alpha / 2 * n_boot)]
    hi = means[min(n_boot - 1, int((1 - alpha / 2) * n_boot))]
    return lo, hi


def summarize(values: Sequence[float | None], *, seed: int = 0) -> dict:
    """``{"score", "ci95": [lo, hi], "n"}`` — the contract of eval/summary.json.

    ``None`` is a judgment that failed (an API judge out of retries): it is left out of the mean,
    never counted as 0, and the summary then says how many with ``"missing"``."""
    judged = [v for v in values if v is not None]
    if not judged:
        raise ValueError(f"no judged value to summarize ({len(values)} missing)")
    lo, hi = bootstrap_ci(judged, seed=seed)
    out = {"score": round(sum(judged) / len(judged), 6), "ci95": [round(lo, 6), round(hi, 6)], "n": len(judged)}
    if len(judged) < len(values):
        out["missing"] = len(values) - len(judged)
    return out


def t_interval(values: Sequence[float]) -> list[float]:
    """95% Student t-interval of the mean of ``values`` (two or more)."""
    n = len(values)
    if n < 2:
        raise ValueError("a t-interval needs at least two values")
    m, sd = statistics.fmean(values), statistics.stdev(values)
    half = (_T975[n - 2] if n - 1 <= len(_T975) else 1.96) * sd / math.sqrt(n)
    return [round(m - half, 6), round(m + half, 6)]
