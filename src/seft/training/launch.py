"""Training calls in their own processes: how ``seft`` runs on several GPUs.

``seft run`` (and ``seft evolve``) is one driver process: it generates drafts and revisions,
evaluates, and writes every artifact and ``state.json``. A training call whose ``TrainConfig``
has a ``launcher`` does not train in that process. It writes a job folder (the examples and the
settings) and runs ``LAUNCHER -m seft.training.job JOB.json``, e.g. with ``accelerate launch
--config_file configs/accelerate/deepspeed_zero3.yaml``. Every launched process joins the training
(DDP, DeepSpeed ZeRO or FSDP: whatever the launcher says), only rank 0 writes the model and
``train_metrics.json`` (:func:`seft.training.common.run_training`), and the driver reads the
result back once all of them have exited.

Why a driver that launches training, and not the whole pipeline under ``accelerate launch``:
generation wants every GPU in one engine (vLLM with tensor parallelism) while training wants one
process per GPU; a fresh set of processes per training call gets all GPU memory back between the
two and leaves no DeepSpeed/FSDP state behind from the previous round; and no rank has to sit in a
collective, under a timeout, while rank 0 generates for an hour. A killed job resumes from its
checkpoint like an in-process call, because the job runs exactly that call.
"""
from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

from ..config.common import TrainConfig
from ..config.core import to_dict

__all__ = ["JOB_DIR", "MODULE", "launch_training", "launched_world_size", "launcher_command", "read_jsonl", "should_launch"]

JOB_DIR = ".launch"  # inside the output folder; removed once the job succeeded
MODULE = "seft.training.job"  # what the launched processes run (`LAUNCHER -m MODULE JOB.json`)

log = logging.getLogger(__name__)


def launched_world_size() -> int:
    """How many processes the launcher that started this one started (1: not launched)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def should_launch(cfg: TrainConfig) -> bool:
    """True when ``cfg.launcher`` is set and this process is not already one of several launched
    ones (``accelerate launch -m seft.cli reviser train`` trains where it stands)."""
    if not cfg.launcher:
        return False
    if launched_world_size() > 1:
        log.info("already one of %d launched processes: training here, not through %r",
                 launched_world_size(), cfg.launcher)
        return False
    return True


def launcher_command(launcher: str, job: str | Path) -> list[str]:
    """``launcher`` split like a shell would, then ``-m seft.training.launch JOB``.

    A bare program name (``accelerate``, ``torchrun``) is taken from this Python's environment
    when it is there, so the launched processes run the same interpreter and packages as the
    driver even when that environment is not activated."""
    argv = shlex.split(launcher)
    if not argv:
        raise ValueError("launcher is empty")
    beside = Path(sys.executable).parent / argv[0]
    if os.sep not in argv[0] and beside.is_file():
        argv[0] = str(beside)
    return [*argv, "-m", MODULE, str(job)]


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def launch_training(method: str, model_path: str | Path, examples: list[dict], out_dir: str | Path,
                    cfg: TrainConfig, *, beta: float | None = None, eval_examples: list[dict] | None = None,
                    resume: bool = True, callbacks: list | None = None):
    """Run one training call (``method``: sft, dpo or orpo) through ``cfg.launcher`` and return
    its :class:`~seft.training.common.TrainResult`, read from what rank 0 wrote to ``out_dir``."""
    from .common import METRICS_FILE, TrainResult

    if callbacks:
        raise ValueError("callbacks are Python objects and cannot cross into launched processes; "
                         "train in-process (launcher: null) to use them")
    out_dir = Path(out_dir).expanduser().resolve()
    job_dir = out_dir / JOB_DIR
    job_dir.mkdir(parents=True, exist_ok=True)
    _write_jsonl(job_dir / "examples.jsonl", examples)
    if eval_examples:
        _write_jsonl(job_dir / "eval_examples.jsonl", eval_examples)
    job = {"method": method, "model_path": str(model_path), "out_dir": str(out_dir),
           "train": to_dict(replace(cfg, launcher=None)), "beta": beta, "resume": resume,
           "eval_examples": bool(eval_examples)}
    (job_dir / "job.json").write_text(json.dumps(job, indent=2))
    (out_dir / METRICS_FILE).unlink(missing_ok=True)  # an old run's metrics must not pass for this one's

    cmd = launcher_command(cfg.launcher, job_dir / "job.json")
    log.info("training %s in launched processes: %s", method, shlex.join(cmd))
    proc = subprocess.Popen(cmd)
    try:
        code = proc.wait()
    except BaseException:  # Ctrl-C, or the driver being stopped: take the launched processes along
        proc.terminate()  # torchrun (inside accelerate launch) forwards SIGTERM to its workers
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    if code != 0:
        raise RuntimeError(f"launched training failed (exit code {code}): {shlex.join(cmd)}; "
                           f"its job is kept in {job_dir} and a rerun resumes from the last checkpoint")
    metrics_path = out_dir / METRICS_FILE
    if not metrics_path.is_file():
        raise RuntimeError(f"launched training exited cleanly but wrote no {metrics_path}: {shlex.join(cmd)}")
    shutil.rmtree(job_dir, ignore_errors=True)
    return TrainResult(out_dir, json.loads(metrics_path.read_text()))
