"""Adaptive revision levels (METHOD.md section 2): which drafts the reviser keep, and which it
learns to rewrite a little (MINOR) or a lot (MAJOR).

For one prompt with K scored responses the best one, ``y*``, is the revision target; every other
response is a draft whose *normalised quality gap* to ``y*`` picks its level. The functions here
are pure: records and a config in, level assignments and counters out. Edge cases, each tested:

- **ties for the best**: every tied-best response has gap 0, so it is KEEP; the target is the
  FIRST non-empty best in list order (list order is the data's own, so the choice is
  reproducible and needs no tie-break rule of ours).
- **duplicates** (same text after stripping whitespace): one example per distinct text, so a
  text repeated by several models does not weigh more. A duplicate of the target is the target
  (KEEP); any other group is represented by its first occurrence. Extra copies are counted.
- **empty / whitespace-only responses**: never a target; as a draft always MAJOR whatever its
  score, because an empty draft always needs a full rewrite. If no best response is non-empty,
  the prompt yields nothing (counted as ``empty_best``).
- **missing scores**: scores are used when every response has one, else ranks when every
  response has one; otherwise the signal most responses carry is used and the others are
  skipped (counted) or, with ``missing_score="error"``, a DataError names record and response.
- **pairs**: chosen is KEEP; rejected is levelled by the score margin over a scale when both
  scores exist, else ``cfg.pair_level``; a rejected identical to chosen is a duplicate.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from ..config.reviser import LEVELS, ReviserDataConfig
from ..data.errors import DataError
from ..data.schema import PreferencePair, ScoredList

__all__ = ["Assignment", "RecordLevels", "assign_level", "levelled_records", "levels_for_pair",
           "levels_for_scored_list", "normalised_gaps", "rank_gaps"]

KEEP, MINOR, MAJOR = LEVELS


def _clamp(x: float) -> float:
    # Scores outside a declared scale or ranks with holes (1, 2, 7 of K=3) would give gaps
    # outside [0, 1]; the thresholds are defined on [0, 1], so clamp rather than mis-level.
    return min(1.0, max(0.0, x))


def normalised_gaps(scores: Sequence[float | None], *,
                    scale: tuple[float, float] | None = None) -> list[float | None]:
    """``g_i = (s* - s_i) / (scale_max - scale_min)`` with ``s*`` the best score present.

    Without a scale the observed range (max - min) of the list stands in; if every score is
    equal, every gap is 0. ``None`` scores stay ``None``."""
    present = [s for s in scores if s is not None]
    if not present:
        return [None] * len(scores)
    best = max(present)
    width = (scale[1] - scale[0]) if scale is not None else best - min(present)
    if width <= 0:
        return [None if s is None else 0.0 for s in scores]
    return [None if s is None else _clamp((best - s) / width) for s in scores]


def rank_gaps(ranks: Sequence[int | None]) -> list[float | None]:
    """``(rank_i - best_rank) / (K - 1)`` with K the number of ranked responses (1 = best);
    K = 1 gives 0. ``None`` ranks stay ``None``."""
    present = [r for r in ranks if r is not None]
    if not present:
        return [None] * len(ranks)
    best, k = min(present), len(present)
    if k == 1:
        return [None if r is None else 0.0 for r in ranks]
    return [None if r is None else _clamp((r - best) / (k - 1)) for r in ranks]


def assign_level(gap: float, keep_gap: float, major_gap: float) -> str:
    """KEEP if ``gap <= keep_gap``, MINOR if ``gap <= major_gap``, else MAJOR."""
    if gap <= keep_gap:
        return KEEP
    return MINOR if gap <= major_gap else MAJOR


@dataclass(frozen=True)
class Assignment:
    """One draft of a record: its position in the record, level, gap to the target and why."""
    index: int
    level: str
    gap: float
    reason: str  # best | gap | empty | chosen | margin | pair_default


@dataclass
class RecordLevels:
    """Levels for one record. ``target`` is the text every MINOR/MAJOR draft is revised into;
    ``None`` means the record yields no example (``why`` says so)."""
    target: str | None
    items: list[Assignment] = field(default_factory=list)
    duplicates: int = 0
    empty: int = 0          # empty drafts levelled MAJOR (and empty bests, which are dropped)
    missing: int = 0        # responses skipped for having no usable score/rank
    why: str | None = None  # empty_best | no_scores


def _signal(rec: ScoredList, missing_score: str) -> tuple[list[float | None], int]:
    """Gaps for every response (None = skipped) and how many were skipped."""
    scores = [r.score for r in rec.responses]
    ranks = [r.rank for r in rec.responses]
    if all(s is not None for s in scores):
        return normalised_gaps(scores, scale=rec.scale), 0
    if all(r is not None for r in ranks):
        return rank_gaps(ranks), 0
    # Partial: scores and ranks are not comparable with each other, so use the signal most
    # responses carry (scores on a tie: they hold more information than ranks).
    n_s = sum(s is not None for s in scores)
    use_scores = n_s >= sum(r is not None for r in ranks)
    values = scores if use_scores else ranks
    lacking = [i for i, v in enumerate(values) if v is None]
    if missing_score == "error":
        what = "score" if use_scores else "rank"
        raise DataError(f"record {rec.id!r}: response {lacking[0]} has no {what} while others "
                        "do (set missing_score=skip to skip such responses)",
                        field=f"responses[{lacking[0]}]")
    gaps = normalised_gaps(scores, scale=rec.scale) if use_scores else rank_gaps(ranks)
    return gaps, len(lacking)


def levels_for_scored_list(rec: ScoredList, cfg: ReviserDataConfig) -> RecordLevels:
    """Level every response of ``rec`` by its gap to the best; see the module doc for ties,
    duplicates, empty responses and missing scores."""
    gaps, missing = _signal(rec, cfg.missing_score)
    texts = [r.text.strip() for r in rec.responses]
    scored = [i for i, g in enumerate(gaps) if g is not None]
    if not scored:
        return RecordLevels(target=None, missing=missing, why="no_scores")
    best = [i for i in scored if gaps[i] == 0.0]
    target_i = next((i for i in best if texts[i]), None)
    if target_i is None:
        return RecordLevels(target=None, missing=missing, empty=len(best), why="empty_best")
    out = RecordLevels(target=rec.responses[target_i].text, missing=missing)
    seen = {texts[target_i]}
    out.items.append(Assignment(target_i, KEEP, 0.0, "best"))
    for i in scored:
        if i == target_i:
            continue
        if texts[i] in seen:
            out.duplicates += 1
            continue
        seen.add(texts[i])
        if not texts[i]:
            out.empty += 1
            out.items.append(Assignment(i, MAJOR, gaps[i], "empty"))
        else:
            out.items.append(Assignment(i, assign_level(gaps[i], cfg.keep_gap, cfg.major_gap),
                                        gaps[i], "gap"))
    out.items.sort(key=lambda a: a.index)  # list order, whatever the target's position
    return out


def levels_for_pair(rec: PreferencePair, cfg: ReviserDataConfig, *,
                    scale: tuple[float, float] | None) -> RecordLevels:
    """Chosen -> KEEP (index 0); rejected (index 1) -> level of the margin
    ``(chosen_score - rejected_score) / (scale_max - scale_min)`` when both scores and a scale
    exist, else ``cfg.pair_level``. A margin within ``keep_gap`` is KEEP, as in a scored list
    (a pair is a scored list of two); a negative margin (scores disagree with the preference)
    clamps to 0. An empty rejected is MAJOR; an empty chosen leaves no target."""
    chosen, rejected = rec.chosen.strip(), rec.rejected.strip()
    if not chosen:
        return RecordLevels(target=None, empty=1, why="empty_best")
    out = RecordLevels(target=rec.chosen, items=[Assignment(0, KEEP, 0.0, "chosen")])
    if rejected == chosen:
        out.duplicates = 1
    elif not rejected:
        out.empty = 1
        out.items.append(Assignment(1, MAJOR, 1.0, "empty"))
    elif (rec.chosen_score is not None and rec.rejected_score is not None and scale is not None
          and scale[1] > scale[0]):
        gap = _clamp((rec.chosen_score - rec.rejected_score) / (scale[1] - scale[0]))
        out.items.append(Assignment(1, assign_level(gap, cfg.keep_gap, cfg.major_gap), gap,
                                    "margin"))
    else:
        # No margin to measure: record the top of the configured level's band (1.0 for MAJOR,
        # major_gap for MINOR) so that the gap field never contradicts the level.
        gap = 1.0 if cfg.pair_level == MAJOR else cfg.major_gap
        out.items.append(Assignment(1, cfg.pair_level, gap, "pair_default"))
    return out


def levelled_records(records: Iterable, cfg: ReviserDataConfig, *, pair_scale, stats: dict
                     ) -> Iterator[tuple[ScoredList | PreferencePair, RecordLevels, list[str]]]:
    """``(record, its levels, its response texts)`` for every record with a usable best response.

    The one walk over preference data that the reviser's data and the baselines share, so both
    read scores, ranks, ties, duplicates and empty responses alike. Counts ``duplicates`` and
    ``skipped_missing_score`` into ``stats`` and ``prompts_<why>`` for each record skipped.
    """
    for rec in records:
        if isinstance(rec, ScoredList):
            res = levels_for_scored_list(rec, cfg)
            texts = [r.text for r in rec.responses]
        elif isinstance(rec, PreferencePair):
            res = levels_for_pair(rec, cfg, scale=pair_scale)
            texts = [rec.chosen, rec.rejected]
        else:
            raise TypeError(f"expected ScoredList or PreferencePair records, got {type(rec).__name__}")
        stats["duplicates"] += res.duplicates
        stats["skipped_missing_score"] += res.missing
        if res.target is None:
            stats[f"prompts_{res.why}"] += 1
            continue
        yield rec, res, texts
