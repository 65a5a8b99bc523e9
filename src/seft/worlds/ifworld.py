"""The IF world's examples: a real instruction plus 1-3 IFEval constraints, drawn reproducibly.

Example ``i`` of a split comes from its own RNG seeded by ``(seed, split, i)``, as in the testbed,
so every stream is unlimited, resumable at any index and rebuildable from a record's id. Training
splits draw from the training instructions; ``eval`` draws from held-out instructions only, so an
instruction scored as held-out never appears in anything the reviser or the policy trains on.
A built world keeps what the draws need in ``world.json`` (the two instruction pools and the
constraint settings); the constraints of a training prompt reach the judge only (``judge_meta``).
"""
from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..data.schema import PromptRecord
from ..testbed.splits import derive_seed, training_split_index
from .constraints import Constraint, render_prompt, sample_constraints

__all__ = ["IFExample", "WORLD_FILE", "example_at", "example_stream", "judge_meta", "load_world", "prompt_stream",
           "split_instructions"]

WORLD_FILE = "world.json"


@dataclass(frozen=True)
class IFExample:
    instruction: str
    constraints: list[Constraint]
    prompt: str

    def meta(self) -> dict:
        """What the scorer reads (``seft.worlds.scoring``)."""
        return {"registry": "ifeval", "instruction_id_list": [c["id"] for c in self.constraints],
                "kwargs": [c["kwargs"] for c in self.constraints], "instruction": self.instruction}


def split_instructions(instructions: list[str], *, seed: int, eval_share: float, max_chars: int) -> dict[str, list[str]]:
    """Distinct instructions of at most ``max_chars``, shuffled by ``seed`` and cut into a held-out
    ``eval`` pool (``eval_share`` of them) and a ``train`` pool."""
    seen, pool = set(), []
    for text in instructions:
        t = text.strip()
        if t and len(t) <= max_chars and t not in seen:
            seen.add(t)
            pool.append(t)
    random.Random(derive_seed(seed, "if-instructions")).shuffle(pool)
    n_eval = round(len(pool) * eval_share)
    if len(pool) - n_eval < 1 or (eval_share > 0 and n_eval < 1):
        raise ValueError(f"{len(pool)} instructions of <= {max_chars} characters cannot be split into training and "
                         f"eval pools (eval share {eval_share}); raise max_instruction_chars")
    return {"eval": pool[:n_eval], "train": pool[n_eval:]}


def load_world(root: str | Path) -> dict:
    return json.loads((Path(root) / WORLD_FILE).read_text(encoding="utf-8"))


def example_at(world: dict, split: str, i: int) -> IFExample:
    rng = random.Random(derive_seed(world["seed"], "if", split, i))
    pool = world["instructions"]["eval" if split == "eval" else "train"]
    instruction = pool[rng.randrange(len(pool))]
    cons = sample_constraints(rng, world["constraint_types"], world["min_constraints"], world["max_constraints"],
                              world["max_words"])
    return IFExample(instruction, cons, render_prompt(instruction, cons))


def example_stream(world: dict, split: str, *, start: int = 0,
                   exclude: frozenset[str] = frozenset()) -> Iterator[tuple[int, IFExample]]:
    for i in itertools.count(start):
        ex = example_at(world, split, i)
        if ex.prompt not in exclude:
            yield i, ex


def prompt_stream(world: dict, *, start: int = 0, exclude: frozenset[str] = frozenset()) -> Iterator[PromptRecord]:
    """The unlimited unannotated prompt stream (``prompts.jsonl`` holds its first records)."""
    for i, ex in example_stream(world, "prompts", start=start, exclude=exclude):
        yield PromptRecord(id=f"prompts-{i:07d}", prompt=ex.prompt, meta={})


def judge_meta(world: dict, record_id: str, prompt: str) -> dict | None:
    """The constraints of a training prompt (``prompts-0000012``, ``external-0000003``), rebuilt
    from its split and index; None when the id is not one or the prompt does not match."""
    where = training_split_index(record_id)
    if where is None:
        return None
    ex = example_at(world, *where)
    return ex.meta() if ex.prompt == prompt else None
