"""The ``Generator`` protocol: prompts in, completions out, whatever the engine.

Both policy drafting and revision go through this interface, so a vLLM engine (GPU) can replace
the Hugging Face backend (CPU, tests) without touching the SEFT loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

from ..config.core import field

__all__ = ["SamplingParams", "Generator", "sampling_params", "length_batches"]


@dataclass
class SamplingParams:
    temperature: float = field(1.0, min=0.0, help="Sampling temperature; 0 means greedy decoding.")
    top_p: float = field(1.0, min=0.0, max=1.0, help="Nucleus sampling: smallest token set with this much probability.")
    max_new_tokens: int = field(64, min=1, help="Longest completion in tokens; longer outputs are cut.")
    stop: list[str] = field(default_factory=list,
                            help="Strings that end a completion (cut before them), besides the end-of-turn token.")
    seed: int = field(0, help="Seed for sampling; the same seed and inputs give the same outputs.")


@runtime_checkable
class Generator(Protocol):
    """Anything that turns chat prompts into completions."""

    def generate(self, prompts: Sequence, params: SamplingParams, *,
                 prefixes: Sequence[str] | None = None, desc: str = "generate") -> list[str]:
        """One completion per prompt. ``prefixes`` (optional) are forced starts of the assistant
        turn; the returned text excludes them."""
        ...


def sampling_params(gen_cfg, **overrides) -> SamplingParams:
    """SamplingParams from a GenerationConfig section (``overrides`` win)."""
    params = dict(temperature=gen_cfg.temperature, top_p=gen_cfg.top_p,
                  max_new_tokens=gen_cfg.max_new_tokens, seed=gen_cfg.seed)
    params.update(overrides)
    return SamplingParams(**params)


def length_batches(lengths: Sequence[int], batch_size: int, *, extra: int = 0,
                   max_padding: float = 1.0) -> list[list[int]]:
    """Index batches over inputs sorted by length (ties by index), at most ``batch_size`` each.

    A batch is padded to its longest input, and every row also carries up to ``extra`` new
    tokens. A batch ends early when the next (longer) input would make more than ``max_padding``
    of its positions padding: one 2,600-token prompt at the end of a batch of 150-token prompts
    would otherwise multiply that batch's prefill more than tenfold. 1.0 never ends a batch early."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[list[int]] = []
    batch: list[int] = []
    real = 0  # non-padding positions of the open batch (inputs + extra per row)
    for i in order:
        width = lengths[i] + extra  # sorted: the newcomer is the batch's longest
        rows = len(batch) + 1
        fits = rows <= batch_size and (rows * width - (real + width)) <= max_padding * rows * width
        if batch and not fits:
            batches.append(batch)
            batch, real = [], 0
        batch.append(i)
        real += width
    if batch:
        batches.append(batch)
    return batches
