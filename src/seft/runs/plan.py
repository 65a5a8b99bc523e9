"""A run's plan before it runs: which prompts each round takes, how many examples and training
steps each stage has, and how many judge calls the run will make. Pure functions of the config and
of counts, so ``seft run --dry-run`` can print them in a second and tests can check them by hand."""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config.stages import PhaseConfig, RunConfig
from ..evolution.evolve import schedule
from .baseline_runs import NO_DRAFTS, is_sweeping, sweep_grid, trained_baselines
from .calibration import calibration_kinds

__all__ = ["BF16_HINT_PARAMS", "BF16_MEMORY_ENV", "RoundPlan", "cpu_bf16_memory_note", "cpu_bf16_note", "judge_calls",
           "plan_lines", "plan_rounds", "shortfalls", "train_steps"]

UNLIMITED = None  # a source with no end (the testbed's prompt stream)


@dataclass(frozen=True)
class RoundPlan:
    round: int
    phase: str
    source: str         # internal | external
    start: int          # index of the round's first prompt (or external response) in its source
    wanted: int         # prompts_per_round
    available: int      # what the source still holds from `start` (capped at `wanted`)


def plan_rounds(phases: list[PhaseConfig], per_round: int, *, prompts: int | None, external: int | None,
                reuse: bool = False) -> list[RoundPlan]:
    """Every round's slice of its source, as ``run_evolve`` takes it: round k starts after every
    earlier round of the same source (at 0 with ``reuse``). ``prompts`` / ``external``: how many
    records each source holds (None: unlimited, or unknown until the testbed is built)."""
    out, used = [], {"internal": 0, "external": 0}
    for k, phase in enumerate(schedule(phases), start=1):
        start = 0 if reuse else used[phase.source]
        held = prompts if phase.source == "internal" else external
        available = per_round if held is None else max(0, min(per_round, held - start))
        out.append(RoundPlan(k, phase.name, phase.source, start, per_round, available))
        used[phase.source] += per_round
    return out


def shortfalls(rounds: list[RoundPlan], *, prompts_name: str, external_name: str,
               prompts: int | None, external: int | None) -> tuple[list[str], list[str]]:
    """(errors, notes): a round left with nothing to draft from is an error (it would fail after
    every round before it had trained); a round that gets only part of its prompts is a note."""
    errors, notes, short = [], [], set()
    for r in rounds:
        setting, held = ("evolve.prompts", prompts) if r.source == "internal" else ("evolve.external", external)
        name = prompts_name if r.source == "internal" else external_name
        what = "prompts" if r.source == "internal" else "external responses"
        if r.available == 0 and r.source not in short:  # the first round that runs dry says it all
            short.add(r.source)
            need = sum(x.wanted for x in rounds if x.source == r.source)
            errors.append(f"{setting}: {name} holds {held} {what}, but round {r.round} ({r.phase}) starts at #{r.start} "
                          f"and the schedule needs {need} in all ({sum(x.source == r.source for x in rounds)} "
                          f"{r.source} round(s) x evolve.prompts_per_round={r.wanted}); add {what}, lower "
                          f"evolve.prompts_per_round to {max(1, held // sum(x.source == r.source for x in rounds))}, "
                          "or set evolve.reuse_prompts=true")
        elif 0 < r.available < r.wanted:
            notes.append(f"round {r.round} ({r.phase}) gets {r.available} of {r.wanted} {what}: {name} ends there")
    return errors, notes


def train_steps(examples: int, epochs: float, max_steps: int, batch_size: int, grad_accum: int,
                processes: int = 1) -> int:
    """Optimizer steps of one training call, as the trainer counts them (a partial last batch is a
    step; ``max_steps`` > 0 wins over epochs)."""
    if max_steps > 0:
        return max_steps
    per_epoch = math.ceil(examples / (batch_size * processes)) if examples else 0
    return math.ceil(math.ceil(per_epoch / grad_accum) * epochs)


def judge_calls(cfg: RunConfig, rounds: list[RoundPlan], eval_sizes: dict[str, int], *,
                trained_baselines: int = 0, sweep_settings: int = 0, dev_size: int = 0,
                no_drafts: bool = False) -> dict[str, int]:
    """Judgments the run asks for: every eval set after base and every round (and every trained
    baseline, and each sweep setting on the dev set), plus the revision audit (a draft and its
    final, or one comparison per draft); the no_drafts ablation is a second SEFT run and counts
    twice. An API judge may send two requests per comparison (both orders); `seft compare`'s win
    rates come on top."""
    per_model = sum(eval_sizes.values())
    seft_runs = 2 if no_drafts else 1
    evals = per_model * ((1 + len(rounds)) * seft_runs + trained_baselines) + dev_size * sweep_settings
    audit = 0
    if cfg.evolve.audit.enabled:
        per = 2 if cfg.evolve.audit.mode == "score" else 1
        for r in rounds:
            drafts = r.available * (cfg.evolve.samples_per_prompt if r.source == "internal" else 1)
            audit += per * (min(drafts, cfg.evolve.audit.sample) if cfg.evolve.audit.sample else drafts)
        audit *= seft_runs
    return {"eval": evals, "audit": audit, "total": evals + audit}


# Parameters from which bf16 pays on a CPU that computes it in hardware: SmolLM2-135M trains 2-2.4x
# and prefills ~2.9x faster there, the testbed's 0.8M model only ~10% (its matrices are too small).
BF16_HINT_PARAMS = 20_000_000


def cpu_bf16_note(rc: RunConfig, params: int, *, flag: str | None, world_built: bool = True) -> list[str]:
    """A note for a run on a CPU with bf16 in hardware (``flag``, e.g. ``avx512_bf16``; None: no
    such CPU, or the run is on an accelerator) whose largest model has ``params`` parameters: which
    settings left at ``auto`` (fp32 on CPU) would run it in bf16 (the IF world's base answers too,
    while that world is still to be built). The choice stays the user's."""
    keys = {} if world_built or rc.testbed.world != "if" else \
        {"testbed.if_world.generation.dtype": rc.testbed.if_world.generation.dtype}
    keys |= {"reviser_train.train.precision": rc.reviser_train.train.precision,
            "evolve.train.precision": rc.evolve.train.precision,
            "evolve.draft.dtype": rc.evolve.draft.dtype,
            "evolve.revise.generation.dtype": rc.evolve.revise.generation.dtype}
    if rc.with_baselines:
        keys["baseline_train.precision"] = rc.baseline_train.precision
    auto = [k for k, v in keys.items() if v == "auto"]
    if flag is None or params < BF16_HINT_PARAMS or not auto:
        return []
    sets = " ".join(f"--set {k}={'bf16' if k.endswith('precision') else 'bfloat16'}" for k in auto)
    return [f"this CPU computes bf16 in hardware ({flag}): a model of {params / 1e6:.0f}M parameters trains and "
            f"prefills several times faster in bf16 than in the fp32 that `auto` keeps on CPU (README, \"bf16 on "
            f"a CPU\"); to use it: {sets}"]


# What keeps bf16 training's resident memory on a CPU near fp32's (benchmarks/bf16_memory.py):
# oneDNN caches a JIT kernel per matmul shape, and glibc keeps freed large blocks of ever-changing
# sizes on its heap. glibc reads its variable at the process's start, oneDNN at its first matmul
# (which may precede any training), so the preflight advises them instead of setting them.
BF16_MEMORY_ENV = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "16", "MALLOC_MMAP_THRESHOLD_": "1048576"}


def cpu_bf16_memory_note(rc: RunConfig, *, on_cpu: bool, env: Mapping[str, str]) -> list[str]:
    """A note for a run that trains in bf16 on a CPU with neither of ``BF16_MEMORY_ENV`` set in
    ``env``: how much memory that costs and the variables that avoid most of it."""
    trains = [rc.reviser_train.train.precision, rc.evolve.train.precision] + \
        ([rc.baseline_train.precision] if rc.with_baselines else [])
    if not on_cpu or "bf16" not in trains or any(k in env for k in BF16_MEMORY_ENV):
        return []
    prefix = " ".join(f"{k}={v}" for k, v in BF16_MEMORY_ENV.items())
    return ["bf16 training on a CPU holds more memory as it goes than fp32 (SmolLM2, LoRA: +2.2 GiB over 60 "
            "steps, against fp32's flat line): oneDNN caches a kernel per matrix shape and glibc keeps freed "
            f"blocks; starting the run as `{prefix} seft run ...` kept its peak at fp32's for ~7% less speed (measured here; "
            "README, \"bf16 on a CPU\")"]


def plan_lines(rc: RunConfig, rounds: list[RoundPlan], eval_sizes: dict[str, int], *, testbed: Path | None,
               built: bool, reviser_stats: dict | None, dev_size: int = 0, calibration_size: int = 0) -> list[str]:
    """The plan ``seft run --dry-run`` prints, one line per stage and round."""
    lines = [f"testbed: {testbed} ({'built' if built else 'to build'})" if testbed else "testbed: not used"]
    if reviser_stats:
        t, n = rc.reviser_train.train, reviser_stats["examples"]
        lines.append(f"reviser data: {reviser_stats['records']} preference records -> {n} examples "
                     + ", ".join(f"{k} {v}" for k, v in reviser_stats["levels"].items()))
        lines.append(f"reviser training: {train_steps(n, t.epochs, t.max_steps, t.batch_size, t.grad_accum)} steps "
                     f"(batch {t.batch_size} x accum {t.grad_accum}, {t.epochs:g} epochs, {'LoRA' if t.lora else 'full'}) "
                     f"from {rc.reviser_train.base_model}")
    cal = rc.calibration
    kinds = calibration_kinds(rc, testbed)
    if kinds:
        n = min(cal.n, calibration_size or rc.testbed.n_dev)  # calibration.dev's records, or the world's dev set
        where = f"calibration.dev ({cal.dev})" if cal.dev else "the world's dev set"
        lines.append(f"likelihood margins: chosen on {n} prompts of {where} for the {' and '.join(kinds)} phases "
                     f"(calibration; up to {2 * n * len(kinds)} judge calls), from {sorted(cal.margins)}")
    et = rc.evolve.train
    for r in rounds:
        drafts = r.available * (rc.evolve.samples_per_prompt if r.source == "internal" else 1)
        what = "prompts" if r.source == "internal" else "external responses"
        name = r.phase if r.phase == r.source else f"{r.phase}, {r.source}"
        steps = train_steps(drafts, et.epochs, et.max_steps, et.batch_size, et.grad_accum)
        taken = f"{what} #{r.start}-#{r.start + r.available - 1}" if r.available else f"no {what} left (from #{r.start})"
        lines.append(f"round {r.round} ({name}): {taken} -> {drafts} drafts -> revise -> SFT on the selected "
                     f"(<= {steps} steps) -> eval")
    lines.append("eval sets: " + (", ".join(f"{k} ({v})" for k, v in eval_sizes.items()) or "none"))
    grids = [len(sweep_grid(rc, m)) for m in trained_baselines(rc)] if rc.with_baselines else []
    if rc.with_baselines:
        lines.append(f"baselines: {', '.join(rc.baselines)}"
                     + (f" (sweep: {sum(grids)} trainings, chosen on {dev_size} dev prompts)" if is_sweeping(rc) else ""))
    calls = judge_calls(rc, rounds, eval_sizes, trained_baselines=len(grids),
                        no_drafts=rc.with_baselines and NO_DRAFTS in rc.baselines,
                        sweep_settings=sum(grids) if is_sweeping(rc) else 0, dev_size=dev_size)
    lines.append(f"judge calls (estimated, {rc.evolve.judge.kind}): {calls['total']} (eval {calls['eval']}, "
                 f"revision audit {calls['audit']}); `seft compare` adds its win rates")
    if rc.seeds > 1:
        lines.append(f"seeds: all of the above {rc.seeds} times (OUT/seed_<k>/), then `seft compare`")
    return lines
