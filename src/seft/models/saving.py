"""Writing a model folder with full weights: an adapter folded into its base, in the dtype asked."""
from __future__ import annotations

from pathlib import Path

__all__ = ["save_full_model", "saved_dtype"]


def saved_dtype(model_ref: str | Path | None) -> str | None:
    """The dtype a model's config.json says its weights were saved in (None when unknown)."""
    if model_ref is None:
        return None
    try:
        from transformers import AutoConfig

        dtype = getattr(AutoConfig.from_pretrained(str(model_ref)), "dtype", None)
    except (OSError, ValueError):
        return None
    return str(dtype).removeprefix("torch.") if dtype is not None else None


def save_full_model(model_path: str | Path, out: str | Path, *, dtype: str = "auto",
                    dtype_from: str | Path | None = None) -> str:
    """Write ``model_path`` (a full model, or an adapter folded into its base) as a plain model
    folder: safetensors weights, config, generation config, tokenizer and chat template.

    Merging runs in float32 (as training did); ``dtype="auto"`` then casts to the dtype
    ``dtype_from`` (default: the base) was saved in, so a bf16 7B model does not come back at
    twice its size. Returns the dtype written."""
    import torch

    from .loading import adapter_base_path, is_adapter_dir, load_model_and_tokenizer

    if dtype == "auto":
        ref = dtype_from or (adapter_base_path(model_path) if is_adapter_dir(model_path) else model_path)
        dtype = saved_dtype(ref) or "float32"
        if dtype not in ("float32", "bfloat16", "float16"):
            dtype = "float32"
    model, tok = load_model_and_tokenizer(model_path, merge_adapter=True)
    model = model.to(getattr(torch, dtype))
    out = Path(out)
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    return dtype
