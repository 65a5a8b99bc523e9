"""Run state: which units of work are complete, so a killed run continues where it stopped.

A unit (a stage, a round's step, a generation shard) first writes its artifacts atomically, then
is marked done here; ``state.json`` itself is replaced atomically. A crash between the two only
costs redoing that one unit, never a corrupt or half-trusted artifact.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..config.core import diff_configs, dump_yaml, to_dict
from .io import atomic_write_json, atomic_write_text

__all__ = ["RunState", "ConfigMismatch", "open_run_dir", "replace_dir"]


class ConfigMismatch(ValueError):
    """The run directory holds a run made with another config."""


class RunState:
    """The units done in one run directory. The file is the truth: a run and the evolution inside
    it each hold a RunState of the same ``state.json``, so every read and every mark reads the
    file again (a mark written from a stale copy would erase the other's marks)."""

    def __init__(self, path: Path):
        self.path = path

    @property
    def data(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.exists() else {"done": [], "info": {}}

    def done(self, unit: str) -> bool:
        return unit in self.data["done"]

    def mark(self, unit: str, **info) -> None:
        data = self.data
        if unit not in data["done"]:
            data["done"].append(unit)
        if info:
            data["info"][unit] = info
        atomic_write_json(self.path, data)

    def info(self, unit: str) -> dict:
        return self.data["info"].get(unit, {})


def open_run_dir(out: Path, cfg, *, force: bool) -> RunState:
    """Create or reopen a run directory; refuse one that holds another config unless ``force``."""
    cfg_path = out / "config.yaml"
    if force and out.exists():
        shutil.rmtree(out)
    if cfg_path.exists():
        import yaml

        old = yaml.safe_load(cfg_path.read_text())
        new = to_dict(cfg)
        # `force` is an action, `out` a location (a moved run directory is still the same run),
        # tracking only where metrics are shown (a resumed run may switch it on) and html what
        # the page shows of the finished files.
        changed = [k for k in diff_configs(old, new) if k not in ("force", "out")
                   and not {"tracking", "html"} & set(k.split("."))]
        if changed:
            raise ConfigMismatch(
                f"{out} holds a run with a different config (changed: {', '.join(changed)}); "
                "use another --out, or --force to start this one over")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(cfg_path, dump_yaml(cfg))
    return RunState(out / "state.json")


def replace_dir(tmp: Path, final: Path) -> None:
    """Move a fully written folder into place (the old one, if any, is removed first)."""
    if final.exists():
        shutil.rmtree(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
