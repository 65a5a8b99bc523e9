"""Deterministic, disjoint example streams for the testbed's splits.

Every split draws example ``i`` from its own RNG seeded by ``(seed, split, i)``, so a stream can be
resumed at any index, is unlimited, and never depends on how much of another split was drawn.
Prompts that appear in a held-out set are skipped in every training split, so nothing the policy
trains on is ever scored as held-out.
"""
from __future__ import annotations

import hashlib
import itertools
import random
from typing import Iterable, Iterator, Sequence

from ..data.schema import PromptRecord
from .tasks import Example, make_example

__all__ = ["derive_seed", "example_at", "example_stream", "take", "prompt_stream", "reference_of", "to_prompt_record",
           "training_split_index"]


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts; stable across Python versions and processes."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def example_at(seed: int, split: str, tasks: Sequence[str], i: int, *, hard: bool = False) -> Example:
    """Example ``i`` of a split: its own RNG, so any index can be drawn (or rebuilt) on its own."""
    return make_example(tasks[i % len(tasks)], random.Random(derive_seed(seed, split, i)), hard=hard)


def example_stream(seed: int, split: str, tasks: Sequence[str], *, hard: bool = False,
                   start: int = 0, exclude: frozenset[str] = frozenset()) -> Iterator[tuple[int, Example]]:
    """``(index, example)`` pairs; task families take turns so every split is balanced."""
    for i in itertools.count(start):
        ex = example_at(seed, split, tasks, i, hard=hard)
        if ex.prompt not in exclude:
            yield i, ex


def take(stream: Iterable, n: int) -> list:
    return list(itertools.islice(stream, n))


def to_prompt_record(split: str, index: int, ex: Example, *, with_reference: bool) -> PromptRecord:
    meta = {"task": ex.task}
    if with_reference:  # only held-out sets carry the answer: training prompts stay unlabeled
        meta["reference"] = ex.reference
    return PromptRecord(id=f"{split}-{index:07d}", prompt=ex.prompt, meta=meta)


def prompt_stream(seed: int, tasks: Sequence[str], *, start: int = 0,
                  exclude: frozenset[str] = frozenset()) -> Iterator[PromptRecord]:
    """The unlimited unannotated prompt stream; ``prompts.jsonl`` holds its first records."""
    for i, ex in example_stream(seed, "prompts", tasks, start=start, exclude=exclude):
        yield to_prompt_record("prompts", i, ex, with_reference=False)


def training_split_index(record_id: str) -> tuple[str, int] | None:
    """``("prompts", 12)`` for ``prompts-0000012`` (a sample suffix ``#s0`` ignored), likewise for
    ``external-...``; None for any other id. Every world names its training records this way."""
    split, _, index = str(record_id).split("#")[0].rpartition("-")
    return (split, int(index)) if split in ("prompts", "external") and index.isdigit() else None


def reference_of(seed: int, tasks: Sequence[str], record_id: str, prompt: str) -> str | None:
    """The answer to a training prompt of the testbed (``prompts-0000012``, ``external-0000003``),
    rebuilt from its split and index; None when the id is not one or the prompt does not match.

    Only judges may ask (the revision audit): training prompts reach the policy and the reviser
    without it, as unlabeled prompts do in real data."""
    where = training_split_index(record_id)
    if where is None:
        return None
    ex = example_at(seed, where[0], tasks, where[1])
    return ex.reference if ex.prompt == prompt else None
