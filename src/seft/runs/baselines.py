"""``seft baseline``: SFT, DPO and ORPO trained from the same base policy on the same annotated
preference data the reviser saw, so SEFT can be compared with them at a known cost.

The baselines read the data exactly as the reviser's data builder does, through the same
functions of :mod:`seft.reviser.levels`:

- **the best response** of a scored list is the reviser's target: the FIRST non-empty response
  with the best score (or rank, when not every response has a score); a pair's chosen response.
  A prompt whose best responses are all empty, or that has no usable score, yields nothing.
- **duplicates** (same text after stripping whitespace) count once, first occurrence; a copy of
  the best is the best, never a rejected.
- **ties** are no preference: a response pairs as rejected only if its normalised gap to the best
  exceeds ``min_gap`` (default 0: strictly worse). For pair records the gap is the score margin
  over the scale when both scores are known (a tie or a contradicting score gives none), else the
  stated preference stands.
- **empty responses** are never chosen and always rejectable, with gap 1 (the reviser levels them
  MAJOR whatever their score): an empty answer is as bad as an answer gets.
- **missing scores**: skipped (counted) or an error, as ``missing_score`` says.

``best_vs_worst`` pairs the best with the response of largest gap (first in list order on a tie);
``best_vs_each`` with every distinct worse response. SFT trains on the best response of every
prompt that has one, so it may use prompts DPO/ORPO cannot (all-tie lists).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..config.core import ConfigError
from ..config.reviser import ReviserDataConfig
from ..config.stages import BaselineConfig
from ..data.errors import DataError
from ..data.io import atomic_write_json, write_jsonl
from ..data.readers import load_records
from ..reviser.data import infer_pair_scale, preference_kind
from ..reviser.levels import RecordLevels, levelled_records

__all__ = ["COST_FILE", "DATA_FILE", "PAIR_MODES", "pairs_from_records", "run_baseline", "sft_examples_from_records"]

log = logging.getLogger(__name__)

PAIR_MODES = ("best_vs_worst", "best_vs_each")
COST_FILE = "cost.json"
DATA_FILE = "baseline_data.jsonl"


def _stats(records: list) -> dict:
    return {"records": len(records), "prompts_used": 0, "duplicates": 0, "skipped_missing_score": 0,
            "prompts_empty_best": 0, "prompts_no_scores": 0}


def _levelled(records: list, stats: dict, missing_score: str, pair_scale) -> Iterator[tuple[object, RecordLevels, int, list]]:
    """(record, its levels, index of the best response, response texts) for every record with a best."""
    # Only the gaps and reasons of levels.py are used here, not its KEEP/MINOR/MAJOR thresholds;
    # pair_level MAJOR makes an unscored pair's rejected gap 1.0 ("worse, by how much unknown").
    lcfg = ReviserDataConfig(missing_score=missing_score, pair_level="MAJOR")
    scale = infer_pair_scale(records, pair_scale)
    for rec, res, texts in levelled_records(records, lcfg, pair_scale=scale, stats=stats):
        best = next(a.index for a in res.items if a.reason in ("best", "chosen"))
        yield rec, res, best, texts


def sft_examples_from_records(records: Iterable, *, missing_score: str = "skip",
                              pair_scale: tuple[float, float] | None = None) -> tuple[list[dict], dict]:
    """One SFT example per prompt: ``{"id", "prompt", "completion": best response, "source_id"}``.

    Pure; returns ``(examples, stats)``. See the module doc for how the best response is found."""
    records = list(records)
    stats = _stats(records)
    examples = []
    for rec, res, best, _texts in _levelled(records, stats, missing_score, pair_scale):
        stats["prompts_used"] += 1
        examples.append({"id": f"{rec.id}:{best}", "prompt": rec.prompt, "completion": res.target,
                         "source_id": rec.id})
    stats["examples"] = len(examples)
    return examples, stats


def pairs_from_records(records: Iterable, mode: str = "best_vs_worst", *, min_gap: float = 0.0,
                       missing_score: str = "skip",
                       pair_scale: tuple[float, float] | None = None) -> tuple[list[dict], dict]:
    """Preference pairs ``{"id": "<record>:<chosen index>-<rejected index>", "prompt", "chosen",
    "rejected", "gap", "source_id"}`` (for pair records chosen is index 0, rejected 1).

    Pure; returns ``(pairs, stats)``. ``mode``: ``best_vs_worst`` or ``best_vs_each``; see the
    module doc for ties, duplicates, empty responses and missing scores."""
    if mode not in PAIR_MODES:
        raise ValueError(f"mode must be one of {PAIR_MODES}, got {mode!r}")
    records = list(records)
    stats = {**_stats(records), "prompts_no_rejected": 0, "empty_rejected": 0}
    pairs = []
    for rec, res, best, texts in _levelled(records, stats, missing_score, pair_scale):
        # items hold one entry per distinct text (duplicates already dropped), in list order
        worse = [(1.0 if a.reason == "empty" else a.gap, a.index) for a in res.items
                 if a.index != best and (a.reason == "empty" or a.gap > min_gap)]
        if not worse:
            stats["prompts_no_rejected"] += 1
            continue
        if mode == "best_vs_worst":
            top = max(g for g, _ in worse)
            worse = [next((g, i) for g, i in worse if g == top)]  # first in list order on a tie
        stats["prompts_used"] += 1
        for gap, i in worse:
            stats["empty_rejected"] += not texts[i].strip()
            pairs.append({"id": f"{rec.id}:{best}-{i}", "prompt": rec.prompt, "chosen": res.target,
                          "rejected": texts[i], "gap": round(gap, 6), "source_id": rec.id})
    stats["pairs"] = len(pairs)
    return pairs, stats


def run_baseline(cfg: BaselineConfig) -> Path:
    """Load ``cfg.preferences``, build the method's data, train from ``cfg.base_model`` and write
    the model, ``train_metrics.json``, ``baseline_data.jsonl`` and ``cost.json`` into ``cfg.out``.
    Returns ``cfg.out``. A killed run resumes from its checkpoint when rerun with the same config."""
    for key in ("preferences", "base_model", "out"):
        if getattr(cfg, key) is None:
            raise ConfigError(f"{key}: required for `seft baseline` (e.g. --set {key}=PATH)")
    kind = preference_kind(cfg.preferences, cfg.format)
    loaded = load_records(cfg.preferences, kind, format=cfg.format, on_bad_record=cfg.on_bad_record)
    out = Path(cfg.out)
    if cfg.method == "sft":
        data, stats = sft_examples_from_records(loaded.records, missing_score=cfg.missing_score,
                                                pair_scale=cfg.pair_scale)
    else:
        data, stats = pairs_from_records(loaded.records, cfg.pair_mode, min_gap=cfg.min_gap,
                                         missing_score=cfg.missing_score, pair_scale=cfg.pair_scale)
    stats = {"source": str(cfg.preferences), "format": cfg.format, "kind": kind,
             "bad_records_skipped": loaded.skipped, **stats}
    if not data:
        raise DataError(f"no {cfg.method} training data: {stats['records']} record(s) gave none ({stats})",
                        path=str(cfg.preferences))
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / DATA_FILE, data)

    if cfg.method == "sft":
        from ..training.sft import train_sft

        result = train_sft(cfg.base_model, [{"prompt": e["prompt"], "completion": e["completion"]} for e in data],
                           out, cfg.train)
    else:
        from ..training.preference import train_preference

        result = train_preference(cfg.method, cfg.base_model,
                                  [{k: p[k] for k in ("prompt", "chosen", "rejected")} for p in data],
                                  out, cfg.train, beta=cfg.beta)
    m = result.metrics
    cost = {"method": cfg.method,
            **{k: m[k] for k in ("wall_seconds", "optimizer_steps", "tokens", "forward_passes")},
            "examples": m["train_examples"],
            **{k: m[k] for k in ("policy_forward_passes", "reference_forward_passes", "policy_tokens",
                                 "reference_tokens", "epochs", "lora", "trainable_params")},
            "pair_mode": cfg.pair_mode if cfg.method != "sft" else None,
            "beta": cfg.beta if cfg.method != "sft" else None,
            "data": stats}
    atomic_write_json(out / COST_FILE, cost)
    log.info("%s baseline: %d %s, %d steps, %d forward passes, %.0f s -> %s", cfg.method, cost["examples"],
             "examples" if cfg.method == "sft" else "pairs", cost["optimizer_steps"], cost["forward_passes"],
             cost["wall_seconds"], out)
    return out
