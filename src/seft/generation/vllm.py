"""vLLM backend (``backend: vllm``): the production generation path on GPUs.

**Not exercised on CPU machines.** vLLM's wheel is a CUDA build, so this project's own tests run
this module only against a fake engine (a stand-in ``vllm`` module with ``LLM`` and
``SamplingParams``): they check what the engine is asked for — the prompts, the sampling
parameters, the engine settings — and that its outputs come back in input order, not that vLLM
itself generates well. Only vLLM's public API is used: ``vllm.LLM(...)``,
``LLM.generate(prompts, sampling_params)`` and ``RequestOutput.outputs[0].text``.

What keeps it interchangeable with the Hugging Face backend:

- Prompts are rendered by the same function (:func:`seft.models.chat.render_prompts`: the
  model's own chat template, then the forced ``prefixes``) and tokenised the same way (no extra
  special tokens: the template holds them), then handed to the engine as token ids, so a BOS
  token is never added twice.
- Generation stops at the same turn-ending tokens (:func:`seft.models.chat.stop_token_ids`:
  the tokenizer's eos and the generation config's) and at ``stop`` strings (cut before them).
- Temperature 0 is greedy. Sampling is seeded per request from ``params.seed`` and the prompt's
  index, so an output does not depend on what else is in the call, and a resumed shard samples
  as before (vLLM's sampler is not the HF one: the same seed gives other samples than ``hf``).

A LoRA adapter folder (a SEFT round trained with ``lora: true``) is merged into its base and
written to a temporary full-model folder first (under TMPDIR: room for one copy of the weights),
deleted when the engine is closed. vLLM's own LoRA support would avoid the copy, but it needs
``enable_lora``, a ``max_lora_rank`` and target modules it supports, and full and LoRA rounds
would then take different paths; a merged copy takes the path of every full model, at the cost
of one write of the weights per engine start.
"""
from __future__ import annotations

import gc
import logging
import shutil
import sys
import tempfile
import types
import weakref
from pathlib import Path
from typing import Sequence

from ..config.core import ConfigError
from ..models.chat import render_prompts, stop_token_ids
from .base import SamplingParams
from .hf import _cut_at_stop

__all__ = ["VLLMGenerator", "import_vllm", "vllm_available", "INSTALL_HINT"]

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'seft[vllm]'"


def vllm_available() -> bool:
    """Whether ``import vllm`` can work, without importing it (that initialises CUDA)."""
    import importlib.util

    if "vllm" in sys.modules:
        return sys.modules["vllm"] is not None
    return importlib.util.find_spec("vllm") is not None


def import_vllm():
    """The ``vllm`` module, or a ConfigError that says how to install it."""
    try:
        import vllm
    except ImportError as err:
        raise ConfigError(f"backend: 'vllm' needs the vLLM package, which is not installed: {INSTALL_HINT} "
                          "(a CUDA build, for GPU machines), or use backend: hf") from err
    return vllm


def engine_kwargs(cfg) -> dict:
    """``vllm.LLM`` keyword arguments from a GenerationConfig section."""
    kwargs = dict(tensor_parallel_size=cfg.tensor_parallel_size, gpu_memory_utilization=cfg.gpu_memory_utilization,
                  dtype=cfg.dtype, enforce_eager=cfg.enforce_eager, seed=cfg.seed)
    if cfg.max_model_len is not None:
        kwargs["max_model_len"] = cfg.max_model_len
    if getattr(cfg, "speculative_tokens", 0):  # prompt lookup: the draft in a reviser prompt is the proposal
        kwargs["speculative_config"] = {"method": "ngram", "num_speculative_tokens": cfg.speculative_tokens,
                                        "prompt_lookup_max": cfg.prompt_lookup_max,
                                        "prompt_lookup_min": cfg.prompt_lookup_min}
    return kwargs


class VLLMGenerator:
    """Generate with one ``vllm.LLM`` engine over a full model folder or a merged LoRA adapter."""

    def __init__(self, model_path: str | Path, cfg, *, show_progress: bool | None = None):
        from transformers import AutoTokenizer

        from ..data.logs import progress_enabled
        from ..models.loading import is_adapter_dir, local_or_hub

        vllm = import_vllm()  # before any merging: fail fast when it cannot run anyway
        self._sampling_cls = vllm.SamplingParams
        self.batch_size = None  # the engine schedules its own batches; kept for the Generator cache
        self.show_progress = progress_enabled() if show_progress is None else show_progress
        self._tmp: str | None = None
        path = local_or_hub(model_path)
        if is_adapter_dir(path):
            path = self._merged_copy(path)
        self.model_path = str(path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.stop_ids = sorted(stop_token_ids(self.tokenizer, _with_generation_config(self.model_path)))
        log.info("starting a vLLM engine on %s", self.model_path)
        self.engine = vllm.LLM(model=self.model_path, tokenizer=self.model_path, **engine_kwargs(cfg))

    def _merged_copy(self, adapter: Path) -> Path:
        from ..models.saving import save_full_model

        self._tmp = tempfile.mkdtemp(prefix="seft-vllm-")
        # Removed with the engine, or at exit if close() is never called.
        self._cleanup = weakref.finalize(self, shutil.rmtree, self._tmp, True)
        out = Path(self._tmp) / "model"
        log.info("merging the LoRA adapter %s into its base for vLLM (%s)", adapter, out)
        save_full_model(adapter, out)
        return out

    def sampling(self, params: SamplingParams, index: int):
        """The engine's SamplingParams for the prompt at ``index`` of a call."""
        kwargs = dict(max_tokens=params.max_new_tokens, stop=list(params.stop) or None)
        if self.stop_ids:  # the turn ends the HF backend stops at
            kwargs["stop_token_ids"] = list(self.stop_ids)
        if params.temperature > 0:
            kwargs.update(temperature=params.temperature, top_p=params.top_p,
                          seed=params.seed * 1_000_003 + index)
        else:  # greedy: no sampling, so no seed and no nucleus
            kwargs.update(temperature=0.0, top_p=1.0)
        return self._sampling_cls(**kwargs)

    def generate(self, prompts: Sequence, params: SamplingParams, *,
                 prefixes: Sequence[str] | None = None, desc: str = "generate") -> list[str]:
        if not prompts:
            return []
        texts = render_prompts(self.tokenizer, prompts, prefixes)
        requests = [{"prompt_token_ids": self.tokenizer(t, add_special_tokens=False)["input_ids"]} for t in texts]
        outputs = self.engine.generate(requests, [self.sampling(params, i) for i in range(len(texts))],
                                       use_tqdm=bool(self.show_progress))
        if len(outputs) != len(texts):
            raise RuntimeError(f"vLLM returned {len(outputs)} outputs for {len(texts)} prompts ({desc})")
        # vLLM returns outputs in input order; cutting at a stop string again is a no-op for it
        # and keeps the guarantee if an engine version includes the stop string.
        return [_cut_at_stop(o.outputs[0].text, params.stop) for o in outputs]

    def close(self) -> None:
        """Release the engine's GPU memory (best effort: vLLM frees it in-process only partly in
        some versions) and delete a merged copy."""
        if getattr(self, "engine", None) is not None:
            self.engine = None
            try:
                from vllm.distributed.parallel_state import cleanup_dist_env_and_memory
            except ImportError:
                cleanup_dist_env_and_memory = None
            gc.collect()
            if cleanup_dist_env_and_memory is not None:
                cleanup_dist_env_and_memory()
        if self._tmp is not None:
            self._cleanup()
            self._tmp = None


def _with_generation_config(path: str):
    """A stand-in model holding the folder's generation config, for ``stop_token_ids``."""
    from transformers import GenerationConfig

    try:
        config = GenerationConfig.from_pretrained(path)
    except OSError:  # no generation_config.json: the tokenizer's eos alone
        config = None
    return types.SimpleNamespace(generation_config=config)
