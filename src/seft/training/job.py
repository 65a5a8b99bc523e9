"""The launched side of a training job: ``LAUNCHER -m seft.training.job JOB.json`` runs, in every
launched process, the training call that :func:`seft.training.launch.launch_training` wrote down.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from ..config.common import TrainConfig
from ..config.core import from_dict
from .launch import MODULE, launched_world_size, read_jsonl

__all__ = ["main", "run_job"]

log = logging.getLogger(MODULE)  # the same name when run as `-m seft.training.job` (__main__)


def run_job(job_path: str | Path):
    """Run the training call a job folder describes, in this process (one of the launched ones)."""
    job_path = Path(job_path)
    job = json.loads(job_path.read_text())
    cfg = from_dict(TrainConfig, job["train"])
    examples = read_jsonl(job_path.parent / "examples.jsonl")
    if job["method"] == "sft":
        from .sft import train_sft

        eval_examples = read_jsonl(job_path.parent / "eval_examples.jsonl") if job["eval_examples"] else None
        return train_sft(job["model_path"], examples, job["out_dir"], cfg, eval_examples=eval_examples,
                         resume=job["resume"])
    from .preference import train_preference

    return train_preference(job["method"], job["model_path"], examples, job["out_dir"], cfg,
                            beta=job["beta"], resume=job["resume"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: LAUNCHER -m {MODULE} JOB.json (written by seft; see seft.training.launch)", file=sys.stderr)
        return 2
    rank = int(os.environ.get("RANK", "0") or 0)
    # Rank 0 speaks for the job; the other ranks only report problems.
    if rank != 0:
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")  # before datasets is imported
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING,
                        format=f"%(asctime)s %(levelname)s [rank {rank}] %(name)s: %(message)s", datefmt="%H:%M:%S")
    log.info("%d process(es): running %s", launched_world_size(), argv[0])
    run_job(argv[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
