"""Config of the HTML report (``report.html``) and of ``seft report``, which rebuilds it.

Kept apart from ``stages.py``: the report reads finished files, it is no pipeline stage.
"""
from __future__ import annotations

from dataclasses import dataclass

from .core import field

__all__ = ["HtmlReportConfig", "ReportConfig"]


@dataclass
class HtmlReportConfig:
    """What ``report.html`` shows of a run's revisions; it bounds the page's size."""
    rows_per_level: int = field(60, min=0, help="Revisions shown per round and level (KEEP, MINOR, MAJOR, fallback), drawn at random with `seed`: the page's size does not grow with the run (4 levels x this x rounds rows at most). 0: no rows, only the tables and plots.")
    seed: int = field(0, help="Seed of the row sample (the same seed shows the same rows).")


@dataclass
class ReportConfig:
    """``seft report RUN_DIR``: rebuild a finished run's ``report.html`` (older runs included)."""
    run_dir: str | None = field(None, help="Run directory made by `seft run` or `seft evolve` (the one holding rounds/ and report.md; with several seeds, one of its seed_<k>/ folders).")
    html: HtmlReportConfig = field(default_factory=HtmlReportConfig, help="What the page shows.")
    out: str | None = field(None, help="Where to write the page (default: RUN_DIR/report.html).")
