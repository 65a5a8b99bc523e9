"""``seft evolve``: the policy's self-evolution rounds (METHOD §5), top to bottom.

Each round: fresh prompts -> drafts (the policy's own, or external) -> revisions by the reviser
-> selection -> SFT continuing from the last round -> evaluation. Every step leaves its artifact
in ``rounds/round_KK/`` and is marked in ``state.json``, so a killed run resumes at the step
(and, inside generation, at the shard) where it stopped.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import logging
import statistics
import time
from pathlib import Path

from ..config.core import ConfigError
from ..config.stages import EvolveConfig, PhaseConfig
from ..data.io import atomic_write_json, write_jsonl
from ..data.readers import load_records
from ..data.shards import map_sharded, read_jsonl
from ..data.state import RunState
from ..evaluation.audit import audit_revisions
from ..evaluation.runner import adopt_evaluation, evaluate_model
from ..generation.base import sampling_params
from ..generation.factory import GeneratorCache, check_backend
from ..reviser.revise import check_likelihood_backend, revise_drafts, revision_stats, tag_token_budget
from ..tracking import log_metrics, stage_name
from .prompts import judge_records, open_prompt_source
from .selection import select_examples

__all__ = ["adopt_base_evaluation", "phase_revise", "run_evolve", "schedule"]

log = logging.getLogger(__name__)


def schedule(phases: list[PhaseConfig]) -> list[PhaseConfig]:
    """One entry per round, in order: the phases expanded by their round counts."""
    return [p for p in phases for _ in range(p.rounds)]


def run_evolve(cfg: EvolveConfig) -> Path:
    for key in ("policy", "reviser", "prompts", "out"):
        if getattr(cfg, key) is None:
            raise ConfigError(f"{key}: required for `seft evolve` (e.g. --set {key}=PATH)")
    for section in (cfg.draft, cfg.revise.generation):
        check_backend(section)
    for phase in cfg.phases:
        check_likelihood_backend(phase_revise(cfg, phase))
    rounds = schedule(cfg.phases)
    unknown = sorted(set(cfg.final_only_sets) - set(cfg.eval_sets))
    if unknown:
        raise ConfigError(f"final_only_sets: {', '.join(unknown)} not in eval_sets ({', '.join(cfg.eval_sets) or 'none'})")
    if any(p.source == "external" for p in rounds) and cfg.external is None:
        raise ConfigError("external: an external phase is scheduled but no external response file is set")
    out = Path(cfg.out)
    state = RunState(out / "state.json")
    models = GeneratorCache()
    tracked = not state.done("eval/base")
    base = evaluate_model("base", cfg.policy, cfg, out / "eval" / "base", state, models)
    if tracked:  # the curve of every round's score starts at the base policy, step 0
        log_metrics(cfg.train.tracking, {"scores": base}, 0, _tracking_prefix(cfg))

    prompts = open_prompt_source(cfg.prompts, cfg.prompts_format)
    external = [r.to_dict() for r in load_records(cfg.external, "external", format=cfg.external_format).records] \
        if cfg.external else []
    policy = cfg.policy
    for k, phase in enumerate(rounds, start=1):
        name = f"round_{k:02d}"
        rdir = out / "rounds" / name
        offset = 0 if cfg.reuse_prompts else _offset(rounds, k, phase.source, cfg.prompts_per_round)
        if not state.done(name):
            t0 = time.time()
            drafts = _drafts(phase, k, rdir, policy, prompts, external, offset, cfg, models)
            revise_cfg = phase_revise(cfg, phase)
            revisions = map_sharded(rdir / "revisions.jsonl", drafts,
                                    lambda chunk, rc=revise_cfg: _revise(chunk, cfg, rc, models), shard_size=cfg.shard_size)
            audit = _audit(revisions, rdir, cfg)
            train = _select(revisions, phase, rdir, out, k, cfg)
            models.release_engines()  # SFT needs the GPU memory a vLLM engine holds
            new_policy = _train(policy, train, rdir, k, phase, cfg, state)
            scores = evaluate_model(f"seft_round_{k}", new_policy, cfg, rdir / "eval", state, models,
                                    skip=cfg.final_only_sets if k < len(rounds) else ())
            metrics = _round_metrics(k, phase, drafts, revisions, train, scores, audit, rdir, time.time() - t0)
            atomic_write_json(rdir / "metrics.json", metrics)
            log_metrics(cfg.train.tracking, metrics, k, _tracking_prefix(cfg))  # scores, audit, levels; step = round
            state.mark(name)
            models.forget(str(policy))  # the previous policy is not needed again
        policy = str(rdir / "policy")
        log.info("%s done: %s", name, _score_line(json.loads((rdir / "metrics.json").read_text())))
    models.release_engines()  # what trains next (scaling runs, baselines) needs the GPU memory
    return out


def adopt_base_evaluation(parent: Path, child: Path) -> bool:
    """Let an evolution inside a run (``child``: the no-draft ablation, a scaling point) start from
    the parent's evaluation of the same base policy on the same sets instead of repeating it."""
    return adopt_evaluation("base", parent / "eval" / "base", RunState(parent / "state.json"),
                            child / "eval" / "base", RunState(child / "state.json"))


def _offset(rounds: list[PhaseConfig], k: int, source: str, per_round: int) -> int:
    """Where round ``k`` starts in its source: after every earlier round of the same source."""
    return sum(per_round for p in rounds[:k - 1] if p.source == source)


def _drafts(phase, k, rdir, policy, prompts, external, offset, cfg, models) -> list[dict]:
    if phase.source == "external":
        chunk = external[offset:offset + cfg.prompts_per_round]
        if not chunk:
            raise ConfigError(f"external: round {k} needs external responses from #{offset}, "
                              f"but the file holds {len(external)}")
        drafts = [{"id": r["id"], "prompt": r["prompt"], "draft": r["response"], "meta": r.get("meta", {})}
                  for r in chunk]
        if not (rdir / "drafts.jsonl").exists():  # a copy, kept for audit like internal drafts
            write_jsonl(rdir / "drafts.jsonl", drafts)
        return drafts
    items = [{"id": f"{p['id']}#s{j}", "prompt": p["prompt"], "meta": p.get("meta", {}), "sample": j}
             for p in prompts.slice(offset, cfg.prompts_per_round, k) for j in range(cfg.samples_per_prompt)]
    for i, item in enumerate(items):
        item["index"] = i

    def generate(chunk: list[dict]) -> list[dict]:
        gen = models.generator(policy, cfg.draft.batch_size, cfg.draft)
        # Seeded by round and by the chunk's first index, so a resumed shard samples the same.
        params = sampling_params(cfg.draft, seed=cfg.draft.seed + 100_003 * k + chunk[0]["index"])
        texts = gen.generate([c["prompt"] for c in chunk], params, desc=f"round {k}: drafts")
        return [{**c, "draft": t} for c, t in zip(chunk, texts)]

    return map_sharded(rdir / "drafts.jsonl", items, generate, shard_size=cfg.shard_size)


def phase_revise(cfg: EvolveConfig, phase: PhaseConfig):
    """The revise settings of a phase: its own likelihood margin, when it sets one."""
    if phase.keep_margin is None:
        return cfg.revise
    return dataclasses.replace(cfg.revise, keep_margin=phase.keep_margin)


def _revise(chunk: list[dict], cfg: EvolveConfig, revise_cfg, models) -> list[dict]:
    gen = models.generator(cfg.reviser, cfg.revise.generation.batch_size, cfg.revise.generation)
    return revise_drafts(gen, chunk, revise_cfg, tag_budget=tag_token_budget(gen.tokenizer, cfg.revise.tags))


def _audit(revisions: list[dict], rdir: Path, cfg: EvolveConfig) -> dict | None:
    """The revision audit of one round (rdir/audit.json, rows in audit.jsonl): measured, never used
    to choose what the policy trains on."""
    path = rdir / "audit.json"
    if not cfg.audit.enabled:
        return None
    if path.exists():
        return json.loads(path.read_text())
    from ..judges import get_judge

    a = cfg.audit
    rows, summary = audit_revisions(get_judge(cfg.judge), revisions, judge_records(cfg.prompts, revisions),
                                    mode=a.mode, sample=a.sample, seed=a.seed, top_score=a.top_score)
    write_jsonl(rdir / "audit.jsonl", rows)
    atomic_write_json(path, summary)
    return summary


def _select(revisions, phase, rdir, out, k, cfg) -> list[dict]:
    path = rdir / "train.jsonl"
    if path.exists():
        return read_jsonl(path)
    examples, stats = select_examples(revisions, keep_levels=phase.keep_levels, min_chars=cfg.min_chars,
                                      max_chars=cfg.max_chars, dedup=cfg.dedup,
                                      include_fallbacks=cfg.include_fallbacks)
    # This round's own selection, kept apart from the (possibly accumulated) training set so that
    # accumulating never counts an earlier round twice.
    write_jsonl(rdir / "selected.jsonl", examples)
    if cfg.accumulate:  # every earlier round's own selection, then this round's
        earlier = [e for j in range(1, k) for e in read_jsonl(out / "rounds" / f"round_{j:02d}" / "selected.jsonl")]
        examples = earlier + examples
    if not examples:
        raise ConfigError(f"round {k}: no revised response passed selection ({stats['dropped']}); "
                          "check keep_levels, the length guards and the reviser's output")
    atomic_write_json(rdir / "selection.json", stats)
    write_jsonl(path, examples)
    return examples


def _train(policy: str, train: list[dict], rdir: Path, k: int, phase: PhaseConfig, cfg: EvolveConfig,
           state: RunState) -> str:
    from ..training.sft import train_sft

    unit = f"round_{k:02d}/policy"
    out = rdir / "policy"
    # With train.lora, round 1 trains a new adapter on the starting policy and round k > 1 loads
    # round k-1's adapter folder and keeps training that same adapter (load_for_training): it is
    # never merged and a second one is never stacked. So rounds/round_KK/policy holds only that
    # round's adapter (small), whose adapter_config.json names the starting policy as its base,
    # and every round loads on the base alone (`seft export` merges one on request).
    if not state.done(unit):
        base_lr = phase.learning_rate if phase.learning_rate is not None else cfg.train.learning_rate
        lr = base_lr * cfg.lr_decay_per_round ** (k - 1)
        tracking = dataclasses.replace(cfg.train.tracking, stage=_tracking_prefix(cfg, f"round_{k:02d}"))
        tcfg = dataclasses.replace(cfg.train, learning_rate=lr, seed=cfg.train.seed + k, tracking=tracking)
        result = train_sft(policy, [{"prompt": e["prompt"], "completion": e["completion"]} for e in train], out, tcfg)
        state.mark(unit, **{k_: v for k_, v in result.metrics.items() if k_ != "loss_history"})
    return str(out)


def _tracking_prefix(cfg: EvolveConfig, name: str = "seft") -> str:
    """Metric names of the rounds: ``seft/...`` (scores, audit; step = round) and ``round_KK/train/...``,
    under ``evolve.train.tracking.stage`` when set (``no_drafts`` for that ablation's run)."""
    return stage_name(cfg.train.tracking.stage, name)


def _round_metrics(k, phase, drafts, revisions, train, scores, audit, rdir, seconds) -> dict:
    changed = [r for r in revisions if r["changed"]]
    similarity = [difflib.SequenceMatcher(None, r["draft"], r["final"]).ratio() for r in changed]
    train_metrics = json.loads((rdir / "policy" / "train_metrics.json").read_text())
    return {
        "round": k, "phase": phase.name, "source": phase.source,
        "drafts": len(drafts),
        "revision": revision_stats(revisions),
        "audit": audit,
        "mean_similarity_of_changed": round(statistics.fmean(similarity), 4) if similarity else None,
        "selection": json.loads((rdir / "selection.json").read_text()) if (rdir / "selection.json").exists() else None,
        "train_size": len(train),
        "train": {k_: v for k_, v in train_metrics.items() if k_ != "loss_history"},
        "scores": scores,
        "seconds": round(seconds, 2),
    }


def _score_line(metrics: dict) -> str:
    parts = [f"{name} {s['score']:.3f}" for name, s in metrics["scores"].items()]
    rev = metrics["revision"]
    audit = (metrics.get("audit") or {}).get("overall")
    if audit and audit.get("preservation") is not None:
        parts.append(f"audit: preserved {audit['preserved']}/{audit['top_drafts']}, harm {audit['harm_rate']:.0%}, "
                     f"improved {audit['improvement_rate']:.0%}")
    return f"levels {rev['levels']}, changed {rev['changed_share']:.0%}, train {metrics['train_size']}, " + ", ".join(parts)

