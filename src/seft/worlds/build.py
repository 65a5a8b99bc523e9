"""``seft testbed build`` for every world: the testbed, or the IF world (``testbed.world: if``).

Both are published the same way (``testbed.build.publish_world``: hashed, cached, written whole or
not at all) and write the same files in the same schema, so a run reads either without knowing
which. The IF world's files:

* ``preferences.jsonl``: per prompt, the base model's own sampled answer and three edits of it
  (every constraint satisfied, some, none), each scored by the checkers: the reviser's data;
* ``prompts.jsonl``: the first records of the unlimited prompt stream (no constraints in meta);
* ``external.jsonl``: a stronger writer, the base model's answer edited to satisfy every constraint;
* ``eval.jsonl`` (held-out instructions), ``dev.jsonl`` (for sweeps), ``eval_ood.jsonl``
  (IFBench's test prompts, other constraint types, its own checkers), with the checkers' inputs
  in meta;
* ``world.json`` (what the streams need) and ``manifest.json`` (written last).
"""
from __future__ import annotations

import hashlib
import logging
import random
import statistics
import time
from pathlib import Path

from ..config.core import to_dict
from ..config.testbed import TestbedConfig
from ..data.io import atomic_write_json, write_jsonl
from ..data.schema import ExternalResponse, PromptRecord, ScoredList, ScoredResponse
from ..data.shards import read_jsonl
from ..testbed.build import BUILD_VERSION, DATA_FILES, publish_world, run_testbed_build
from ..testbed.splits import derive_seed, take
from .constraints import satisfy, violate
from .ifworld import WORLD_FILE, example_stream, split_instructions
from .scoring import check, strict, unavailable_types

__all__ = ["build_world"]

log = logging.getLogger(__name__)


def build_world(cfg: TestbedConfig) -> Path:
    """Build (or reuse) the world ``cfg.world`` names and return its folder."""
    if cfg.world == "testbed":
        return run_testbed_build(cfg)
    return publish_world(cfg, _build_if)


def _prompt_sets(cfg: TestbedConfig) -> dict[str, list[dict]]:
    from ..data.benchsets import fetch_prompt_sets

    w = cfg.if_world
    folder = fetch_prompt_sets(("alpaca_eval", "ifbench"), folder=w.prompt_sets_dir, archives=w.archives)
    return {name: read_jsonl(folder / f"{name}.jsonl") for name in ("alpaca_eval", "ifbench")}


def _base_answers(cfg: TestbedConfig, prompts: list[str]) -> list[str]:
    """The base model's sampled answers (the drafts a policy like it writes)."""
    from ..generation.base import sampling_params
    from ..generation.factory import build_generator
    from ..models.registry import resolve_model_ref

    gen_cfg = cfg.if_world.generation
    gen = build_generator(resolve_model_ref(cfg.if_world.base_model), gen_cfg)
    params = sampling_params(gen_cfg, seed=derive_seed(cfg.seed, "if-base-answers") % 2**31)
    return gen.generate(prompts, params, desc="IF world: base answers")


def _scored(rec: dict, texts: dict[str, str]) -> list[ScoredResponse]:
    return [ScoredResponse(text=t, score=round(strict(rec, t) or 0.0, 6), source=src) for src, t in texts.items()]


def _preference(index: int, ex, base: str, rng: random.Random) -> ScoredList:
    rec = {"id": f"pref-{index}", "prompt": ex.prompt, "meta": ex.meta()}
    cons = ex.constraints
    texts = {"base": base, "edited_all": satisfy(base, cons, ex.instruction), "edited_none": violate(base, cons)}
    if len(cons) > 1:  # a response that meets some constraints and not others: partial credit
        some = rng.sample(cons, rng.randint(1, len(cons) - 1))
        texts["edited_some"] = satisfy(violate(base, [c for c in cons if c not in some]), some, ex.instruction)
    responses = _scored(rec, texts)
    rng.shuffle(responses)  # the order must not tell which response is best
    return ScoredList(id=f"pref-{index:07d}", prompt=ex.prompt, responses=responses, scale=(0.0, 1.0),
                      meta={"n_constraints": len(cons)})


def _ifbench(records: list[dict], n: int, seed: int) -> list[dict]:
    if n >= len(records):
        return records
    keep = set(random.Random(derive_seed(seed, "ifbench-sample")).sample(range(len(records)), n))
    return [r for i, r in enumerate(records) if i in keep]


def _build_if(cfg: TestbedConfig, key: str, tmp: Path) -> None:
    t0 = time.time()
    tmp.mkdir(parents=True)
    w, s = cfg.if_world, cfg.seed
    sets = _prompt_sets(cfg)
    pools = split_instructions([r["prompt"] for r in sets["alpaca_eval"]], seed=s,
                               eval_share=w.eval_instruction_share, max_chars=w.max_instruction_chars)
    world = {"seed": s, "instructions": pools, "constraint_types": list(w.constraint_types),
             "min_constraints": w.min_constraints, "max_constraints": w.max_constraints, "max_words": w.max_words}
    atomic_write_json(tmp / WORLD_FILE, world)
    ev = take(example_stream(world, "eval"), cfg.n_eval)
    held_out = frozenset(e.prompt for _, e in ev)
    prefs = take(example_stream(world, "preferences", exclude=held_out), cfg.n_preferences)
    exts = take(example_stream(world, "external", exclude=held_out), cfg.n_external)

    answers = _base_answers(cfg, [e.prompt for _, e in prefs + exts])
    rng = random.Random(derive_seed(s, "if-preference-edits"))
    pref_lists = [_preference(i, e, a, rng) for (i, e), a in zip(prefs, answers)]
    external = [ExternalResponse(id=f"external-{i:07d}", prompt=e.prompt, response=satisfy(a, e.constraints, e.instruction),
                                 source="edited_base", meta={"n_constraints": len(e.constraints)})
                for (i, e), a in zip(exts, answers[len(prefs):])]
    ood = _ifbench(sets["ifbench"], cfg.n_eval_ood, s)
    files = {
        "preferences.jsonl": pref_lists,
        "prompts.jsonl": [PromptRecord(id=f"prompts-{i:07d}", prompt=e.prompt, meta={})
                          for i, e in take(example_stream(world, "prompts", exclude=held_out), cfg.n_prompts)],
        "external.jsonl": external,
        "eval.jsonl": [PromptRecord(id=f"eval-{i:07d}", prompt=e.prompt, meta=e.meta()) for i, e in ev],
        "eval_ood.jsonl": [PromptRecord(id=r["id"], prompt=r["prompt"], meta=r["meta"]) for r in ood],
        "dev.jsonl": [PromptRecord(id=f"dev-{i:07d}", prompt=e.prompt, meta=e.meta())
                      for i, e in take(example_stream(world, "dev", exclude=held_out), cfg.n_dev)],
    }
    assert set(files) == set(DATA_FILES)
    for name, records in files.items():
        write_jsonl(tmp / name, records)
    # Which IFBench prompts and types cannot be checked offline (their checker needs NLTK data):
    # checking each prompt once also fills unavailable_types().
    unchecked = sum(1 for r in ood if not check(r, "x"))
    by_source: dict[str, list[float]] = {}
    for p in pref_lists:
        for resp in p.responses:
            by_source.setdefault(resp.source, []).append(resp.score)
    manifest = {
        "config_hash": key, "build_version": BUILD_VERSION, "world": "if", "seed": s,
        "sizes": {name: len(r) for name, r in files.items()},
        "sha256": {name: hashlib.sha256((tmp / name).read_bytes()).hexdigest() for name in files},
        "instructions": {k: len(v) for k, v in pools.items()},
        "preference_scores": {k: round(statistics.fmean(v), 4) for k, v in sorted(by_source.items())},
        "ifbench_unchecked_types": unavailable_types(),
        "ifbench_unchecked_prompts": unchecked,
        "base_model": w.base_model,
        "build_seconds": {"total": round(time.time() - t0, 2)},
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "config": to_dict(cfg),
    }
    atomic_write_json(tmp / "manifest.json", manifest)  # written last: its presence means complete
    log.info("IF world: base answers score %.3f (strict), edited to satisfy all %.3f; %d of %d IFBench prompts "
             "checkable offline", manifest["preference_scores"].get("base", 0.0),
             manifest["preference_scores"].get("edited_all", 0.0),
             len(ood) - unchecked, len(ood))
