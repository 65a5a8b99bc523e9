"""`seft run`'s calibration step: the likelihood margins chosen for the run's reviser on dev.

After the reviser is trained and before the first round, the world's dev prompts (which no table
reports) get two kinds of drafts, like the two kinds of rounds: the starting policy's samples
(internal) and the world's external answers (external: the testbed's strong writer; on the IF
world the policy's sample edited to satisfy every constraint, as external.jsonl is made). The
reviser revises each kind once and :func:`seft.reviser.calibrate.calibrate_margin` picks the
phases' margins. The result, RUN/reviser/calibration.json, is read back on resume.
"""
from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path

from ..config.stages import RunConfig
from ..data.io import atomic_write_json
from ..report.summary import CALIBRATION_FILE, read_calibration

__all__ = ["CALIBRATION_FILE", "apply_margins", "calibrated_kinds", "calibration_kinds", "dev_drafts", "own_dev",
           "policy_drafts", "read_calibration", "run_calibration"]

log = logging.getLogger(__name__)


def calibrated_kinds(cfg: RunConfig) -> list[str]:
    """The draft sources whose phases use the likelihood decision, in schedule order."""
    from ..evolution.evolve import phase_revise, schedule

    kinds = []
    for phase in schedule(cfg.evolve.phases):
        if phase_revise(cfg.evolve, phase).keep_margin is not None and phase.source not in kinds:
            kinds.append(phase.source)
    return kinds


def dev_drafts(cfg: RunConfig, testbed: Path, n: int, models=None) -> tuple[list[dict], list[str], list[str]]:
    """(dev records, internal drafts, external drafts) for the first ``n`` dev prompts of a world.

    Internal: the run's starting policy's samples with the run's draft settings. External: on the
    testbed the strong writer's answers (seeded); on the IF world the internal sample edited to
    satisfy every constraint, as external.jsonl is made. ``models``: the GeneratorCache to draw
    the policy from (a new one when None)."""
    from ..data.shards import read_jsonl
    from ..testbed.tasks import Example
    from ..testbed.writers import STRONG_WEIGHTS, write_mixed

    dev = read_jsonl(testbed / "dev.jsonl")[:n]
    drafts = policy_drafts(cfg, dev, models)
    if cfg.testbed.world == "testbed":
        rng = random.Random(0)
        strong = [write_mixed(Example(r["meta"]["task"], r["prompt"], r["meta"]["reference"]), rng, STRONG_WEIGHTS)[1]
                  for r in dev]
    else:
        from ..worlds.constraints import satisfy
        from ..worlds.ifworld import example_at, load_world

        spec = load_world(testbed)
        examples = [example_at(spec, "dev", int(r["id"].rsplit("-", 1)[1])) for r in dev]
        if any(e.prompt != r["prompt"] for e, r in zip(examples, dev)):
            raise ValueError(f"{testbed / 'dev.jsonl'} does not match its world; rebuild it (testbed.force)")
        strong = [satisfy(d, e.constraints, e.instruction) for d, e in zip(drafts, examples)]
    return dev, drafts, strong


def policy_drafts(cfg: RunConfig, dev: list[dict], models=None) -> list[str]:
    """The starting policy's samples of ``dev``'s prompts, with the run's draft settings."""
    from ..generation.base import sampling_params
    from ..generation.factory import GeneratorCache

    models = models if models is not None else GeneratorCache()
    gen = models.generator(cfg.evolve.policy, cfg.evolve.draft.batch_size, cfg.evolve.draft)
    return gen.generate([r["prompt"] for r in dev], sampling_params(cfg.evolve.draft), desc="calibration: drafts")


def own_dev(cfg: RunConfig) -> list[dict]:
    """``calibration.dev``'s first ``calibration.n`` records, in the prompt shape."""
    from ..data.readers import load_records

    recs = load_records(cfg.calibration.dev, "prompts", format=cfg.evolve.eval_format).records
    return [r.to_dict() for r in recs][:cfg.calibration.n]


def calibration_kinds(cfg: RunConfig, testbed: Path | None) -> list[str]:
    """The draft sources this run can choose margins for: those whose phases use the decision, on
    a world's dev set (both kinds) or on ``calibration.dev`` (internal only); [] when off."""
    cal = cfg.calibration
    if not cal.enabled:
        return []
    kinds = calibrated_kinds(cfg)
    if cal.dev:
        return [k for k in kinds if k == "internal"]
    # a world's dev set only where the rounds' prompts are that world's: a run on its own prompts
    # that takes only, say, its eval sets from the testbed has nothing to learn from the testbed's dev
    on_world = testbed is not None and str(cfg.evolve.prompts) == f"testbed:{testbed}"
    return kinds if on_world else []


def run_calibration(cfg: RunConfig, testbed: Path | None) -> dict | None:
    """Choose the margins (writes RUN/reviser/calibration.json) -> the result, or None when there
    is nothing to choose: calibration off, no dev set (a world's or ``calibration.dev``), or no
    phase using the decision."""
    from ..evolution.evolve import phase_revise, schedule
    from ..generation.factory import GeneratorCache
    from ..judges import get_judge
    from ..reviser.calibrate import calibrate_margin

    cal = cfg.calibration
    kinds = calibration_kinds(cfg, testbed)
    if not kinds:
        if cal.enabled and calibrated_kinds(cfg):
            log.info("calibration: no dev set (a world's, or calibration.dev); the configured margins stand")
        return None
    # one cache: a vLLM policy engine closes before the reviser's starts, and both before the rounds
    models = GeneratorCache()
    if cal.dev:
        dev = own_dev(cfg)
        internal, external = policy_drafts(cfg, dev, models), []
        if "external" in calibrated_kinds(cfg):
            log.info("calibration: external phases keep their configured margin (calibration.dev has no external answers)")
    else:
        dev, internal, external = dev_drafts(cfg, testbed, cal.n, models)
    gen_cfg = cfg.evolve.revise.generation
    reviser = models.generator(cfg.evolve.reviser, gen_cfg.batch_size, gen_cfg)
    judge = get_judge(cfg.evolve.judge)
    result = {"preservation": cal.preservation, "margins": sorted(cal.margins), "dev_prompts": len(dev), "kinds": {}}
    for kind in kinds:
        phase = next(p for p in schedule(cfg.evolve.phases) if p.source == kind)
        revise_cfg = phase_revise(cfg.evolve, phase)
        texts = internal if kind == "internal" else external
        recs = [{"id": r["id"], "prompt": r["prompt"], "draft": t, "meta": r.get("meta", {})} for r, t in zip(dev, texts)]
        got = calibrate_margin(reviser, recs, recs, revise_cfg, judge, margins=cal.margins,
                               preservation=cal.preservation, top_score=cfg.evolve.audit.top_score)
        got["configured"] = revise_cfg.keep_margin
        if got["margin"] is None:
            log.warning("calibration: no perfect %s dev draft to measure; the configured margin %s stands",
                        kind, revise_cfg.keep_margin)
        else:
            row = next(r for r in got["rows"] if r["margin"] == got["margin"])
            log.info("calibration: %s margin %g (configured %g): %d of %d perfect dev drafts kept, harm %.1f%%",
                     kind, got["margin"], revise_cfg.keep_margin, row["preserved"], row["top_drafts"],
                     100 * row["harm_rate"])
        result["kinds"][kind] = got
    for path in (cfg.evolve.policy, cfg.evolve.reviser):
        models.forget(path)
    atomic_write_json(Path(cfg.out) / CALIBRATION_FILE, result)
    return result


def apply_margins(cfg: RunConfig, result: dict | None) -> RunConfig:
    """``cfg`` with each phase's margin the one chosen for its draft source (phases with the
    decision off, and sources with no choice, keep theirs); ``revise.keep_margin`` follows the
    internal choice, so runs that reuse the reviser (the scaling curve) use it too."""
    from ..evolution.evolve import phase_revise

    if not result:
        return cfg
    chosen = {kind: got["margin"] for kind, got in result["kinds"].items() if got["margin"] is not None}
    ev = cfg.evolve
    phases = [dataclasses.replace(p, keep_margin=chosen[p.source])
              if p.source in chosen and phase_revise(ev, p).keep_margin is not None else p for p in ev.phases]
    revise = ev.revise
    if "internal" in chosen and revise.keep_margin is not None:
        revise = dataclasses.replace(revise, keep_margin=chosen["internal"])
    return dataclasses.replace(cfg, evolve=dataclasses.replace(ev, phases=phases, revise=revise))
