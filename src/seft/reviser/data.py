"""Reviser training data: preference records -> (reviser input, tag + revision) examples.

``build_reviser_examples`` is pure (records and config in, examples and counts out);
``run_reviser_data`` is the stage: load, build, write ``out`` and ``<out stem>.stats.json``.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from contextlib import closing
from pathlib import Path

from ..config.core import ConfigError
from ..config.reviser import LEVELS, ReviserDataConfig
from ..data.adapters import ADAPTERS
from ..data.errors import DataError
from ..data.io import atomic_write_json, write_jsonl
from ..data.readers import _rows, load_records
from ..data.schema import PreferencePair
from .format import render_target, reviser_messages
from .levels import levelled_records

__all__ = ["build_reviser_examples", "infer_pair_scale", "keep_quota", "level_table", "preference_kind",
           "run_reviser_data"]

log = logging.getLogger(__name__)
KEEP = LEVELS[0]


def keep_quota(n_keep: int, n_revise: int, max_share: float) -> int:
    """Most KEEP examples allowed so that ``keep / (keep + n_revise) <= max_share``."""
    if max_share >= 1.0:
        return n_keep
    k = int(max_share * n_revise / (1.0 - max_share) + 1e-9)  # epsilon: 0.3*7/0.7 is 2.9999..
    while k > 0 and k > max_share * (k + n_revise) + 1e-9:  # never above the cap after rounding
        k -= 1
    return min(n_keep, k)


def infer_pair_scale(records: list, configured) -> tuple[float, float] | None:
    # A pair's two scores say nothing about the scale, so without a configured one use the
    # range observed over every pair score in the input (for UltraFeedback-binarized at scale
    # that is ~(1, 10), its rating scale).
    if configured is not None:
        return tuple(configured)
    scores = [s for r in records if isinstance(r, PreferencePair)
              for s in (r.chosen_score, r.rejected_score) if s is not None]
    return (min(scores), max(scores)) if scores and max(scores) > min(scores) else None


def build_reviser_examples(records: Iterable, cfg: ReviserDataConfig) -> tuple[list[dict], dict]:
    """One example per (record, distinct draft) with a level, ``cfg.answer_examples`` more per
    record that answer its prompt from an empty draft (id ``<record id>:answer<j>``), then the KEEP cap.

    Example: ``{"id": "<record id>:<response index>", "prompt": [one user message],
    "completion": tag [+ newline + revision], "level", "gap", "source_id"}``; for pairs index 0
    is chosen and 1 rejected. Raises DataError (``missing_score="error"``) for unusable scores.
    """
    records = list(records)
    pair_scale = infer_pair_scale(records, cfg.pair_scale)
    stats = {"records": len(records), "prompts_used": 0, "duplicates": 0, "empty_drafts": 0,
             "skipped_missing_score": 0, "prompts_empty_best": 0, "prompts_no_scores": 0, "drafts_dropped": 0,
             "answer_examples": 0, "pair_scale": list(pair_scale) if pair_scale else None}
    examples: list[dict] = []
    for rec, res, drafts in levelled_records(records, cfg, pair_scale=pair_scale, stats=stats):
        stats["empty_drafts"] += sum(a.reason == "empty" for a in res.items)
        stats["prompts_used"] += 1
        for a in res.items:
            shown = drafts[a.index] if cfg.show_draft and not _dropped(f"{rec.id}:{a.index}", a.level, cfg) else ""
            stats["drafts_dropped"] += bool(cfg.show_draft and drafts[a.index] and not shown)
            examples.append({"id": f"{rec.id}:{a.index}",
                             "prompt": reviser_messages(rec.prompt, shown, cfg.template),
                             "completion": _target(a.level, res.target, drafts[a.index], cfg),
                             "level": a.level, "gap": round(a.gap, 6), "source_id": rec.id})
        # Answering practice: an empty draft is always MAJOR with the best response as target (as
        # an empty draft in the data would be); its gap is the largest there is.
        for j in range(cfg.answer_examples):
            examples.append({"id": f"{rec.id}:answer{j}", "prompt": reviser_messages(rec.prompt, "", cfg.template),
                             "completion": render_target(LEVELS[2], res.target, cfg.tags),
                             "level": LEVELS[2], "gap": 1.0, "source_id": rec.id})
        stats["answer_examples"] += cfg.answer_examples
    stats["levels_before_cap"] = {lv: sum(e["level"] == lv for e in examples) for lv in LEVELS}
    keep_idx = [i for i, e in enumerate(examples) if e["level"] == KEEP]
    quota = keep_quota(len(keep_idx), len(examples) - len(keep_idx), cfg.max_keep_share)
    # Seeded sample of the KEEPs to retain; the survivors stay in input order, so the file
    # reads like the data and the same seed always gives the same file.
    kept = set(random.Random(cfg.seed).sample(keep_idx, quota)) if quota < len(keep_idx) else set(keep_idx)
    examples = [e for i, e in enumerate(examples) if e["level"] != KEEP or i in kept]
    stats["keep_dropped"] = len(keep_idx) - len(kept)
    stats["levels"] = {lv: sum(e["level"] == lv for e in examples) for lv in LEVELS}
    stats["examples"] = len(examples)
    return examples, stats


def _dropped(example_id: str, level: str, cfg: ReviserDataConfig) -> bool:
    """Whether this MAJOR example shows an empty draft (``draft_dropout``). Seeded by the example's
    id, not by its position, so the same example is dropped whatever else the data holds."""
    if level != LEVELS[2] or cfg.draft_dropout <= 0.0:
        return False
    return random.Random(f"{cfg.seed}:{example_id}").random() < cfg.draft_dropout


def _target(level: str, best: str, draft: str, cfg: ReviserDataConfig) -> str:
    """The completion of one example. Without drafts (the ablation) every target is the revision,
    whatever the draft's level: the reviser then answers the prompt like a teacher."""
    if not cfg.show_draft:
        return render_target(LEVELS[2], best, cfg.tags)
    if level == KEEP and cfg.keep_target == "tag_draft" and draft.strip():
        return f"{cfg.tags[KEEP]}\n{draft.strip()}"
    return render_target(level, best, cfg.tags)


def level_table(stats: dict) -> str:
    """The level distribution before/after the KEEP cap as a small fixed-width table."""
    total = max(1, stats["examples"])
    rows = [f"{'level':<6} {'before':>7} {'after':>7} {'share':>6}"]
    for lv in LEVELS:
        after = stats["levels"][lv]
        rows.append(f"{lv:<6} {stats['levels_before_cap'][lv]:>7} {after:>7} {after / total:>6.1%}")
    return "\n".join(rows)


def preference_kind(source: str, format: str) -> str:
    """'scored' or 'pairs': adapters declare it; our own format is told by its first row."""
    if format != "seft":
        if format not in ADAPTERS:
            raise ConfigError(f"format: unknown format {format!r}; choose one of "
                              f"seft, {', '.join(ADAPTERS)}")
        kind = ADAPTERS[format][0]
        if kind not in ("scored", "pairs"):
            raise ConfigError(f"format: {format!r} holds {kind} records, not "
                              "preference data (scored lists or pairs)")
        return kind
    # _rows is the reader's one way to turn any source (file, folder, hub) into rows; only the
    # first object is looked at, the full load validates everything.
    with closing(_rows(source, None)) as rows:  # closing: release the file at once
        for _loc, row in rows:
            if isinstance(row, dict):
                if "responses" in row:
                    return "scored"
                if "chosen" in row:
                    return "pairs"
                raise DataError("first record has neither 'responses' (scored list) nor "
                                "'chosen' (pair); is `format` right?", path=source)
    raise DataError("no records", path=source)


def run_reviser_data(cfg: ReviserDataConfig) -> Path:
    """Build the reviser's training set from ``cfg.preferences`` and write it to ``cfg.out``
    (JSONL) plus ``<out stem>.stats.json`` next to it. Returns the JSONL path."""
    if not cfg.preferences:
        raise ConfigError("preferences: no preference data given (a file, folder or hub name)")
    if not cfg.out:
        raise ConfigError("out: no output file given for the reviser examples")
    kind = preference_kind(cfg.preferences, cfg.format)
    loaded = load_records(cfg.preferences, kind, format=cfg.format, on_bad_record=cfg.on_bad_record)
    examples, stats = build_reviser_examples(loaded.records, cfg)
    stats = {"source": str(cfg.preferences), "format": cfg.format, "kind": kind,
             "bad_records_skipped": loaded.skipped, **stats}
    if not examples:
        raise DataError(f"no reviser examples: {stats['records']} record(s) gave none "
                        f"(before the KEEP cap: {stats['levels_before_cap']}; a cap of "
                        f"{cfg.max_keep_share} leaves no KEEP when nothing is revised)",
                        path=str(cfg.preferences))
    out = Path(cfg.out)
    write_jsonl(out, examples)
    atomic_write_json(out.with_name(f"{out.stem}.stats.json"), stats)
    log.info("reviser data: %d examples from %d of %d prompts -> %s\n%s", stats["examples"],
             stats["prompts_used"], stats["records"], out, level_table(stats))
    return out
