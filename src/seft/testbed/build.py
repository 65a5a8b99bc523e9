"""``seft testbed build``: write the offline testbed (data splits + tiny base policy + manifest).

The build is keyed by a hash of its config and ``BUILD_VERSION``; a complete testbed with the
same hash is reused at once. It is written into a temporary sibling folder and renamed into place
only when complete, so a killed build never leaves a folder that looks finished.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Callable

from ..config.core import to_dict
from ..config.testbed import TestbedConfig
from ..data.io import atomic_write_json, write_jsonl
from ..data.logs import progress_enabled
from ..data.paths import cache_path
from ..data.schema import ExternalResponse, ScoredList, ScoredResponse
from ..data.shards import read_jsonl
from .splits import derive_seed, example_stream, prompt_stream, take, to_prompt_record
from .tasks import score_response
from .writers import QUALITIES, STRONG_WEIGHTS, write, write_mixed

__all__ = ["run_testbed_build", "publish_world", "config_hash", "is_built", "resolve_out", "BUILD_VERSION", "DATA_FILES"]

log = logging.getLogger(__name__)

BUILD_VERSION = 1  # bump when task, writer or builder code changes what a build produces
DATA_FILES = ["preferences.jsonl", "prompts.jsonl", "external.jsonl", "eval.jsonl", "eval_ood.jsonl", "dev.jsonl"]
_NOT_HASHED = {"out", "cache_dir", "force"}


def config_hash(cfg: TestbedConfig) -> str:
    content = {k: v for k, v in to_dict(cfg).items() if k not in _NOT_HASHED}
    if cfg.world == "testbed":  # the testbed's hash (and cache) from before other worlds existed
        content.pop("world"), content.pop("if_world")
    blob = json.dumps({"v": BUILD_VERSION, "cfg": content}, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _cache_root(cfg: TestbedConfig) -> Path:
    return cache_path(cfg.cache_dir)


def resolve_out(cfg: TestbedConfig) -> Path:
    return Path(cfg.out).expanduser() if cfg.out else _cache_root(cfg) / config_hash(cfg)


def is_built(cfg: TestbedConfig) -> bool:
    """True when the testbed of this config is built (checked by its manifest, nothing is built)."""
    return _is_complete(resolve_out(cfg), config_hash(cfg))


def _is_complete(path: Path, key: str) -> bool:
    try:
        return json.loads((path / "manifest.json").read_text())["config_hash"] == key
    except (OSError, ValueError, KeyError):
        return False


def run_testbed_build(cfg: TestbedConfig) -> Path:
    """Build (or reuse) the testbed and return its folder."""
    return publish_world(cfg, _build_into)


def publish_world(cfg: TestbedConfig, build_into: Callable[[TestbedConfig, str, Path], None]) -> Path:
    """Build a world with ``build_into(cfg, hash, tmp_folder)`` (or reuse the built one with the same
    hash) and return its folder: written to a temporary sibling, renamed into place when complete,
    and copied into the cache for the next caller. Every world (the testbed, worlds/) goes through
    here, so they share one cache and one notion of "built"."""
    key, out = config_hash(cfg), resolve_out(cfg)
    if _is_complete(out, key) and not cfg.force:
        log.info("%s world %s is built already (hash %s)", cfg.world, out, key)
        return out
    if out.exists() and not cfg.force and any(out.iterdir()):
        raise FileExistsError(f"{out} exists and is not a world built from this config (hash {key}); "
                              "choose another --out or pass --set force=true to overwrite it")
    cached = _cache_root(cfg) / key
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    if cached != out and _is_complete(cached, key) and not cfg.force:
        log.info("copying cached world %s", cached)
        shutil.copytree(cached, tmp)
    else:
        build_into(cfg, key, tmp)
    if out.exists():
        shutil.rmtree(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, out)
    if cached != out and not _is_complete(cached, key):  # fill the cache for the next caller
        ctmp = cached.with_name(f".{cached.name}.tmp-{os.getpid()}")
        shutil.rmtree(ctmp, ignore_errors=True)
        shutil.copytree(out, ctmp)
        shutil.rmtree(cached, ignore_errors=True)
        os.replace(ctmp, cached)
    return out


def _scored_list(index: int, ex, rng: random.Random) -> ScoredList:
    responses = [ScoredResponse(text=t, score=round(score_response(ex.task, ex.reference, t), 6), source=q)
                 for q in QUALITIES for t in [write(ex, q, rng)]]
    rng.shuffle(responses)  # the order must not tell which response is best
    return ScoredList(id=f"pref-{index:07d}", prompt=ex.prompt, responses=responses, scale=(0.0, 1.0),
                      meta={"task": ex.task})


def _build_into(cfg: TestbedConfig, key: str, tmp: Path) -> None:
    t0 = time.time()
    tmp.mkdir(parents=True)
    s, tasks = cfg.seed, cfg.tasks
    # Held-out sets first: every training split skips their prompts.
    ev = take(example_stream(s, "eval", tasks), cfg.n_eval)
    ood = take(example_stream(s, "eval_ood", tasks, hard=True), cfg.n_eval_ood)
    held_out = frozenset(e.prompt for _, e in ev + ood)

    rng = random.Random(derive_seed(s, "preference-writers"))
    prefs = [_scored_list(i, e, rng)
             for i, e in take(example_stream(s, "preferences", tasks, exclude=held_out), cfg.n_preferences)]
    rng = random.Random(derive_seed(s, "external-writer"))
    ext = [ExternalResponse(id=f"external-{i:07d}", prompt=e.prompt, response=write_mixed(e, rng, STRONG_WEIGHTS)[1],
                            source="strong_writer", meta={"task": e.task})
           for i, e in take(example_stream(s, "external", tasks, exclude=held_out), cfg.n_external)]
    files = {
        "preferences.jsonl": prefs,
        "prompts.jsonl": take(prompt_stream(s, tasks, exclude=held_out), cfg.n_prompts),
        "external.jsonl": ext,
        "eval.jsonl": [to_prompt_record("eval", i, e, with_reference=True) for i, e in ev],
        "eval_ood.jsonl": [to_prompt_record("eval_ood", i, e, with_reference=True) for i, e in ood],
        "dev.jsonl": [to_prompt_record("dev", i, e, with_reference=True)
                      for i, e in take(example_stream(s, "dev", tasks), cfg.n_dev)],
    }
    for name, records in files.items():
        write_jsonl(tmp / name, records)
    t_data = time.time() - t0

    policy = _build_base_policy(cfg, held_out, tmp / "base_policy")
    scores = {name: _score_split(policy, tmp / f"{name}.jsonl") for name in ("eval", "eval_ood")}
    manifest = {
        "config_hash": key,
        "build_version": BUILD_VERSION,
        "seed": s,
        "tasks": tasks,
        "sizes": {name: len(r) for name, r in files.items()},
        "sha256": {name: hashlib.sha256((tmp / name).read_bytes()).hexdigest() for name in files},
        "base_policy_score": scores["eval"]["mean"],
        "base_policy_score_per_task": scores["eval"]["per_task"],
        "base_policy_score_ood": scores["eval_ood"]["mean"],
        "base_policy_score_ood_per_task": scores["eval_ood"]["per_task"],
        "base_policy": policy["info"],
        "build_seconds": {"data": round(t_data, 2), "total": round(time.time() - t0, 2)},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": to_dict(cfg),
    }
    atomic_write_json(tmp / "manifest.json", manifest)  # written last: its presence means complete


def _build_base_policy(cfg: TestbedConfig, held_out: frozenset[str], out: Path) -> dict:
    import torch

    from .policy import encode_pair, make_model, pretrain
    from .tokenizer import build_tokenizer

    rng = random.Random(derive_seed(cfg.seed, "pretrain-writers"))
    corpus = [(e.prompt, write_mixed(e, rng, cfg.corpus_weights)[1])
              for _, e in take(example_stream(cfg.seed, "pretrain", cfg.tasks, exclude=held_out), cfg.pretrain_examples)]
    # The vocabulary also sees the hard split's alphabet so held-out prompts never hit <unk>.
    alphabet = [p + r for p, r in corpus] + [e.prompt + e.reference for _, e in
                                             take(example_stream(cfg.seed, "alphabet", cfg.tasks, hard=True), 512)]
    tok = build_tokenizer(alphabet)
    m = cfg.model
    model = make_model(len(tok), hidden=m.hidden, layers=m.layers, heads=m.heads, max_len=m.max_len,
                       pad_id=tok.pad_token_id, eos_id=tok.eos_token_id, seed=cfg.seed)
    examples = [encode_pair(tok, p, r) for p, r in corpus]
    t0 = time.time()
    with _torch_threads():
        losses = pretrain(model, examples, steps=cfg.pretrain_steps, batch_size=cfg.pretrain_batch,
                          lr=cfg.pretrain_lr, seed=cfg.seed, pad_id=tok.pad_token_id,
                          show_progress=progress_enabled())
    train_s = time.time() - t0
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.eos_token_id = tok.eos_token_id
    model.save_pretrained(out)
    tok.save_pretrained(out)
    n_params = sum(p.numel() for p in model.parameters())
    info = {"params": n_params, "vocab": len(tok), "pretrain_seconds": round(train_s, 2),
            "final_loss": round(statistics.fmean(losses[-20:]), 4), "torch": torch.__version__}
    return {"model": model, "tokenizer": tok, "info": info}


def _score_split(policy: dict, path: Path) -> dict:
    from .policy import greedy_answers
    from .tasks import score_response as score

    records = read_jsonl(path)
    with _torch_threads():
        answers = greedy_answers(policy["model"], policy["tokenizer"], [r["prompt"] for r in records])
    per_task: dict[str, list[float]] = {}
    for r, a in zip(records, answers):
        per_task.setdefault(r["meta"]["task"], []).append(score(r["meta"]["task"], r["meta"]["reference"], a))
    all_scores = [x for v in per_task.values() for x in v]
    return {"mean": round(statistics.fmean(all_scores), 4),
            "per_task": {t: round(statistics.fmean(v), 4) for t, v in per_task.items()}}


class _torch_threads:
    """Use every core for the build, and restore the caller's setting afterwards."""

    def __enter__(self):
        import torch
        self.prev = torch.get_num_threads()
        torch.set_num_threads(os.cpu_count() or 1)

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.prev)
