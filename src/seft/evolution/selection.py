"""Which revised responses become SFT targets (METHOD §5, step 4) — a small pure function."""
from __future__ import annotations

from collections import Counter
from typing import Sequence

__all__ = ["select_examples"]


def select_examples(revisions: Sequence[dict], *, keep_levels: Sequence[str], min_chars: int,
                    max_chars: int, dedup: bool, include_fallbacks: bool) -> tuple[list[dict], dict]:
    """SFT examples ``{"id", "prompt", "completion", "level"}`` and the reasons others were dropped.

    A fallback (no tag, empty or runaway revision) leaves the unvetted draft as the final
    response; by default it is not trained on, since the reviser never approved it. With
    ``include_fallbacks`` it is, whatever ``keep_levels`` says when it has no level at all (no tag).
    """
    kept, seen, dropped = [], set(), Counter()
    for r in revisions:
        if r["fallback"] and not include_fallbacks:
            dropped[f"fallback_{r['fallback']}"] += 1
            continue
        if r["level"] not in keep_levels and not (r["fallback"] and r["level"] is None):
            dropped[f"level_{r['level']}"] += 1
            continue
        text = r["final"].strip()
        if len(text) < min_chars:
            dropped["too_short"] += 1
            continue
        if len(text) > max_chars:
            dropped["too_long"] += 1
            continue
        key = (repr(r["prompt"]), text)
        if dedup and key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        kept.append({"id": r["id"], "prompt": r["prompt"], "completion": text, "level": r["level"]})
    return kept, {"kept": len(kept), "dropped": dict(sorted(dropped.items()))}
