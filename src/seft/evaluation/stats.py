"""Small statistics used by every report: means with bootstrap confidence intervals."""
from __future__ import annotations

import random
from typing import Sequence

__all__ = ["bootstrap_ci", "summarize"]


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
