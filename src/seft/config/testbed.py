"""The offline testbed's config: its splits, its tiny base policy's architecture and pretraining."""
from __future__ import annotations

from dataclasses import dataclass

from .core import field

__all__ = ["DEFAULT_TASKS", "TestbedConfig", "TestbedModelConfig"]

DEFAULT_TASKS = ["add", "sort", "reverse", "count", "lookup", "upper"]


@dataclass
class TestbedModelConfig:
    hidden: int = field(128, min=16, help="Hidden size of the tiny Llama base policy.")
    layers: int = field(4, min=1, help="Number of decoder layers.")
    heads: int = field(4, min=1, help="Attention heads (must divide hidden).")
    max_len: int = field(256, min=32, help="Longest sequence in tokens (prompt + response).")

    def __post_init__(self):
        if self.hidden % self.heads:
            raise ValueError(f"heads ({self.heads}) must divide hidden ({self.hidden})")


@dataclass
class TestbedConfig:
    out: str | None = field(None, help="Folder to write the testbed to; default: the cache folder for this config's content hash.")
    cache_dir: str = field("~/.cache/seft/testbed", help="Where built testbeds are cached, keyed by a hash of every setting below (env SEFT_CACHE overrides the ~/.cache/seft prefix).")
    force: bool = field(False, help="Rebuild even when a complete testbed with the same hash exists, and overwrite `out`.")
    seed: int = field(0, help="Master seed; every split derives its own seed from it, so splits never share prompts.")
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS), help="Task families to include.")
    n_preferences: int = field(2048, min=1, help="Prompts in the small annotated preference set (each with one response per quality level, scored).")
    n_prompts: int = field(2048, min=1, help="Unannotated prompts written to prompts.jsonl (the stream API yields unlimited more).")
    n_external: int = field(512, min=0, help="Prompts with a response from the strong external writer (external.jsonl).")
    n_eval: int = field(1024, min=1, help="Held-out evaluation prompts (eval.jsonl).")
    n_eval_ood: int = field(512, min=1, help="Harder, out-of-distribution evaluation prompts with longer inputs (eval_ood.jsonl).")
    n_dev: int = field(512, min=1, help="Development prompts with answers (dev.jsonl), for choosing hyper-parameters such as the baselines' learning rates; never reported. Drawn from its own stream but, unlike eval sets, not excluded from the training splits: the few prompts it shares with them by chance do not matter for selection, and excluding them would change every other split.")
    pretrain_examples: int = field(16384, min=64, help="Size of the noisy corpus the base policy is pretrained on.")
    corpus_weights: dict[str, float] = field(
        default_factory=lambda: {"perfect": 0.6, "minor": 0.25, "major": 0.1, "wrong_format": 0.03, "empty": 0.02},
        help="Share of each writer quality in the pretraining corpus: the noise that keeps the base policy imperfect.")
    pretrain_steps: int = field(500, min=1, help="Optimizer steps of base-policy pretraining (the main knob of its quality).")
    pretrain_batch: int = field(64, min=1, help="Sequences per pretraining step.")
    pretrain_lr: float = field(2e-3, min=0.0, help="Peak learning rate of base-policy pretraining.")
    model: TestbedModelConfig = field(default_factory=TestbedModelConfig, help="Architecture of the base policy.")
