"""One typed config per stage. Defaults are the embedded default run (the offline testbed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .core import field

__all__ = ["RunConfig", "TestbedConfig", "TestbedModelConfig", "DEFAULT_TASKS"]

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




# ----------------------------------------------------------------------------- shared sections
LEVELS = ("KEEP", "MINOR", "MAJOR")
DEFAULT_TAGS = {"KEEP": "[KEEP]", "MINOR": "[MINOR]", "MAJOR": "[MAJOR]"}
# The draft comes first so that the instruction ends the user turn, exactly where the policy saw it
# during its own training: a small reviser then keeps more of the skills it already has (on the
# testbed an instruction-first layout scored lower; see the issue notes for the measurements).
DEFAULT_TEMPLATE = "Draft: {draft}\n{instruction}"


@dataclass
class TrainConfig:
    """Supervised fine-tuning hyper-parameters (TRL ``SFTTrainer``), shared by every SFT stage."""
    epochs: float = field(2.0, min=0.0, help="Passes over the training set.")
    max_steps: int = field(-1, help="Stop after this many optimizer steps (-1: use epochs).")
    learning_rate: float = field(1e-3, min=0.0, help="Peak learning rate (LoRA usually wants ~10x a full fine-tune's).")
    lr_scheduler: str = field("cosine", choices=("cosine", "linear", "constant", "constant_with_warmup"), help="Learning-rate schedule within one training call.")
    warmup_ratio: float = field(0.05, min=0.0, max=1.0, help="Share of steps spent warming the learning rate up.")
    weight_decay: float = field(0.0, min=0.0, help="AdamW weight decay.")
    batch_size: int = field(32, min=1, help="Sequences per device per step.")
    grad_accum: int = field(1, min=1, help="Gradient accumulation steps (effective batch = batch_size x grad_accum x processes).")
    max_length: int = field(256, min=8, help="Longest training sequence in tokens; longer ones are truncated.")
    lora: bool = field(False, help="Train a LoRA adapter instead of all weights.")
    lora_r: int = field(16, min=1, help="LoRA rank.")
    lora_alpha: int = field(32, min=1, help="LoRA scaling (alpha).")
    lora_dropout: float = field(0.05, min=0.0, max=1.0, help="LoRA dropout.")
    lora_target_modules: str | list[str] = field("all-linear", help="Modules that get LoRA adapters ('all-linear' or a list of names).")
    precision: str = field("auto", choices=("auto", "fp32", "bf16", "fp16"), help="Training precision; auto = bf16 on a GPU that supports it, fp32 on CPU (bf16 is ~20x slower on CPU).")
    gradient_checkpointing: bool = field(False, help="Trade compute for memory (off: ~20% faster on small models).")
    seed: int = field(0, help="Seed for data order and initialisation of new weights.")
    logging_steps: int = field(10, min=1, help="Log the loss every this many steps.")
    save_steps: int = field(100, min=1, help="Write a resumable checkpoint every this many optimizer steps (only the latest is kept; all are deleted once training finishes).")
    launcher: str | None = field(None, help="Run each training call in its own processes with this command, e.g. 'accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml' (DeepSpeed ZeRO, FSDP or DDP over several GPUs) or 'torchrun --nproc_per_node 8': seft appends `-m seft.training.launch JOB.json`, waits, and reads back the model and metrics rank 0 wrote. Generation, evaluation and the run state stay in the calling process. batch_size is per process. null: train in this process.")


@dataclass
class GenerationConfig:
    """How drafts and revisions are generated."""
    backend: str = field("hf", choices=("hf", "vllm"), help="Generation engine: hf (transformers, CPU/GPU) or vllm (GPU; pip install 'seft[vllm]'; a LoRA round is merged into a temporary full model first; settings below marked vllm).")
    batch_size: int = field(64, min=1, help="Prompts per generation batch (hf backend).")
    temperature: float = field(0.7, min=0.0, help="Sampling temperature; 0 = greedy.")
    top_p: float = field(0.95, min=0.0, max=1.0, help="Nucleus sampling threshold.")
    max_new_tokens: int = field(48, min=1, help="Longest completion in tokens.")
    seed: int = field(0, help="Sampling seed.")
    tensor_parallel_size: int = field(1, min=1, help="vllm: GPUs one engine shards the model over (tensor parallelism).")
    gpu_memory_utilization: float = field(0.9, min=0.05, max=1.0, help="vllm: share of each GPU's memory the engine takes for weights and KV cache. seft keeps one vLLM engine alive at a time and releases it before every SFT step, so the default fits one GPU; lower it if something else shares the GPU.")
    max_model_len: int | None = field(None, min=16, help="vllm: longest sequence (prompt + completion) in tokens the engine plans its KV cache for; null: the model's own limit (lower it when that cache does not fit).")
    dtype: str = field("auto", choices=("auto", "bfloat16", "float16", "float32"), help="vllm: dtype of weights and activations; auto: bf16 for bf16 checkpoints, fp16 for fp16/fp32 ones (vLLM's rule).")
    enforce_eager: bool = field(False, help="vllm: skip CUDA-graph capture (less memory and a faster start, slower decoding).")


# ----------------------------------------------------------------------------- reviser
@dataclass
class ReviserDataConfig:
    preferences: str | None = field(None, help="Preference data (scored lists or pairs): a file, a save_to_disk folder or a hub name. Default in `seft run`: the testbed's preferences.jsonl.")
    format: str = field("seft", help="Row shape of `preferences`: seft, ultrafeedback, ultrafeedback_binarized, nectar or hh_rlhf.")
    on_bad_record: str = field("error", choices=("error", "skip"), help="Stop at the first bad record, or skip bad records and report how many.")
    out: str | None = field(None, help="Output JSONL of reviser training examples (default in `seft run`: RUN/reviser/data.jsonl).")
    keep_gap: float = field(0.05, min=0.0, max=1.0, help="A response whose normalised gap to the best is at most this is KEEP (the draft stands).")
    major_gap: float = field(0.4, min=0.0, max=1.0, help="Gaps above this are MAJOR; between keep_gap and this, MINOR.")
    pair_level: str = field("MAJOR", choices=("MINOR", "MAJOR"), help="Level of a rejected response in a pair that has no scores.")
    pair_scale: tuple[float, float] | None = field(None, help="Score scale [min, max] of pairs' chosen_score/rejected_score (pairs carry none): the rejected's level comes from the margin over it. null: the range observed over all pair scores in the input (e.g. [1, 10] for UltraFeedback-binarized).")
    missing_score: str = field("skip", choices=("skip", "error"), help="What to do with a response that has neither a score nor a rank: skip it (counted) or fail.")
    max_keep_share: float = field(0.3, min=0.0, max=1.0, help="Cap on the share of KEEP examples, so the reviser still learns to revise (extra KEEPs are dropped, seeded).")
    tags: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TAGS), help="Tag line the reviser emits for each level.")
    seed: int = field(0, help="Seed for the KEEP cap's sampling.")
    template: str = field(DEFAULT_TEMPLATE, help="The reviser's input (revision must use the same): one user message built from this template ({instruction} = the prompt's turns as text, {draft} = the response to judge).")
    keep_target: str = field("tag", choices=("tag", "tag_draft"), help="What a KEEP example teaches: tag (the tag line alone: a kept draft costs a few tokens) or tag_draft (the tag, then the draft copied: teaches the reviser to copy what is good).")
    show_draft: bool = field(True, help="false: the 'SEFT without drafts' ablation. The reviser's input holds an empty draft and every example's target is the revision (MAJOR + the best response): a teacher that answers the prompt, trained on the same examples.")

    def __post_init__(self):
        if self.keep_gap > self.major_gap:
            raise ValueError(f"keep_gap ({self.keep_gap}) must not exceed major_gap ({self.major_gap})")
        if self.pair_scale is not None and not self.pair_scale[0] < self.pair_scale[1]:
            raise ValueError(f"pair_scale must be [min, max] with min < max, got {list(self.pair_scale)}")
        if "{instruction}" not in self.template or "{draft}" not in self.template:
            raise ValueError("template must contain {instruction} and {draft}")
        if set(self.tags) != set(LEVELS) or len(set(self.tags.values())) != 3 or not all(t.strip() for t in self.tags.values()):
            raise ValueError(f"tags must map exactly {list(LEVELS)} to three distinct non-empty strings")


@dataclass
class ReviserTrainConfig:
    data: str | None = field(None, help="Reviser training examples from `seft reviser data` (default in `seft run`: RUN/reviser/data.jsonl).")
    base_model: str | None = field(None, help="Model the reviser is trained from: hub id or local folder (default in `seft run`: the testbed's base policy).")
    out: str | None = field(None, help="Output model folder (default in `seft run`: RUN/reviser/model).")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=4.0, learning_rate=1e-3), help="SFT settings for the reviser.")


@dataclass
class ReviseConfig:
    reviser: str | None = field(None, help="Trained reviser model folder.")
    input: str | None = field(None, help="Records to revise, in the external-response shape: `id`, `prompt`, `response` (the draft).")
    out: str | None = field(None, help="Output JSONL: prompt, draft, level, final response, changed flag, fallback reason.")
    tags: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TAGS), help="Tag strings; must match the reviser's training data.")
    template: str = field(DEFAULT_TEMPLATE, help="Must match the reviser's training data. The reviser's input: one user message built from this template ({instruction} = the prompt's turns as text, {draft} = the response to judge).")
    max_revision_ratio: float = field(4.0, min=1.0, help="A revision longer than this many times the draft (+32 chars) is runaway: the draft stands.")
    show_draft: bool = field(True, help="Show the draft in the reviser's input; false only for a reviser trained without drafts (the 'SEFT without drafts' ablation). In `seft run` it follows reviser_data.show_draft.")
    keep_margin: float | None = field(2.0, min=0.0, help="The likelihood decision: after a MINOR/MAJOR revision, one teacher-forced pass scores the draft as the reviser's answer; the draft stands when its log-likelihood (nats, end of turn included) is within this margin of the revision's. The reviser's own judgment, no label involved. null: off (the tag alone decides). hf backend only. The default 2 (8 for the default external phase) was chosen on the testbed's dev set with benchmarks/keep_margin.py.")
    generation: GenerationConfig = field(default_factory=lambda: GenerationConfig(temperature=0.0), help="Decoding for revisions (greedy by default: the reviser should be decisive).")


# ----------------------------------------------------------------------------- judges
@dataclass
class JudgeConfig:
    """Which judge scores and compares responses, and how an API judge is called."""
    kind: str = field("testbed", choices=("testbed", "reward_model", "openai"), help="testbed: the verifiable scorer; reward_model: a local sequence-classification checkpoint; openai: an LLM behind any OpenAI-compatible /chat/completions endpoint (vLLM, llama.cpp server, hosted APIs).")
    model: str | None = field(None, help="reward_model: checkpoint folder or hub id; openai: the model name sent with each request.")
    base_url: str = field("http://127.0.0.1:8000/v1", help="openai: the API root; requests go to {base_url}/chat/completions.")
    api_key_env: str = field("OPENAI_API_KEY", help="openai: name of the environment variable holding the API key (sent as a Bearer token when set; local servers need none). The key itself is never part of a config, a log or the cache.")
    protocol: str = field("pairwise", choices=("pairwise", "single"), help="openai: how compare() decides: pairwise (AlpacaEval-style a/b verdict, both orders averaged) or single (MT-Bench-style 1-10 rating of each answer, the higher wins). score() always uses single grading.")
    timeout_s: float = field(60.0, min=0.1, help="openai: seconds to wait for one HTTP response before retrying.")
    max_retries: int = field(5, min=0, help="openai: retries per request after timeouts, connection errors, 429, 5xx or an unparseable reply; then the judgment is recorded as None.")
    backoff_s: float = field(1.0, min=0.0, help="openai: first retry delay; doubles each retry, with jitter (a 429's Retry-After is honoured instead).")
    concurrency: int = field(8, min=1, help="openai: requests in flight at once.")
    temperature: float = field(0.0, min=0.0, help="openai: judge sampling temperature (0: as deterministic as the server allows).")
    max_tokens: int = field(1024, min=1, help="openai: longest judge reply in tokens (single grading writes a short assessment first).")
    cache_dir: str = field("~/.cache/seft/judgments", help="openai: where judge replies are cached, so a rerun costs nothing (env SEFT_CACHE overrides the ~/.cache/seft prefix).")
    use_cache: bool = field(True, help="openai: read and write the reply cache.")
    batch_size: int = field(8, min=1, help="reward_model: sequences per forward pass.")
    max_length: int | None = field(None, min=8, help="reward_model: longest (prompt + response) in tokens, truncated from the left so the response survives; null: the model's limit.")

    def __post_init__(self):
        if self.kind in ("reward_model", "openai") and not self.model:
            raise ValueError(f"judge kind '{self.kind}' needs `model` (a checkpoint for reward_model, a model name for openai)")


__all__.append("JudgeConfig")


# ----------------------------------------------------------------------------- revision audit
@dataclass
class AuditConfig:
    """The revision audit: each draft and its final response judged, to show the reviser keeps good drafts and improves bad ones."""
    enabled: bool = field(True, help="Judge every round's drafts and final responses with the run's judge (metrics.json `audit`, report.md). The judge only measures: it never chooses among revisions.")
    sample: int | None = field(None, min=1, help="Judge at most this many revisions per round (a seeded sample), to bound a paid judge's cost; null: all.")
    mode: str = field("score", choices=("score", "compare"), help="score: judge draft and final each on their own (preservation and KEEP precision/recall need this); compare: ask a pairwise judge whether the final beats the draft.")
    top_score: float | None = field(1.0, help="The judge's best score: a draft at it is 'already perfect' (1.0 for the testbed's and Python judges' [0, 1] scores); null: the best draft score seen.")
    seed: int = field(0, help="Seed of the audit's sample.")


@dataclass
class ReviseCommandConfig(ReviseConfig):
    """`seft revise`: revise a file of drafts; with a judge, also audit the revisions."""
    judge: JudgeConfig | None = field(None, help="Judge the drafts and the final responses with this judge and write the revision audit to OUT with the suffix .audit.json (the input's meta must carry what the judge needs, e.g. meta.task and meta.reference for the testbed judge). null: no audit.")
    audit: AuditConfig = field(default_factory=AuditConfig, help="How the audit judges (sample, mode, top score).")


# ----------------------------------------------------------------------------- evolution
@dataclass
class PhaseConfig:
    name: str = field("internal", help="Name used in artifact paths and the report.")
    source: str = field("internal", choices=("internal", "external"), help="internal: drafts sampled from the current policy; external: drafts from the external response file.")
    rounds: int = field(1, min=0, help="Rounds in this phase.")
    keep_levels: list[str] = field(default_factory=lambda: ["KEEP", "MINOR", "MAJOR"], help="Which revision levels enter the SFT set (KEEP = the draft was judged good as it is).")
    learning_rate: float | None = field(None, min=0.0, help="This phase's policy SFT learning rate, in place of evolve.train.learning_rate (lr_decay_per_round still applies); null: evolve.train.learning_rate.")
    keep_margin: float | None = field(None, min=0.0, help="This phase's likelihood-decision margin (nats), in place of revise.keep_margin; null: revise.keep_margin. A stronger writer's drafts are less likely under the reviser than the policy's own, so external phases need a wider margin.")


@dataclass
class EvolveConfig:
    policy: str | None = field(None, help="Starting policy: hub id or local folder (default in `seft run`: the testbed's base policy).")
    reviser: str | None = field(None, help="Trained reviser folder (default in `seft run`: RUN/reviser/model).")
    prompts: str | None = field(None, help="Unannotated prompts: a file, a save_to_disk folder or a hub name (split train), or 'testbed:DIR' for the testbed's unlimited stream (default in `seft run`).")
    prompts_format: str = field("seft", choices=("seft", "alpaca", "sharegpt"), help="Row shape of `prompts`: seft records, or a published shape read through its adapter (alpaca: instruction/input; sharegpt: the conversation up to its last human turn). Any reference answer is kept in meta and never trained on.")
    external: str | None = field(None, help="External responses (prompt + response) for external phases (default in `seft run`: the testbed's external.jsonl).")
    eval_sets: dict[str, str] = field(default_factory=dict, help="Held-out sets to score after each round, name -> file (default in `seft run`: the testbed's eval and eval_ood).")
    out: str | None = field(None, help="Folder for rounds/ (default in `seft run`: the run directory).")
    phases: list[PhaseConfig] = field(default_factory=lambda: [PhaseConfig("internal", "internal", 3), PhaseConfig("external", "external", 1, keep_margin=8.0, learning_rate=3e-4)], help="The schedule: phases run in order, each for its rounds. The default external phase's margin (8) and learning rate (3e-4) were chosen on the testbed's dev set (benchmarks/keep_margin.py; the round-4 SFT at 1e-3 left dev at 0.385, at 3e-4 it reached 0.410).")
    prompts_per_round: int = field(2048, min=1, help="Fresh prompts drawn per round (never reused unless reuse_prompts).")
    samples_per_prompt: int = field(1, min=1, help="Policy drafts sampled per prompt (internal phases).")
    reuse_prompts: bool = field(False, help="Start every round at the beginning of the prompt source instead of taking fresh prompts.")
    accumulate: bool = field(False, help="Train each round on the union of all rounds' selected data so far, not just this round's.")
    min_chars: int = field(1, min=0, help="Length guard: drop final responses shorter than this.")
    max_chars: int = field(2000, min=1, help="Length guard: drop final responses longer than this.")
    dedup: bool = field(True, help="Drop duplicate (prompt, response) pairs from a round's SFT set.")
    include_fallbacks: bool = field(False, help="Also train on drafts whose revision failed to parse (the reviser never approved them).")
    shard_size: int = field(256, min=1, help="Drafts/revisions are generated and saved in shards of this many records, the unit a killed run resumes from.")
    lr_decay_per_round: float = field(1.0, min=0.0, max=1.0, help="Multiply the learning rate by this after every round.")
    draft: GenerationConfig = field(default_factory=GenerationConfig, help="Sampling of policy drafts.")
    revise: ReviseConfig = field(default_factory=ReviseConfig, help="Revision settings (reviser/input/out are filled per round).")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3.0, learning_rate=1e-3), help="Policy SFT settings per round (continues from the previous round's weights).")
    eval_max_new_tokens: int = field(48, min=1, help="Completion budget when scoring held-out sets (greedy).")
    judge: JudgeConfig = field(default_factory=JudgeConfig, help="Judge of the per-round held-out evaluation (and of `seft compare`'s win rates): the testbed's verifiable scorer by default; a reward model or an API judge for real data.")
    audit: AuditConfig = field(default_factory=AuditConfig, help="The revision audit of every round, with `judge` (on the testbed it sees each training prompt's reference; the reviser and the policy never do).")


@dataclass
class RunConfig:
    """The whole pipeline. Paths left empty are filled from the testbed and the run directory."""
    out: str = field("runs/demo", help="Run directory: every artifact, the resolved config and the state file go here.")
    force: bool = field(False, help="Start the run directory over even if it holds a run with another config.")
    launcher: str | None = field(None, help="The `launcher` of every training section that sets none (reviser_train.train, evolve.train, baseline_train): e.g. 'accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml' trains on every GPU in launched processes while this one generates, evaluates and writes the run (README: Running on GPUs). null: train in this process.")
    testbed: TestbedConfig = field(default_factory=TestbedConfig, help="The offline testbed the default run uses.")
    reviser_data: ReviserDataConfig = field(default_factory=ReviserDataConfig, help="Reviser training data.")
    reviser_train: ReviserTrainConfig = field(default_factory=ReviserTrainConfig, help="Reviser training.")
    evolve: EvolveConfig = field(default_factory=EvolveConfig, help="Policy self-evolution rounds.")
    with_baselines: bool = field(False, help="After evolution, also train the `baselines` from the same base policy on the reviser's preference data (RUN/baselines/<method>/), evaluate them on the same sets (RUN/eval/<method>/) and add them to eval/summary.json under their method names, for `seft compare`.")
    baselines: list[str] = field(default_factory=lambda: ["sft", "dpo", "orpo", "no_drafts"], help="Baseline methods run when with_baselines is true: any of sft, dpo, orpo (trained from the base policy on the preference data), sft+dpo (DPO started from the sft baseline, the standard recipe; needs sft listed before it) and no_drafts (the 'SEFT without drafts' ablation: the same SEFT run with a reviser that never sees the draft, in RUN/baselines/no_drafts/).")
    baseline_train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3.0, learning_rate=1e-3), help="Training settings of every baseline (used only when with_baselines is true).")
    baseline_learning_rates: dict[str, float] = field(default_factory=dict, help="Per-method learning rate, e.g. {dpo: 3e-4}, in place of baseline_train.learning_rate (a sweep fills this in for the seeds after the first).")
    baseline_lr_sweep: list[float] = field(default_factory=list, help="Learning rates tried for every baseline: each method keeps the one that scores best on `sweep_set` (a development set, never a reported one) and that model becomes its row. Results in RUN/sweep/sweep.json. With several seeds the sweep runs once, in the first seed's run, and the other seeds reuse its choice. Empty: no sweep.")
    baseline_beta_sweep: list[float] = field(default_factory=list, help="Betas tried for dpo, orpo and sft+dpo, crossed with the learning rates (and pair modes) of the sweep; empty: baseline beta only.")
    baseline_pair_mode_sweep: list[str] = field(default_factory=list, help="Pairings tried for dpo, orpo and sft+dpo (best_vs_worst, best_vs_each), crossed with the rest of the sweep; empty: best_vs_worst only.")
    baseline_choices: dict[str, dict[str, Any]] = field(default_factory=dict, help="Per-method settings chosen by a sweep, e.g. {dpo: {learning_rate: 1e-3, beta: 0.5, pair_mode: best_vs_worst}}; they win over baseline_learning_rates. The first seed's sweep fills this in for the seeds after it.")
    sweep_set: str | None = field(None, help="Prompts with references on which the baseline sweep chooses (default: the testbed's dev.jsonl).")
    scaling: list[int] = field(default_factory=list, help="Data-scaling curve: for each value, one more SEFT run of the internal phases only with that many prompts per round, from the same reviser (RUN/scaling/ppr_<n>/). The main run's internal-only result is the curve's point at evolve.prompts_per_round. E.g. [512, 1024] with the default 2048 gives 1x, 2x and 4x.")
    seeds: int = field(1, min=1, help="Repeat the whole run over this many seeds (also `seft run --seeds N`): run k, in OUT/seed_<k>/, adds k to every seed of the config (data order, sampling, training; the testbed and its base policy stay fixed), then `seft compare` over all of them writes OUT/compare/ with means and t-intervals across seeds. 1: one run, directly in OUT.")

    def __post_init__(self):
        if (self.baseline_lr_sweep or self.baseline_beta_sweep or self.baseline_pair_mode_sweep) and not self.with_baselines:
            raise ValueError("baseline_lr_sweep is set but with_baselines is false: there is nothing to sweep")
        if any(b <= 0 for b in self.baseline_beta_sweep) or len(set(self.baseline_beta_sweep)) != len(self.baseline_beta_sweep):
            raise ValueError(f"baseline_beta_sweep: expected distinct positive betas, got {self.baseline_beta_sweep}")
        bad = [m for m in self.baseline_pair_mode_sweep if m not in ("best_vs_worst", "best_vs_each")]
        if bad or len(set(self.baseline_pair_mode_sweep)) != len(self.baseline_pair_mode_sweep):
            raise ValueError(f"baseline_pair_mode_sweep: expected distinct best_vs_worst / best_vs_each, got {self.baseline_pair_mode_sweep}")
        if any(lr <= 0 for lr in self.baseline_lr_sweep) or len(set(self.baseline_lr_sweep)) != len(self.baseline_lr_sweep):
            raise ValueError(f"baseline_lr_sweep: expected distinct positive learning rates, got {self.baseline_lr_sweep}")
        if any(n < 1 for n in self.scaling) or len(set(self.scaling)) != len(self.scaling):
            raise ValueError(f"scaling: expected distinct positive prompts-per-round values, got {self.scaling}")
        if self.evolve.prompts_per_round in self.scaling:
            raise ValueError(f"scaling: {self.evolve.prompts_per_round} is the main run's prompts_per_round, "
                             "already a point of the curve")


# ----------------------------------------------------------------------------- baselines
@dataclass
class BaselineConfig:
    """A baseline trained from the same base policy on the same annotated preference data the
    reviser saw: SFT on the best responses, or DPO / ORPO on (best, worse) pairs."""
    method: str = field("dpo", choices=("sft", "dpo", "orpo"), help="sft: fine-tune on each prompt's best response; dpo / orpo: preference-optimise on pairs built from the same data.")
    preferences: str | None = field(None, help="Preference data (scored lists or pairs): a file, a save_to_disk folder or a hub name; use the reviser's, so the comparison is fair.")
    format: str = field("seft", help="Row shape of `preferences`: seft, ultrafeedback, ultrafeedback_binarized, nectar or hh_rlhf.")
    on_bad_record: str = field("error", choices=("error", "skip"), help="Stop at the first bad record, or skip bad records and report how many.")
    base_model: str | None = field(None, help="Model every method starts from: hub id or local folder (the base policy SEFT evolves).")
    out: str | None = field(None, help="Output folder: the trained model (or LoRA adapter), train_metrics.json, cost.json and the training data (baseline_data.jsonl).")
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=3.0, learning_rate=1e-3), help="Training settings (those of SEFT's policy rounds by default). DPO/ORPO full fine-tunes usually want a lower learning rate than SFT.")
    beta: float = field(0.1, min=0.0, help="dpo: KL strength beta (higher keeps the policy closer to the base); orpo: weight lambda of the odds-ratio term next to the NLL; unused by sft.")
    pair_mode: str = field("best_vs_worst", choices=("best_vs_worst", "best_vs_each"), help="Pairs from a scored list: the best response against the worst one (one pair per prompt), or against every distinct worse one. A record that is already a pair gives that pair.")
    min_gap: float = field(0.0, min=0.0, max=1.0, help="A rejected response must trail the best by more than this normalised gap (the reviser's gap: score difference over the scale, or rank difference over K-1); ties never pair. Empty responses always count as worse.")
    missing_score: str = field("skip", choices=("skip", "error"), help="A response with neither a score nor a rank: skip it (counted) or fail; as for the reviser's data.")
    pair_scale: tuple[float, float] | None = field(None, help="Score scale [min, max] of pairs' chosen_score/rejected_score, used for min_gap on pair records; null: the range observed over the input (as for the reviser).")

    def __post_init__(self):
        if self.pair_scale is not None and not self.pair_scale[0] < self.pair_scale[1]:
            raise ValueError(f"pair_scale must be [min, max] with min < max, got {list(self.pair_scale)}")


# ----------------------------------------------------------------------------- comparison
@dataclass
class CompareConfig:
    """SEFT against the base policy and the baselines, over one or more finished run directories."""
    runs: list[str] = field(default_factory=list, help="Run directories made by `seft run` (several, e.g. one per seed: every row then reports the mean over runs and a t-interval across runs).")
    out: str | None = field(None, help="Output folder for compare.md, compare.csv and compare.png (default: RUN/compare for a single run; required for several).")
    main_set: str | None = field(None, help="Eval set drawn in compare.png (default: the first set of the first run's summary).")
    rounds: bool = field(False, help="Also give every SEFT round its own row, not only the internal-only, internal+external and final rows.")
    seed: int = field(0, help="Seed of the bootstrap intervals over prompts (win rates).")


__all__.append("CompareConfig")
