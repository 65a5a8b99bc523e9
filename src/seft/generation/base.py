"""The ``Generator`` protocol: prompts in, completions out, whatever the engine.

Both policy drafting and revision go through this interface, so a vLLM engine (GPU) can replace
the Hugging Face backend (CPU, tests) without touching the SEFT loop.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence, runtime_checkable

from ..config.core import field

__all__ = ["SamplingParams", "Generator", "sampling_params"]


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
