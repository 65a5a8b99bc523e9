"""Experiment tracking: one tracked run per SEFT run, every stage's metrics in it by name.

A SEFT run trains many times (the reviser, every round, every baseline), in this process or in
launched ones. transformers' ``report_to`` would make each training call its own run with the
same metric names; here every call opens the run's tracker, logs ``<stage>/<metric>`` with the
call's own step, and closes it again, so TensorBoard shows ``reviser/train/loss``,
``round_01/train/loss``, ... side by side, and the per-round scores and audit numbers
(``seft/eval/<set>/score``, ``seft/audit/...``) with the round as the step.

Backends are imported only when used: tensorboard (tested; ``pip install 'seft[tensorboard]'``),
wandb, mlflow and trackio (optional extras; they read their usual environment variables).
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from ..config.common import TrackingConfig
from ..config.core import ConfigError

__all__ = ["Tracker", "log_metrics", "open_tracker", "scalar_metrics", "stage_name"]


class Tracker(Protocol):
    def log(self, metrics: Mapping[str, float], step: int) -> None: ...

    def close(self) -> None: ...


def stage_name(*parts: str | None) -> str:
    """A metric-name prefix from its parts, the empty ones left out: ``("no_drafts", "round_01")``
    -> ``"no_drafts/round_01"``; ``(None, "reviser")`` -> ``"reviser"``; nothing -> ``""``."""
    return "/".join(p for p in parts if p)


def scalar_metrics(values: Mapping[str, Any], prefix: str = "") -> dict[str, float]:
    """The finite numbers of ``values`` (nested dicts flattened with '/'), named ``prefix/key``;
    strings, lists, None and NaN are left out (a tracker plots numbers)."""
    out: dict[str, float] = {}
    for key, value in values.items():
        name = f"{prefix}/{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(scalar_metrics(value, name))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[name] = float(value)
    return out


def _run_id(cfg: TrackingConfig) -> str:
    # A stable id from the name and folder: every stage and every launched process resumes the
    # same wandb / trackio run instead of starting a new one.
    return hashlib.sha1(f"{cfg.project}\0{cfg.name}\0{cfg.dir}".encode()).hexdigest()[:16]


def _require(name: str):
    """The tracker's package, or a ConfigError that says how to install it."""
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ConfigError(f"tracking.backend: {name} is not installed (pip install 'seft[{name}]')") from None


class _TensorBoard:
    def __init__(self, cfg: TrackingConfig):
        _require("tensorboard")
        from torch.utils.tensorboard import SummaryWriter
        # One folder per tracked run: TensorBoard reads every event file in it as one run.
        self.writer = SummaryWriter(log_dir=str(Path(cfg.dir or "runs/tracking").expanduser() / (cfg.name or "seft")))

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        for name, value in metrics.items():
            self.writer.add_scalar(name, value, global_step=step)

    def close(self) -> None:
        self.writer.close()


class _WandB:
    def __init__(self, cfg: TrackingConfig):
        wandb = _require("wandb")
        self.run = wandb.init(project=cfg.project, name=cfg.name, id=_run_id(cfg), resume="allow", dir=cfg.dir,
                              reinit="finish_previous")
        self.defined: set[str] = set()

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        # wandb wants one increasing step per run; each stage gets its own step axis instead.
        for name in metrics:
            stage = name.split("/", 1)[0]
            if stage not in self.defined:
                self.run.define_metric(f"{stage}/step", hidden=True)
                self.run.define_metric(f"{stage}/*", step_metric=f"{stage}/step")
                self.defined.add(stage)
        by_stage: dict[str, dict[str, float]] = {}
        for name, value in metrics.items():
            by_stage.setdefault(name.split("/", 1)[0], {})[name] = value
        for stage, values in by_stage.items():
            self.run.log({**values, f"{stage}/step": step})

    def close(self) -> None:
        self.run.finish()


class _MLflow:
    def __init__(self, cfg: TrackingConfig):
        import os

        self.mlflow = mlflow = _require("mlflow")
        if cfg.dir and not os.environ.get("MLFLOW_TRACKING_URI"):
            mlflow.set_tracking_uri(Path(cfg.dir).expanduser().resolve().as_uri())
        mlflow.set_experiment(cfg.project)
        found = mlflow.search_runs(filter_string=f"tags.mlflow.runName = '{cfg.name}'", max_results=1,
                                   output_format="list")
        self.run = mlflow.start_run(run_id=found[0].info.run_id) if found else mlflow.start_run(run_name=cfg.name)

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.mlflow.log_metrics(dict(metrics), step=step)  # mlflow keeps a step axis per metric

    def close(self) -> None:
        self.mlflow.end_run()


class _Trackio:
    def __init__(self, cfg: TrackingConfig):
        self.trackio = trackio = _require("trackio")
        trackio.init(project=cfg.project, name=cfg.name, resume="allow")

    def log(self, metrics: Mapping[str, float], step: int) -> None:
        self.trackio.log(dict(metrics), step=step)

    def close(self) -> None:
        self.trackio.finish()


BACKENDS = {"tensorboard": _TensorBoard, "wandb": _WandB, "mlflow": _MLflow, "trackio": _Trackio}


def open_tracker(cfg: TrackingConfig) -> Tracker | None:
    """The run's tracker, or None when tracking is off."""
    if cfg.backend == "none":
        return None
    if cfg.backend not in BACKENDS:
        raise ConfigError(f"tracking.backend: unknown {cfg.backend!r}; choose from none, {', '.join(BACKENDS)}")
    return BACKENDS[cfg.backend](cfg)


def log_metrics(cfg: TrackingConfig, metrics: Mapping[str, Any], step: int, prefix: str = "") -> None:
    """Open, log the numbers of ``metrics`` (flattened, named ``prefix/...``) at ``step``, close.
    Nothing happens when tracking is off."""
    tracker = open_tracker(cfg)
    if tracker is None:
        return
    try:
        tracker.log(scalar_metrics(metrics, prefix), step)
    finally:
        tracker.close()
