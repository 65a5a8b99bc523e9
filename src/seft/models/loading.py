"""Loading a model folder: a full ``save_pretrained`` folder, a PEFT adapter folder on its base, or
a registered ``models:NAME``; the precision a device supports; parameter counts.

A model folder is either a full ``save_pretrained`` folder or a PEFT adapter folder (holding
``adapter_config.json``, whose ``base_model_name_or_path`` names the base). Every stage that takes
a model path accepts both, so a SEFT round can hand its LoRA adapter straight to the next one.
Nothing here imports torch/transformers/peft at module import time.
"""
from __future__ import annotations

import json
import logging
import warnings
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ADAPTER_CONFIG", "adapter_base_path", "count_parameters", "is_adapter_dir", "load_model_and_tokenizer",
           "approx_parameters", "contiguous_head_inputs", "load_tokenizer", "local_or_hub", "native_bf16",
           "quiet_library_noise", "resolve_precision", "unwrap_peft"]

ADAPTER_CONFIG = "adapter_config.json"


def local_or_hub(path: str | Path) -> Path | str:
    """An existing local folder as an absolute path (so saved adapters point at their base from
    anywhere); ``models:NAME`` as that registered model's folder, fetched on first use
    (:mod:`seft.models.registry`); anything else is returned as given (a hub id)."""
    from ..models.registry import resolve_model_ref

    p = Path(resolve_model_ref(path)).expanduser()
    return p.resolve() if p.exists() else str(path)


def is_adapter_dir(path: str | Path) -> bool:
    """True if ``path`` is a local PEFT adapter folder."""
    return (Path(path) / ADAPTER_CONFIG).is_file()


def adapter_base_path(path: str | Path) -> str:
    """The base model an adapter was trained on: a local folder or a hub id, from adapter_config.json.

    A relative base path is tried against the working directory first, then against the adapter
    folder (an adapter moved together with its base keeps working).
    """
    cfg = json.loads((Path(path) / ADAPTER_CONFIG).read_text())
    base = cfg.get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{Path(path) / ADAPTER_CONFIG} has no base_model_name_or_path; cannot find the base model")
    if Path(base).expanduser().is_dir():
        return str(Path(base).expanduser().resolve())
    beside = (Path(path) / base).resolve()
    if beside.is_dir():
        return str(beside)
    return base  # a hub id (or a missing folder: from_pretrained gives the clear error)


def load_tokenizer(path: str | Path, fallback: str | Path | None = None):
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError):
        if fallback is None:
            raise
        tok = AutoTokenizer.from_pretrained(str(fallback))  # adapter saved without its tokenizer
    if tok.pad_token is None:
        # Padding is masked out of attention and loss, so any known token serves; eos is the usual choice.
        tok.pad_token = tok.eos_token
    return tok


def load_model_and_tokenizer(path: str | Path, *, trainable: bool = False, merge_adapter: bool = False):
    """Load a full model folder or a PEFT adapter folder (with its base), in fp32.

    ``trainable`` keeps an adapter's weights trainable (to continue training it) and puts the model
    in train mode; otherwise the model is in eval mode with gradients off. ``merge_adapter`` folds
    an adapter into its base and returns a plain model (faster generation, or full fine-tuning on
    top of a LoRA round). Returns ``(model, tokenizer)`` on CPU: Trainer/accelerate place it.
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = local_or_hub(path)
    if is_adapter_dir(path):
        from peft import PeftModel

        base = adapter_base_path(path)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        with quiet_library_noise():
            model = PeftModel.from_pretrained(model, str(path), is_trainable=trainable and not merge_adapter)
        if merge_adapter:
            model = model.merge_and_unload()
        tokenizer = load_tokenizer(path, fallback=base)
    else:
        model = AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32)
        tokenizer = load_tokenizer(path)
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None and model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id  # silences generate()'s pad warning
    if trainable:
        model.train()
    else:
        model.eval()
        model.requires_grad_(False)
    return model, tokenizer


def resolve_precision(precision: str) -> str:
    """``auto`` -> ``bf16`` on a CUDA GPU that supports it, else ``fp32``.

    On CPU ``auto`` stays fp32 even where bf16 is fast (:func:`native_bf16`): a run's numbers should
    not change with the CPU it lands on, and the testbed's 0.8M model gains only ~10% from bf16 (its
    matrices are too small for the bf16 units). ``bf16`` asked for on such a CPU is taken as asked."""
    if precision != "auto":
        return precision
    import torch

    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bf16"
    return "fp32"


# CPU features with bf16 dot products in hardware (Intel AMX, AVX512-BF16 on Cooper Lake, Sapphire
# Rapids and AMD Zen 4 on): there oneDNN multiplies bf16 ~4x faster than fp32 (885 against 208
# GFLOP/s on this project's 2-core Zen machine). Without them bf16 is emulated, slower than fp32.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


def native_bf16(cpuinfo: str | None = None) -> str | None:
    """The CPU feature flag that makes bf16 fast on this machine (``amx_bf16``, ``avx512_bf16``), or
    None: from ``cpuinfo`` (the text of ``/proc/cpuinfo``; read from there when None, and None where
    there is no such file)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":  # x86 (an ARM core's "Features: bf16" is not what oneDNN's x86 kernels use)
            flags.update(value.split())
    return next((f for f in BF16_CPU_FLAGS if f in flags), None)


def approx_parameters(config) -> int | None:
    """A decoder's parameter count from its transformers config, without building it (embeddings,
    attention with grouped KV heads, a gated MLP; norms and biases left out): None when the config
    lacks the usual fields. SmolLM2-135M's gives 134.5M (134.5M built)."""
    try:
        h, n_layers, inner, vocab = (int(getattr(config, k)) for k in
                                     ("hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size"))
    except (AttributeError, TypeError):
        return None
    heads = getattr(config, "num_attention_heads", None) or 1
    kv = (getattr(config, "num_key_value_heads", None) or heads) * h // heads
    embeddings = vocab * h * (1 if getattr(config, "tie_word_embeddings", True) else 2)
    return embeddings + n_layers * (2 * h * h + 2 * h * kv + 3 * h * inner)


def _contiguous_half(module, args):
    import torch

    x = args[0] if args else None
    if (isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.dtype in (torch.bfloat16, torch.float16)
            and not x.is_contiguous()):
        return (x.contiguous(), *args[1:])
    return None


def contiguous_head_inputs(model) -> None:
    """Feed the LM head contiguous hidden states in bf16/fp16 on a CPU (idempotent).

    ``transformers`` projects only the last positions at a prefill (``logits_to_keep``), and the
    slice it hands the head is a strided view. In torch 2.13 on a CPU a bf16 ``linear`` over such a
    view goes a slow way that allocates about one copy of the head's weight per batch row: with
    SmolLM2's 49,152 x 576 head and 64 rows, ~2.3 s and 3.4 GiB per prefill instead of ~5 ms and
    nothing (``python benchmarks/head_view.py``). A copy of the slice gives bit-identical logits in
    bf16 and fp16. In fp32 the view is also slower, but a copy rounds differently (~1e-5), so fp32
    is left as it is: the default run computes exactly what it did.
    """
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is None or getattr(head, "_seft_contiguous", False):
        return
    head.register_forward_pre_hook(_contiguous_half)
    head._seft_contiguous = True


def unwrap_peft(model):
    """The causal LM inside a PEFT wrapper (its LoRA layers in place), or ``model`` itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def count_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; PEFT models count base + adapter in the total."""
    def numel(p) -> int:  # DeepSpeed ZeRO-3 leaves each rank an empty placeholder; ds_numel is the real size
        return getattr(p, "ds_numel", None) or p.numel()

    trainable = sum(numel(p) for p in model.parameters() if p.requires_grad)
    total = sum(numel(p) for p in model.parameters())
    return trainable, total


class _DropMessages(logging.Filter):
    def __init__(self, *fragments: str):
        super().__init__()
        self.fragments = fragments

    def filter(self, record: logging.LogRecord) -> bool:
        return not any(f in record.getMessage() for f in self.fragments)


@contextmanager
def quiet_library_noise():
    """Hide known-harmless library noise, never errors: transformers' "Writing model shards" bar at
    every checkpoint, its "mtime may not be reliable" note when two checkpoints land within a second,
    and PEFT 0.21 reading transformers 5's deprecated ``is_gradient_checkpointing``."""
    from transformers.utils import logging as hf_logging

    bars_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    drop = _DropMessages("mtime may not be reliable")
    trainer_utils_logger = logging.getLogger("transformers.trainer_utils")
    trainer_utils_logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`is_gradient_checkpointing` is deprecated",
                                    category=FutureWarning)
            yield
    finally:
        trainer_utils_logger.removeFilter(drop)
        if bars_on:
            hf_logging.enable_progress_bar()
