"""Config of ``seft export``: one round's policy of a run directory as a plain model folder.

Kept apart from ``stages.py``: exporting reads a finished run, it is no pipeline stage.
"""
from __future__ import annotations

from dataclasses import dataclass

from .core import field

__all__ = ["ExportConfig", "EXPORT_DTYPES"]

EXPORT_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class ExportConfig:
    """Which round of which run to export, and how."""
    run_dir: str | None = field(None, help="Run directory made by `seft run` or `seft evolve` (the one holding rounds/ and state.json; with several seeds, one of its seed_<k>/ folders).")
    round: int | None = field(None, min=1, help="Round whose policy to export (also `--round K`); null: the final round of the run's schedule, which must be finished.")
    merge: bool = field(False, help="Fold a LoRA round's adapter into its base and write full weights (also `--merge`). Without it a LoRA round is exported as its adapter (small; it names its base model). A full fine-tune round is always written as full weights.")
    dtype: str = field("auto", choices=EXPORT_DTYPES, help="Dtype of written full weights; auto: the dtype the base model was saved in (training and merging run in float32). Ignored for an adapter export.")
    out: str | None = field(None, help="Output folder (default: RUN_DIR/export/round_KK, with a _merged suffix when a LoRA round is merged).")
    force: bool = field(False, help="Replace `out` if it already exists.")
