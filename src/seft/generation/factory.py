"""Building generators from a config section: the one place that knows which backends exist.

Stages never construct a backend themselves; they ask a :class:`GeneratorCache` for the
generator of a model path under a :class:`~seft.config.stages.GenerationConfig` section, and the
section's ``backend`` decides. Backend modules (and torch, transformers, vllm) are imported only
when a generator is built.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..config.core import ConfigError

__all__ = ["BACKENDS", "GeneratorCache", "build_generator", "check_backend"]

log = logging.getLogger(__name__)

BACKENDS = ("hf", "vllm")


def check_backend(gen_cfg) -> None:
    """Fail before any work (not hours into a run) when the section's backend cannot run here."""
    if gen_cfg.backend not in BACKENDS:
        raise ConfigError(f"backend: '{gen_cfg.backend}' is not a generation backend; choose one of {list(BACKENDS)}")
    if gen_cfg.backend == "vllm":
        from .vllm import import_vllm, vllm_available

        if not vllm_available():
            import_vllm()  # raises the install hint


def build_generator(path: str | Path, gen_cfg=None, *, batch_size: int | None = None):
    """A generator over the model at ``path`` (full model or LoRA adapter folder) with the backend
    of ``gen_cfg`` (default: hf)."""
    backend = gen_cfg.backend if gen_cfg is not None else "hf"
    if backend == "vllm":
        from .vllm import VLLMGenerator

        return VLLMGenerator(path, gen_cfg)
    if backend == "hf":
        from ..models.loading import load_model_and_tokenizer
        from .hf import HFGenerator

        model, tok = load_model_and_tokenizer(path, merge_adapter=True)  # merged: faster generation
        import torch

        if torch.cuda.is_available():  # models load on CPU in fp32; generating there on a GPU box wastes it
            model.to("cuda", dtype=_hf_dtype(gen_cfg.dtype if gen_cfg is not None else "auto"))
        elif gen_cfg is not None and gen_cfg.dtype not in ("auto", "float32"):
            model.to(dtype=getattr(torch, gen_cfg.dtype))
        return HFGenerator(model, tok, batch_size=batch_size or (gen_cfg.batch_size if gen_cfg else 32),
                           max_padding=gen_cfg.max_padding if gen_cfg is not None else 0.5)
    raise ConfigError(f"backend: '{backend}' is not a generation backend; choose one of {list(BACKENDS)}")


def _hf_dtype(name: str):
    """The torch dtype the hf backend generates in on a CUDA GPU (``auto``: bf16 where supported)."""
    import torch

    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
    return getattr(torch, name)


def _close(gen) -> None:
    close = getattr(gen, "close", None)
    if close is not None:
        close()


class GeneratorCache:
    """One generator per (backend, model path) per process, built on demand.

    ``default`` is the GenerationConfig section used when a caller names none. At most one vLLM
    engine is alive at a time: each reserves ``gpu_memory_utilization`` of the GPU up front, so
    the policy's and the reviser's engines could not both start on one GPU; switching models
    closes the other engine (a model is reloaded when it comes back: a minute for a 7B model,
    against generation measured in hours). :meth:`release_engines` frees the GPU before training.
    """

    def __init__(self, default=None):
        self.default = default
        self._gens: dict[tuple[str, str], object] = {}

    def generator(self, path: str, batch_size: int, gen_cfg=None):
        gen_cfg = gen_cfg if gen_cfg is not None else self.default
        backend = gen_cfg.backend if gen_cfg is not None else "hf"
        key = (backend, str(path))
        if key not in self._gens:
            if backend == "vllm":
                self.release_engines()
            self._gens[key] = build_generator(path, gen_cfg, batch_size=batch_size)
        gen = self._gens[key]
        if backend == "hf":
            gen.batch_size = batch_size
            if gen_cfg is not None:
                gen.max_padding = gen_cfg.max_padding
        return gen

    def release_engines(self) -> None:
        """Close every vLLM engine (the GPU memory they hold is needed for training)."""
        for key in [k for k in self._gens if k[0] == "vllm"]:
            _close(self._gens.pop(key))

    def forget(self, path: str) -> None:
        """Drop every generator of ``path`` (a model that is not needed again)."""
        for key in [k for k in self._gens if k[1] == str(path)]:
            _close(self._gens.pop(key))
