"""Score a model on held-out sets with a judge: greedy answers, per-prompt scores, bootstrap CI."""
from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Sequence

from ..data.io import atomic_write_json, write_jsonl
from ..data.readers import load_records
from ..generation.base import SamplingParams
from ..judges import get_judge, judge_label
from .stats import summarize

__all__ = ["adopt_evaluation", "evaluate_model"]

log = logging.getLogger(__name__)


def evaluate_model(name: str, model_path: str, cfg, out_dir: Path, state, models, *,
                   skip: Sequence[str] = ()) -> dict:
    """``{set: {"score", "ci95", "n"}}`` for one model; cached in ``out_dir`` and the run state.

    ``cfg`` needs ``eval_sets`` (name -> file), ``eval_format``, ``judge`` and ``eval_max_new_tokens``;
    the sets named in ``skip`` are not scored (a round between the first and the last one does not
    score `final_only_sets`).
    """
    unit = f"eval/{name}"
    summary_path = out_dir / "summary.json"
    if state.done(unit) and summary_path.exists():
        return json.loads(summary_path.read_text())
    judge = get_judge(cfg.judge)
    params = SamplingParams(temperature=0.0, max_new_tokens=cfg.eval_max_new_tokens)
    summary = {}
    gen = models.generator(str(model_path), cfg.draft.batch_size, cfg.draft)  # the drafts' backend
    for set_name, path in cfg.eval_sets.items():
        if set_name in skip:
            continue
        records = [r.to_dict() for r in load_records(path, "prompts", format=cfg.eval_format).records]
        t0 = time.perf_counter()
        answers = gen.generate([r["prompt"] for r in records], params, desc=f"eval {name} on {set_name}")
        scores = judge.score(records, answers)
        write_jsonl(out_dir / f"{set_name}.jsonl",
                    [{"id": r["id"], "response": a, "score": s} for r, a, s in zip(records, answers, scores)])
        if all(s is None for s in scores):
            raise RuntimeError(f"the judge ({judge_label(cfg.judge)}) gave no judgment for any of the "
                               f"{len(scores)} answers of {name} on {set_name}; see the log for its errors")
        summary[set_name] = summarize(scores)
        if summary[set_name].get("missing"):
            log.warning("%s on %s: %d of %d answers got no judgment (the judge failed, or returned None: e.g. "
                        "nothing it can check offline) and are left out of the score", name, set_name,
                        summary[set_name]["missing"], len(scores))
        low, high = summary[set_name]["ci95"]
        log.info("%s on %s: %.3f [%.3f, %.3f] over %d answers, in %.0f s", name, set_name,
                 summary[set_name]["score"], low, high, summary[set_name]["n"], time.perf_counter() - t0)
    atomic_write_json(summary_path, summary)
    state.mark(unit)
    return summary


def adopt_evaluation(name: str, src_dir: Path, src_state, dest_dir: Path, dest_state) -> bool:
    """Give another run directory a finished evaluation of ``name`` (its answers, scores and
    summary) instead of computing it again; True when it was copied.

    For runs inside a run (the no-draft ablation, the scaling curve) whose model and evaluation
    settings are the parent's: the base policy's greedy answers on the same sets, with the same
    judge, are the same answers, and on IFBench they cost minutes."""
    unit = f"eval/{name}"
    if dest_state.done(unit) or not src_state.done(unit) or not (src_dir / "summary.json").exists():
        return False
    shutil.copytree(src_dir, dest_dir, dirs_exist_ok=True)
    dest_state.mark(unit, adopted_from=str(src_dir))
    return True
