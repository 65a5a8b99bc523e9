"""``seft export``: one round's policy of a run directory as a plain, self-describing model folder.

A round's ``policy/`` folder is a training artifact: a full model or a LoRA adapter that names
its base by path, next to ``train_metrics.json`` and the trainer's arguments. The export is what
leaves the run: weights in safetensors, the tokenizer with its chat template, the generation
config and a model card (``README.md``) saying how the model was made — base model, reviser,
rounds, data sizes, the round's scores, the seft version and the run's config hash.

- A full fine-tune round is always written as full weights.
- A LoRA round is written as its adapter (small; ``adapter_config.json`` names the base model),
  or with ``merge`` as full weights with the adapter folded in. Both reload with a plain
  ``AutoModelForCausalLM.from_pretrained(folder)`` (an adapter through transformers' PEFT
  integration, which loads the named base first).

The folder is written next to its destination and renamed into place, so an interrupted export
never leaves a half-written model where a finished one is expected.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import shutil
from pathlib import Path

from ..config.core import ConfigError
from ..config.export import ExportConfig
from ..models.saving import save_full_model

__all__ = ["run_export", "model_card", "config_hash", "final_round"]

log = logging.getLogger(__name__)

_ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")
# Settings that say where a run lives or how it was launched, not what it is (as in state.open_run_dir).
_NOT_HASHED = ("out", "force")


def run_export(cfg: ExportConfig) -> Path:
    """Write round ``cfg.round`` (default: the final round) of ``cfg.run_dir`` to a model folder."""
    from ..data.state import RunState, replace_dir
    from ..models.loading import is_adapter_dir

    run = _check_run_dir(cfg.run_dir)
    raw, resolved = _run_config(run)
    k = cfg.round if cfg.round is not None else final_round(run, resolved)
    policy = _finished_round(run, k, resolved, RunState(run / "state.json"))
    lora = is_adapter_dir(policy)
    merged = cfg.merge or not lora
    out = Path(cfg.out).expanduser() if cfg.out else run / "export" / f"round_{k:02d}{'_merged' if lora and merged else ''}"
    if out.exists() and not cfg.force:
        raise FileExistsError(f"{out} already exists; use --force to replace it, or another --out")
    base = _base_model(policy, resolved)
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)  # an earlier export killed half-way
    if merged:
        dtype = save_full_model(policy, tmp, dtype=cfg.dtype, dtype_from=base)
    else:
        dtype = None
        _copy_adapter(policy, tmp, base)
    facts = _facts(run, k, raw, resolved, base=base, lora=lora, merged=merged, dtype=dtype)
    (tmp / "README.md").write_text(model_card(facts), encoding="utf-8")
    replace_dir(tmp, out)
    log.info("exported round %d of %s (%s) to %s", k, run, facts["weights"], out)
    return out


# ----------------------------------------------------------------------------- the run directory
def _check_run_dir(run_dir: str | None) -> Path:
    if run_dir is None:
        raise ConfigError("run_dir: required for `seft export` (e.g. seft export runs/demo)")
    run = Path(run_dir).expanduser()
    if (run / "rounds").is_dir() and (run / "state.json").is_file():
        return run
    seeds = sorted(p.name for p in run.glob("seed_*") if (p / "rounds").is_dir())
    hint = f"; it holds one run per seed: export one of them, e.g. seft export {run / seeds[0]}" if seeds else ""
    what = "does not exist" if not run.exists() else "is not a run directory (no rounds/ and state.json)"
    raise ConfigError(f"run_dir: {run} {what}{hint}")


def _run_config(run: Path):
    """(the run's config.yaml as a dict, the RunConfig with every path resolved), or (None, None)
    for a directory of `seft evolve` alone (it writes no config.yaml)."""
    path = run / "config.yaml"
    if not path.is_file():
        return None, None
    import yaml

    from ..config.core import from_dict
    from ..config.stages import RunConfig
    from ..testbed.build import resolve_out
    from .single import resolve_paths

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        cfg = from_dict(RunConfig, raw)
    except (ConfigError, ValueError) as err:  # another seft version's config: export without it
        log.warning("%s does not parse as a run config (%s); the model card leaves its facts out", path, err)
        return raw, None
    # The run's own location, not the one it was made at (a moved run directory is the same run).
    # Paths the config leaves empty came from the testbed, found by its hash and never rebuilt.
    return raw, resolve_paths(dataclasses.replace(cfg, out=str(run)), resolve_out(cfg.testbed))


def final_round(run: Path, resolved) -> int:
    """The last round of the run's schedule; without a config, the highest-numbered round folder."""
    if resolved is not None:
        n = len(_schedule(resolved))
        if n == 0:
            raise ConfigError(f"run_dir: {run} schedules no rounds; there is no policy to export")
        return n
    numbers = sorted(int(p.name.removeprefix("round_")) for p in (run / "rounds").glob("round_[0-9]*") if p.is_dir())
    if not numbers:
        raise ConfigError(f"run_dir: {run} has no rounds yet; there is no policy to export")
    return numbers[-1]


def _finished(run: Path, state) -> list[int]:
    return sorted(int(u.removeprefix("round_")) for u in state.data["done"]
                  if u.startswith("round_") and "/" not in u and (run / "rounds" / u / "metrics.json").is_file())


def _finished_round(run: Path, k: int, resolved, state) -> Path:
    finished = _finished(run, state)
    listed = ", ".join(map(str, finished)) or "none"
    n = len(_schedule(resolved)) if resolved is not None else None
    rdir = run / "rounds" / f"round_{k:02d}"
    if (n is not None and k > n) or (n is None and not rdir.is_dir()):
        total = f"the run has {n} round(s)" if n is not None else f"there is no {rdir}"
        raise ConfigError(f"round: round {k} does not exist: {total} (finished: {listed})")
    if k not in finished:
        hint = f"; export a finished one with --round {finished[-1]}" if finished else ""
        raise ConfigError(f"round: round {k} of {run} is not finished (finished: {listed}); rerun the run "
                          f"to finish it{hint}")
    return rdir / "policy"


def _schedule(resolved) -> list:
    from ..evolution.evolve import schedule

    return schedule(resolved.evolve.phases)


def _base_model(policy: Path, resolved) -> str | None:
    """The model round 1 started from: the run's evolve.policy, else the adapter's base."""
    from ..models.loading import adapter_base_path, is_adapter_dir

    if resolved is not None and resolved.evolve.policy:
        return str(resolved.evolve.policy)
    return adapter_base_path(policy) if is_adapter_dir(policy) else None


def config_hash(raw: dict) -> str:
    """Hash of the run's resolved config.yaml, minus where it lives and how it was launched."""
    content = {k: v for k, v in raw.items() if k not in _NOT_HASHED}
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _copy_adapter(policy: Path, out: Path, base: str | None) -> None:
    """The adapter as trained, with the round's tokenizer (and chat template) and the base's
    generation config (an adapter has none of its own)."""
    from transformers import AutoTokenizer, GenerationConfig

    from ..models.loading import adapter_base_path

    out.mkdir(parents=True)
    for name in _ADAPTER_FILES:
        shutil.copy2(policy / name, out / name)
    adapter_base = adapter_base_path(policy)
    try:
        tok = AutoTokenizer.from_pretrained(str(policy))
    except (OSError, ValueError):  # an adapter saved without its tokenizer: the base's
        tok = AutoTokenizer.from_pretrained(adapter_base)
    tok.save_pretrained(str(out))
    try:
        GenerationConfig.from_pretrained(adapter_base).save_pretrained(str(out))
    except OSError:  # a base without generation_config.json: generate() falls back to defaults
        log.info("%s has no generation config; the export has none either", base or adapter_base)


# ----------------------------------------------------------------------------- the model card
def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _facts(run: Path, k: int, raw, resolved, *, base, lora, merged, dtype) -> dict:
    from .. import __version__
    from ..judges import judge_label
    from ..models.loading import adapter_base_path

    policy = run / "rounds" / f"round_{k:02d}" / "policy"
    rounds = [_read_json(run / "rounds" / f"round_{j:02d}" / "metrics.json") for j in range(1, k + 1)]
    rd_out = Path(resolved.reviser_data.out) if resolved is not None else run / "reviser" / "data.jsonl"
    if lora and merged:
        weights = f"full weights ({dtype}): LoRA adapter merged into its base"
    elif lora:
        weights = f"LoRA adapter (r={json.loads((policy / 'adapter_config.json').read_text()).get('r')}) " \
                  f"on {adapter_base_path(policy)}"
    else:
        weights = f"full weights ({dtype}), full fine-tune"
    return {
        "run": str(run.resolve()), "round": k,
        "rounds_total": len(_schedule(resolved)) if resolved is not None else None,
        "base_model": base, "reviser": str(resolved.evolve.reviser) if resolved is not None else None,
        "weights": weights, "adapter": lora and not merged,
        "seft_version": __version__, "config_hash": config_hash(raw) if raw is not None else None,
        "reviser_data": _read_json(rd_out.with_name(rd_out.stem + ".stats.json")),
        "rounds": [r for r in rounds if r is not None],
        "base_scores": _read_json(run / "eval" / "base" / "summary.json"),
        "judge": judge_label(resolved.evolve.judge) if resolved is not None else None,
    }


def _score(s: dict | None) -> str:
    if not s:
        return "–"
    ci = s.get("ci95")
    return f"{s['score']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "") + f" (n={s.get('n', '?')})"


def model_card(facts: dict) -> str:
    """README.md of an exported model, from :func:`_facts` (a pure function of them)."""
    k, unknown = facts["round"], "unknown (no config.yaml in the run directory)"
    base = facts["base_model"]
    front = ["---", f"library_name: {'peft' if facts['adapter'] else 'transformers'}",
             "tags: [seft, self-evolution-fine-tuning]"]
    if base and not Path(base).exists():  # the hub's base_model field takes hub ids, not local paths
        front.append(f"base_model: {base}")
    lines = front + ["---", "", f"# SEFT policy, round {k}", "",
                     "Made with seft (Self-Evolution Fine-Tuning, arXiv 2406.10813): a reviser trained on "
                     "preference data revised the policy's drafts to unlabeled prompts, and the policy learned "
                     "the revisions by SFT, round after round.", "",
                     "| | |", "|---|---|",
                     f"| base model | {base or unknown} |",
                     f"| reviser | {facts['reviser'] or unknown} |",
                     f"| round | {k}" + (f" of {facts['rounds_total']}" if facts["rounds_total"] else "") + " |",
                     f"| weights | {facts['weights']} |",
                     f"| run directory | {facts['run']} |",
                     f"| run config hash | {facts['config_hash'] or unknown} |",
                     f"| seft version | {facts['seft_version']} |", ""]
    rd = facts["reviser_data"]
    lines += ["## Data", ""]
    if rd:
        lines += [f"Reviser: {rd.get('examples')} training examples from {rd.get('records')} preference "
                  f"records ({rd.get('source')}, format {rd.get('format')}).", ""]
    lines += ["| round | phase | source | drafts | KEEP / MINOR / MAJOR | changed | SFT examples |",
              "|---|---|---|---|---|---|---|"]
    for m in facts["rounds"]:
        lv = m["revision"]["levels"]
        lines.append(f"| {m['round']} | {m['phase']} | {m['source']} | {m['drafts']} | "
                     f"{lv.get('KEEP', 0)} / {lv.get('MINOR', 0)} / {lv.get('MAJOR', 0)} | "
                     f"{m['revision']['changed']} | {m['train_size']} |")
    this = next((m for m in facts["rounds"] if m["round"] == k), None)
    lines += ["", f"## Scores (rounds/round_{k:02d}/metrics.json)", "",
              "Mean score on each held-out set with a bootstrap 95% interval over prompts, judge: "
              f"{facts.get('judge') or 'not recorded (no config.yaml)'}.", "",
              f"| set | base policy | round {k} |", "|---|---|---|"]
    base_scores = facts["base_scores"] or {}
    for name, s in (this or {}).get("scores", {}).items():
        lines.append(f"| {name} | {_score(base_scores.get(name))} | {_score(s)} |")
    load = ["## Loading", "", "```python", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
            'model = AutoModelForCausalLM.from_pretrained("THIS_FOLDER")',
            'tokenizer = AutoTokenizer.from_pretrained("THIS_FOLDER")', "```"]
    if facts["adapter"]:
        load += ["", "This folder holds a LoRA adapter: loading it needs `peft` installed and the base model "
                     "named in `adapter_config.json` (`base_model_name_or_path`) at that path or hub id. "
                     "`seft export --merge` writes full weights instead."]
    return "\n".join(lines + [""] + load) + "\n"
