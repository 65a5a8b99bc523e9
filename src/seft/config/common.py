"""Config sections shared by several stages: training, generation, the judge and the revision audit."""
from __future__ import annotations

from dataclasses import dataclass

from .core import field

__all__ = ["DATA_FORMATS", "FORMATS_HELP", "TRACKERS", "AuditConfig", "GenerationConfig", "JudgeConfig", "TrackingConfig",
           "TrainConfig"]

# The row shapes every data input accepts (seft.data.readers.FORMATS; a test keeps them equal).
DATA_FORMATS = ("seft", "ultrafeedback", "ultrafeedback_binarized", "nectar", "hh_rlhf", "alpaca", "sharegpt")
FORMATS_HELP = ("seft (our records), or a published dataset's shape read through its adapter: ultrafeedback, "
                "ultrafeedback_binarized, nectar, hh_rlhf, alpaca (instruction/input/output), sharegpt (conversations)")


TRACKERS = ("none", "tensorboard", "wandb", "mlflow", "trackio")


@dataclass
class TrackingConfig:
    """Experiment tracking: every training call of a run, and its per-round scores and audit, in one tracked run."""
    backend: str = field("none", choices=TRACKERS, help="none; tensorboard (pip install 'seft[tensorboard]'; no account; `tensorboard --logdir RUN/tracking`); wandb, mlflow or trackio (pip install 'seft[wandb]' etc.; they read their usual environment variables, e.g. WANDB_MODE=offline, MLFLOW_TRACKING_URI).")
    dir: str | None = field(None, help="Where tensorboard writes its event files, mlflow its file store (unless MLFLOW_TRACKING_URI is set) and wandb its local files; default in `seft run`: RUN/tracking.")
    project: str = field("seft", help="wandb/trackio project, mlflow experiment.")
    name: str | None = field(None, help="The tracked run's name (all stages log into it); default in `seft run`: the run directory's name (with -seed<k> per seed).")
    stage: str | None = field(None, help="Prefix of every metric of this training call (`reviser`, `round_01`, `baseline/dpo`, ...), so one run holds every stage; `seft run` fills it in per call.")


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
    group_by_length: bool = field(False, help="Batch examples of similar length together (the epoch's order stays random, in groups of 50 batches): less padding to compute (on the demo's reviser data padding falls from 27% of the positions to 1%, a step takes ~20% less time). Off by default: it also groups examples by kind (a KEEP target is a short tag, a MAJOR target a whole answer), and on the demo that made the reviser markedly worse (round 1: 18% of drafts improved instead of 44%, harm 7% instead of 3%). SFT calls only; DPO and ORPO batches stay random.")
    lora: bool = field(False, help="Train a LoRA adapter instead of all weights.")
    lora_r: int = field(16, min=1, help="LoRA rank.")
    lora_alpha: int = field(32, min=1, help="LoRA scaling (alpha).")
    lora_dropout: float = field(0.05, min=0.0, max=1.0, help="LoRA dropout.")
    lora_target_modules: str | list[str] = field("all-linear", help="Modules that get LoRA adapters ('all-linear' or a list of names).")
    precision: str = field("auto", choices=("auto", "fp32", "bf16", "fp16"), help="Training precision; auto = bf16 on a GPU that supports it, fp32 on CPU. bf16 on a CPU is bf16 autocast over fp32 weights: 2-2.4x faster than fp32 for SmolLM2-135M (LoRA, full) on a CPU with AMX or AVX512-BF16 (benchmarks/train_speed.py --dtype float32 bfloat16), slower than fp32 on one without; `seft run` says which yours has.")
    gradient_checkpointing: bool = field(False, help="Trade compute for memory (off: ~20% faster on small models).")
    seed: int = field(0, help="Seed for data order and initialisation of new weights.")
    logging_steps: int = field(10, min=1, help="Log the loss every this many steps.")
    save_steps: int = field(100, min=1, help="Write a resumable checkpoint every this many optimizer steps (only the latest is kept; all are deleted once training finishes).")
    tracking: TrackingConfig = field(default_factory=TrackingConfig, help="Where this training call's loss, learning rate and other logged metrics go (every logging_steps); `seft run` fills it in from its own `tracking`.")
    launcher: str | None = field(None, help="Run each training call in its own processes with this command, e.g. 'accelerate launch --config_file configs/accelerate/deepspeed_zero3.yaml' (DeepSpeed ZeRO, FSDP or DDP over several GPUs) or 'torchrun --nproc_per_node 8': seft appends `-m seft.training.launch JOB.json`, waits, and reads back the model and metrics rank 0 wrote. Generation, evaluation and the run state stay in the calling process. batch_size is per process. null: train in this process.")


@dataclass
class GenerationConfig:
    """How drafts and revisions are generated."""
    backend: str = field("hf", choices=("hf", "vllm"), help="Generation engine: hf (transformers, CPU/GPU) or vllm (GPU; pip install 'seft[vllm]'; a LoRA round is merged into a temporary full model first; settings below marked vllm).")
    batch_size: int = field(64, min=1, help="Prompts per generation batch (hf backend).")
    max_padding: float = field(0.5, min=0.0, max=1.0, help="hf: largest share of a batch's positions (each row's prompt padded to the batch's longest, plus max_new_tokens) that may be padding; a longer prompt starts a new batch, so a few very long prompts (IFBench has one of 2,591 tokens among ~100-token ones) do not pad a whole batch to their length. 1.0: batches of batch_size, whatever their padding.")
    temperature: float = field(0.7, min=0.0, help="Sampling temperature; 0 = greedy.")
    top_p: float = field(0.95, min=0.0, max=1.0, help="Nucleus sampling threshold.")
    max_new_tokens: int = field(48, min=1, help="Longest completion in tokens.")
    seed: int = field(0, help="Sampling seed.")
    tensor_parallel_size: int = field(1, min=1, help="vllm: GPUs one engine shards the model over (tensor parallelism).")
    gpu_memory_utilization: float = field(0.9, min=0.05, max=1.0, help="vllm: share of each GPU's memory the engine takes for weights and KV cache. seft keeps one vLLM engine alive at a time and releases it before every SFT step, so the default fits one GPU; lower it if something else shares the GPU.")
    max_model_len: int | None = field(None, min=16, help="vllm: longest sequence (prompt + completion) in tokens the engine plans its KV cache for; null: the model's own limit (lower it when that cache does not fit).")
    dtype: str = field("auto", choices=("auto", "bfloat16", "float16", "float32"), help="dtype of weights and activations while generating. auto: vllm follows its rule (bf16 for bf16 checkpoints, fp16 for fp16/fp32 ones); hf uses bf16 on a CUDA GPU that supports it and float32 elsewhere (on CPU, the precision training's auto keeps there, whatever the CPU). bfloat16 on a CPU with AMX or AVX512-BF16 prefills ~3x faster than float32 for SmolLM2-135M (benchmarks/revise_speed.py --dtype bfloat16); without them it is slower than float32.")
    enforce_eager: bool = field(False, help="vllm: skip CUDA-graph capture (less memory and a faster start, slower decoding).")
    speculative_tokens: int = field(0, min=0, help="vllm: n-gram speculative decoding (prompt lookup) with this many tokens proposed per step; 0: off. For revisions the draft is in the prompt, so lookup finds what the reviser copies. It pays at low concurrency (few sequences, decode memory-bound) and costs at high batch (the GPU is busy, rejected tokens are waste); the hf backend's one-pass revision engine does this by itself (revise.engine).")
    prompt_lookup_max: int = field(4, min=1, help="vllm: longest n-gram of the output so far looked up in the prompt (with speculative_tokens).")
    prompt_lookup_min: int = field(2, min=1, help="vllm: shortest such n-gram (with speculative_tokens).")

    def __post_init__(self):
        if self.prompt_lookup_min > self.prompt_lookup_max:
            raise ValueError(f"prompt_lookup_min ({self.prompt_lookup_min}) must not exceed prompt_lookup_max ({self.prompt_lookup_max})")


# ----------------------------------------------------------------------------- judges
@dataclass
class JudgeConfig:
    """Which judge scores and compares responses, and how an API judge is called."""
    kind: str = field("testbed", choices=("testbed", "reward_model", "openai", "python"), help="testbed: the verifiable scorer; reward_model: a local sequence-classification checkpoint; openai: an LLM behind any OpenAI-compatible /chat/completions endpoint (vLLM, llama.cpp server, hosted APIs); python: your own function, see `function`.")
    function: str | None = field(None, help="python: 'package.module:name' of a scorer (record, response) -> float in [0, 1] or None (no judgment), called once per item (or once per batch with lists, when the function has `batched = True`); `record` is the prompt record (id, prompt, meta: put references or constraints there). Importable from the working directory or PYTHONPATH. Scores are cached (cache_dir), keyed by the function, its module's source and the item. seft.worlds.scoring:strict / loose / strict_all score IFEval and IFBench records.")
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
    cache_dir: str = field("~/.cache/seft/judgments", help="openai and python: where judge replies are cached, so a rerun costs nothing (env SEFT_CACHE overrides the ~/.cache/seft prefix).")
    use_cache: bool = field(True, help="openai and python: read and write the reply cache.")
    batch_size: int = field(8, min=1, help="reward_model: sequences per forward pass.")
    max_length: int | None = field(None, min=8, help="reward_model: longest (prompt + response) in tokens, truncated from the left so the response survives; null: the model's limit.")

    def __post_init__(self):
        if self.kind == "python" and not self.function:
            raise ValueError("judge kind 'python' needs `function` ('package.module:name')")
        if self.kind in ("reward_model", "openai") and not self.model:
            raise ValueError(f"judge kind '{self.kind}' needs `model` (a checkpoint for reward_model, a model name for openai)")


# ----------------------------------------------------------------------------- revision audit
@dataclass
class AuditConfig:
    """The revision audit: each draft and its final response judged, to show the reviser keeps good drafts and improves bad ones."""
    enabled: bool = field(True, help="Judge every round's drafts and final responses with the run's judge (metrics.json `audit`, report.md). The judge only measures: it never chooses among revisions.")
    sample: int | None = field(None, min=1, help="Judge at most this many revisions per round (a seeded sample), to bound a paid judge's cost; null: all.")
    mode: str = field("score", choices=("score", "compare"), help="score: judge draft and final each on their own (preservation and KEEP precision/recall need this); compare: ask a pairwise judge whether the final beats the draft.")
    top_score: float | None = field(1.0, help="The judge's best score: a draft at it is 'already perfect' (1.0 for the testbed's and Python judges' [0, 1] scores); null: the best draft score seen.")
    seed: int = field(0, help="Seed of the audit's sample.")
