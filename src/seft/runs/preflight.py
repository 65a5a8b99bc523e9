"""Checks before a run: everything that can fail without training, checked in seconds.

``seft run`` runs these first and stops with every problem listed at once; ``seft run --dry-run``
runs only these and prints the plan (stages, rounds, prompts per round, examples, training steps,
judge calls). What is checked:

- the output folder can be written (its nearest existing parent, when it does not exist yet);
- the generation backends are installed and the likelihood decision's backend is hf;
- every input is readable and in its format, every record of it (preferences, prompts, external
  responses, eval sets, the sweep's dev set): the same loaders the run uses;
- the prompts and external responses last for the schedule (a round left with none is an error);
- the reviser gets examples from the preferences (the same level assignment the run makes);
- the judge: its settings, an API judge's key (for a remote host) and one cheap request; the
  testbed judge's meta fields on the eval records; a reward model's config and tokenizer;
- the models: config and tokenizer (not the weights) of the policy, the reviser's base and a given
  reviser; a ``models:NAME`` not fetched yet is a note (the run fetches it).

The testbed's own files are not read before it is built (they are ours, written by the build).
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.core import ConfigError
from ..config.stages import RunConfig
from ..data.errors import DataError
from ..evolution.evolve import schedule
from .baseline_runs import check_baselines, is_sweeping
from .plan import cpu_bf16_memory_note, cpu_bf16_note, plan_lines, plan_rounds, shortfalls

__all__ = ["Preflight", "PreflightError", "preflight", "run_dry_run"]

log = logging.getLogger(__name__)


class PreflightError(ConfigError):
    """One or more checks failed; the message lists all of them."""


@dataclass
class Preflight:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checks: list[tuple[str, float, str]] = field(default_factory=list)  # (what, seconds, outcome)
    plan: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def run(self, what: str, fn: Callable[[], Any], default: Any = None) -> Any:
        """``fn()``, timed; a failure becomes a problem (and ``default`` is returned) so that every
        check runs and the user sees all problems at once."""
        t0 = time.perf_counter()
        try:
            out = fn()
        except (ConfigError, DataError, FileNotFoundError, OSError, ValueError, ImportError) as err:
            self.problems.append(f"{what}: {err}")
            self.checks.append((what, time.perf_counter() - t0, "FAILED"))
            return default
        self.checks.append((what, time.perf_counter() - t0, "ok"))
        return out

    def text(self) -> str:
        lines = ["checks:"] + [f"  {'ok    ' if o == 'ok' else 'FAILED'} {w} ({s:.2f} s)" for w, s, o in self.checks]
        lines += ["plan:"] + [f"  {x}" for x in self.plan]
        if self.notes:
            lines += ["notes:"] + [f"  - {n}" for n in self.notes]
        if self.problems:
            lines += [f"problems ({len(self.problems)}):"] + [f"  - {p}" for p in self.problems]
        lines.append(f"preflight took {self.seconds:.2f} s")
        return "\n".join(lines)


def preflight(cfg: RunConfig) -> Preflight:
    """Run every check on ``cfg`` (nothing is written, nothing trains) and build the plan."""
    from ..testbed.build import is_built, resolve_out
    from .single import resolve_paths, uses_testbed

    t0 = time.perf_counter()
    pf = Preflight()
    if cfg.with_baselines:
        pf.run("baselines", lambda: check_baselines(cfg))
    pf.run(f"output folder {cfg.out} is writable", lambda: _check_writable(Path(cfg.out)))
    testbed, built = None, False
    if uses_testbed(cfg):
        testbed, built = resolve_out(cfg.testbed), is_built(cfg.testbed)
        if not built:
            what = (f"{cfg.testbed.pretrain_steps} pretraining steps" if cfg.testbed.world == "testbed" else
                    f"{cfg.testbed.n_preferences + cfg.testbed.n_external} base answers from {cfg.testbed.if_world.base_model}")
            pf.notes.append(f"the {cfg.testbed.world} world is built first ({testbed}; {what}); "
                            "its files are not checked before that")
    rc = resolve_paths(cfg, testbed)

    def ours(path) -> bool:  # a file the testbed build will write: not there to check yet
        return testbed is not None and not built and str(path).removeprefix("testbed:").startswith(str(testbed))

    pf.run("generation backends", lambda: _check_backends(rc))
    stats = None if ours(rc.reviser_data.preferences) else \
        pf.run(f"reviser_data.preferences {rc.reviser_data.preferences}", lambda: _reviser_examples(rc))
    n_prompts = _count(pf, rc.evolve.prompts, "prompts", rc.evolve.prompts_format, "evolve.prompts", ours)
    needs_external = any(p.source == "external" for p in schedule(rc.evolve.phases))
    n_external = _count(pf, rc.evolve.external, "external", rc.evolve.external_format, "evolve.external", ours) \
        if needs_external else 0
    rounds = plan_rounds(rc.evolve.phases, rc.evolve.prompts_per_round, prompts=n_prompts, external=n_external,
                         reuse=rc.evolve.reuse_prompts)
    errors, notes = shortfalls(rounds, prompts_name=str(rc.evolve.prompts), external_name=str(rc.evolve.external),
                               prompts=n_prompts, external=n_external)
    pf.problems += errors
    pf.notes += notes
    eval_records, dev_size = _check_eval_sets(pf, rc, ours)
    cal_size = _count(pf, rc.calibration.dev, "prompts", rc.evolve.eval_format, "calibration.dev", ours) \
        if rc.calibration.enabled and rc.calibration.dev else 0
    pf.run(f"judge ({rc.evolve.judge.kind})", lambda: _check_judge(rc, eval_records, pf.notes))
    sizes = [pf.run(f"{setting} {ref}", lambda ref=ref: _check_model(ref, pf.notes))
             for setting, ref in _models(rc) if ref is not None and not ours(ref)]
    from ..models.loading import native_bf16
    from ..training.common import has_accelerator

    on_cpu = not has_accelerator()
    pf.notes += cpu_bf16_note(rc, max((n for n in sizes if n), default=0),
                              flag=native_bf16() if on_cpu else None, world_built=built)
    pf.notes += cpu_bf16_memory_note(rc, on_cpu=on_cpu, env=os.environ)
    eval_sizes = {name: len(recs) for name, recs in eval_records.items()}
    pf.plan = plan_lines(rc, rounds, eval_sizes, testbed=testbed, built=built, reviser_stats=stats,
                         dev_size=dev_size, calibration_size=cal_size or 0)
    pf.seconds = time.perf_counter() - t0
    return pf


def check_before_run(cfg: RunConfig) -> Preflight:
    """The checks ``seft run`` makes before any work: raises PreflightError listing every problem."""
    pf = preflight(cfg)
    log.info("preflight: %d checks in %.1f s", len(pf.checks), pf.seconds)
    for note in pf.notes:
        log.info("preflight: %s", note)
    if pf.problems:
        raise PreflightError(f"{len(pf.problems)} problem(s) found before the run started (nothing was trained):\n"
                             + "\n".join(f"  - {p}" for p in pf.problems)
                             + "\n(`seft run --dry-run` repeats these checks and prints the plan)")
    return pf


def run_dry_run(cfg: RunConfig) -> None:
    """``seft run --dry-run``: the checks and the plan, printed; nothing is written or trained."""
    pf = preflight(cfg)
    print(pf.text())
    if pf.problems:
        raise PreflightError(f"{len(pf.problems)} problem(s); see above")


# ----------------------------------------------------------------------------- the checks
def _check_writable(out: Path) -> None:
    out = out.expanduser()
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"out: {probe} exists and is not a folder")
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".seft-write-test-"):
            pass
    except OSError as err:
        raise ConfigError(f"out: cannot write in {probe} ({err.strerror or err}); choose another --out") from None


def _check_backends(rc: RunConfig) -> None:
    from ..evolution.evolve import phase_revise
    from ..generation.factory import check_backend
    from ..reviser.revise import check_likelihood_backend

    for section in (rc.evolve.draft, rc.evolve.revise.generation):
        check_backend(section)
    for phase in rc.evolve.phases:
        check_likelihood_backend(phase_revise(rc.evolve, phase))


def _reviser_examples(rc: RunConfig) -> dict:
    from ..data.readers import load_records
    from ..reviser.data import build_reviser_examples, preference_kind

    rd = rc.reviser_data
    kind = preference_kind(rd.preferences, rd.format)
    loaded = load_records(rd.preferences, kind, format=rd.format, on_bad_record=rd.on_bad_record)
    examples, stats = build_reviser_examples(loaded.records, rd)
    if not examples:
        raise DataError(f"no reviser examples from {stats['records']} record(s) (levels before the KEEP cap: "
                        f"{stats['levels_before_cap']})", path=str(rd.preferences))
    return stats


def _count(pf: Preflight, source: str | None, kind: str, fmt: str, setting: str, ours) -> int | None:
    """How many records ``source`` holds (every one validated); None for an unlimited stream or a
    testbed file not built yet."""
    if source is None:
        pf.problems.append(f"{setting}: not set (a file, a save_to_disk folder or a hub name)")
        return 0
    if str(source).startswith("testbed:") or ours(source):
        return None
    from ..data.readers import load_records

    # A source that fails to load counts as unknown (None), so its shortfall is not reported twice.
    return pf.run(f"{setting} {source} ({fmt})", lambda: len(load_records(source, kind, format=fmt).records))


def _check_eval_sets(pf: Preflight, rc: RunConfig, ours) -> tuple[dict[str, list[dict]], int]:
    """Every eval set and the sweep's dev set, loaded and validated once: (eval records by name,
    dev prompts; 0 when there is no sweep or the dev set failed its check)."""
    from ..data.readers import load_records

    ev = rc.evolve
    sets = dict(ev.eval_sets)
    if is_sweeping(rc):
        sets["sweep_set"] = rc.sweep_set
    if not ev.eval_sets:
        pf.problems.append("evolve.eval_sets: no eval set (name -> file)")
    out, dev_size = {}, 0
    for name, path in sets.items():
        if path is None or ours(path):
            continue
        what = f"evolve.eval_sets.{name} {path} ({ev.eval_format})" if name != "sweep_set" else f"sweep_set {path}"
        recs = pf.run(what, lambda p=path: [r.to_dict() for r in load_records(p, "prompts", format=ev.eval_format).records])
        if recs is None:
            continue
        if name == "sweep_set":
            dev_size = len(recs)
        else:
            out[name] = recs
    return out, dev_size


def _check_judge(rc: RunConfig, eval_records: dict[str, list[dict]], notes: list[str]) -> None:
    from ..judges import get_judge

    jc = rc.evolve.judge
    if jc.kind == "openai":
        import urllib.parse

        host = urllib.parse.urlsplit(jc.base_url).hostname or ""
        if not os.environ.get(jc.api_key_env) and host not in ("localhost", "127.0.0.1", "::1"):
            raise ConfigError(f"judge.api_key_env: ${jc.api_key_env} is not set, and {jc.base_url} is not a local "
                              "server (export the key, or name the variable that holds it)")
        from ..judges.openai_compatible import JudgeAPIError

        try:
            status = get_judge(jc).ping()
        except JudgeAPIError as err:
            raise ConfigError(str(err)) from None
        if status != "reachable":
            notes.append(f"judge {jc.base_url}: {status}")
        return
    if jc.kind == "reward_model":
        _check_model(jc.model, notes)
        return
    judge = get_judge(jc)
    for recs in eval_records.values():  # the testbed judge reads meta.task and meta.reference; a
        judge.score(recs[:1], [""])     # python judge returns a number or None for one eval record


def _models(rc: RunConfig) -> list[tuple[str, str | None]]:
    out = [("evolve.policy", rc.evolve.policy), ("reviser_train.base_model", rc.reviser_train.base_model)]
    if rc.evolve.reviser and not str(rc.evolve.reviser).startswith(str(Path(rc.out))):
        out.append(("evolve.reviser", rc.evolve.reviser))  # a reviser trained elsewhere
    return out


def _check_model(ref: str, notes: list[str]) -> int | None:
    """Config and tokenizer load (seconds, no weights); an adapter's base is checked too. Returns
    the model's approximate parameter count (None when its config does not say)."""
    from ..models.loading import adapter_base_path, approx_parameters, is_adapter_dir, quiet_library_noise
    from ..models.registry import MODEL_REF_PREFIX, cached_model_ref

    if str(ref).startswith(MODEL_REF_PREFIX):
        folder, fetched = cached_model_ref(str(ref))
        if not fetched:
            notes.append(f"{ref} is not fetched yet: the run fetches it first (or `seft models fetch "
                         f"{ref[len(MODEL_REF_PREFIX):]}`)")
            return
        ref = str(folder)
    path = Path(ref).expanduser()
    if not path.exists() and (path.is_absolute() or str(ref).startswith((".", "~"))):
        raise ConfigError("no such folder")
    if path.is_dir() and is_adapter_dir(path):
        ref = adapter_base_path(path)
    quiet_library_noise()
    from transformers import AutoConfig, AutoTokenizer

    try:
        config = AutoConfig.from_pretrained(ref)
        tok = AutoTokenizer.from_pretrained(ref)
    except (OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"cannot load its config and tokenizer: {first}") from None
    if not tok.chat_template:
        raise ConfigError("its tokenizer has no chat template (seft renders every prompt with it)")
    return approx_parameters(config)
