"""``seft compare``: SEFT against the base policy and the baselines, from finished run directories.

Nothing is generated or trained here: every number comes from what ``seft run`` stored.

- **score** and its CI: ``eval/summary.json``.
- **win rate / LC win rate against base**: the judge's ``compare`` on the stored per-prompt
  answers (``eval/<model>/<set>.jsonl``, ``rounds/round_KK/eval/<set>.jsonl``) against
  ``eval/base/<set>.jsonl``, matched by prompt id; the prompt records (which the judge needs)
  come from the run's eval set files.
- **mean length**: characters of the stored answers.
- **cost** (training only, so that every method is counted alike): wall seconds and forward
  passes (sequences run through a network while training, reference model included) from the
  baselines' ``cost.json``, and for SEFT from the reviser's ``train_metrics.json`` plus the
  ``train`` metrics of every round up to the row's round. SEFT also *generates*: its drafts and
  revisions are not forward passes in that count (a sampled sequence costs one prefill plus one
  decoding step per token, not comparable to a training pass), so they are reported in their own
  column, ``gen_sequences`` (internal drafts + revisions). Evaluation is not counted for anyone.

Rows: base, every baseline in the summary, ``seft_internal_only`` (the last round before the
first external one, when it is internal), ``seft_internal_external`` (the final round, when an
external round was run), ``seft_final``, and with ``rounds`` every ``seft_round_k``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable, Sequence

from ..config.core import ConfigError
from ..config.stages import CompareConfig
from ..data.readers import load_records
from ..data.shards import read_jsonl
from ..evaluation.metrics import length_controlled_win_rate, text_length, win_rate
from .baseline_runs import SFT_DPO, SWEEP_FILE

__all__ = ["run_compare", "model_rows", "pairwise_vs_base", "seft_cost", "baseline_cost", "run_rows"]

log = logging.getLogger(__name__)

Compare = Callable[[Sequence[dict], Sequence[str], Sequence[str]], list]


def model_rows(models: Sequence[str], rounds: Sequence[dict], *,
               include_rounds: bool = False) -> list[tuple[str, str, int | None]]:
    """``(row name, summary key, SEFT round or None)`` for one run, in table order.

    ``models``: the model keys of one set in ``eval/summary.json``; ``rounds``: every round's
    metrics.json in order (only ``round`` and ``source`` are read)."""
    rows: list[tuple[str, str, int | None]] = [("base", "base", None)] if "base" in models else []
    rows += [(m, m, None) for m in models if m != "base" and not m.startswith("seft_")]
    if not rounds:
        return rows
    if include_rounds:
        rows += [(f"seft_round_{m['round']}", f"seft_round_{m['round']}", m["round"]) for m in rounds]
    first_ext = next((i for i, m in enumerate(rounds) if m["source"] == "external"), len(rounds))
    if first_ext > 0:  # internal rounds ran before any external one
        k = rounds[first_ext - 1]["round"]
        rows.append(("seft_internal_only", f"seft_round_{k}", k))
    final = rounds[-1]["round"]
    if first_ext < len(rounds):
        rows.append(("seft_internal_external", "seft_final", final))
    rows.append(("seft_final", "seft_final", final))
    # A set in `final_only_sets` has no score for the rounds in between: no row for them.
    return [r for r in rows if r[1] in models]


def pairwise_vs_base(records: Sequence[dict], answers: Sequence[dict], base: Sequence[dict], compare: Compare,
                     *, seed: int = 0) -> dict:
    """Win rate and length-controlled win rate of ``answers`` over ``base``, plus mean length.

    ``records``: the eval set's prompt records; ``answers`` / ``base``: stored ``{id, response}``
    rows, matched to the records by id (a prompt missing on either side is left out)."""
    mine, ref = {a["id"]: a["response"] for a in answers}, {b["id"]: b["response"] for b in base}
    recs = [r for r in records if r["id"] in mine and r["id"] in ref]
    if not recs:
        raise ValueError("no prompt has an answer from both the model and base")
    a, b = [mine[r["id"]] for r in recs], [ref[r["id"]] for r in recs]
    prefs = compare(recs, a, b)
    wr = win_rate(prefs, seed=seed)
    lc = length_controlled_win_rate(prefs, [text_length(x) for x in a], [text_length(x) for x in b], seed=seed)
    return {"win_rate": wr["win_rate"], "win_rate_ci95": wr["ci95"], "lc_win_rate": lc["lc_win_rate"],
            "lc_win_rate_ci95": lc["ci95"], "mean_length": round(sum(map(len, a)) / len(a), 2), "n_pairs": len(recs)}


def seft_cost(reviser_metrics: dict, rounds: Sequence[dict], k: int) -> dict:
    """Training cost of SEFT up to round ``k``: the reviser once, plus every round's policy SFT.
    ``gen_sequences``: sampled internal drafts plus one revision per draft (external drafts are given)."""
    upto = [m for m in rounds if m["round"] <= k]
    return {"train_seconds": round(reviser_metrics["wall_seconds"] + sum(m["train"]["wall_seconds"] for m in upto), 3),
            "train_forward_passes": reviser_metrics["forward_passes"] + sum(m["train"]["forward_passes"] for m in upto),
            "gen_sequences": sum(m["drafts"] * (2 if m["source"] == "internal" else 1) for m in upto)}


def baseline_cost(cost: dict) -> dict:
    return {"train_seconds": cost["wall_seconds"], "train_forward_passes": cost["forward_passes"],
            "gen_sequences": cost.get("gen_sequences", 0)}  # the no_drafts ablation generates, like SEFT


_NO_COST = {"train_seconds": 0.0, "train_forward_passes": 0, "gen_sequences": 0}


def _baseline_cost(run: Path, key: str) -> dict:
    """A baseline's training cost; sft+dpo also pays for the sft model it starts from."""
    total = dict(_NO_COST)
    for part in (["sft", key] if key == SFT_DPO else [key]):
        path = run / "baselines" / part / "cost.json"
        if path.exists():
            for k, v in baseline_cost(json.loads(path.read_text())).items():
                total[k] += v
    return total


def _eval_sets(run: Path, conf: dict) -> dict[str, str]:
    """The run's eval sets: as configured, else the testbed's (found by its config hash, not rebuilt)."""
    sets = (conf.get("evolve") or {}).get("eval_sets") or {}
    if sets:
        return sets
    from ..config.core import from_dict
    from ..config.stages import RunConfig
    from ..testbed.build import resolve_out

    tb = resolve_out(from_dict(RunConfig, conf).testbed)
    return {"eval": str(tb / "eval.jsonl"), "eval_ood": str(tb / "eval_ood.jsonl")}


def run_rows(run: Path, *, include_rounds: bool = False, seed: int = 0) -> list[dict]:
    """Every (model row, eval set) of one run directory, with its score, win rates, length and cost."""
    import yaml

    from ..judges import get_judge
    from ..report.summary import collect_rounds

    summary = json.loads((run / "eval" / "summary.json").read_text())
    conf = yaml.safe_load((run / "config.yaml").read_text()) or {}
    rounds = collect_rounds(run)
    judge = get_judge(summary.get("judge_config") or summary["judge"])
    paths = _eval_sets(run, conf)
    eval_format = (conf.get("evolve") or {}).get("eval_format", "seft")
    reviser = run / "reviser" / "model" / "train_metrics.json"
    reviser_metrics = json.loads(reviser.read_text()) if reviser.exists() else {"wall_seconds": 0.0, "forward_passes": 0}
    out = []
    for set_name, models in summary["sets"].items():
        records = [r.to_dict() for r in load_records(paths[set_name], "prompts", format=eval_format).records]
        base = read_jsonl(run / "eval" / "base" / f"{set_name}.jsonl")
        for row, key, k in model_rows(list(models), rounds, include_rounds=include_rounds):
            if k is not None:
                answers_dir, cost = run / "rounds" / f"round_{k:02d}" / "eval", seft_cost(reviser_metrics, rounds, k)
            else:
                answers_dir = run / "eval" / key
                cost = _baseline_cost(run, key)
            if key == "base":  # the reference itself: a tie on every prompt by definition
                pair = {"win_rate": 0.5, "win_rate_ci95": [0.5, 0.5], "lc_win_rate": 0.5, "lc_win_rate_ci95": [0.5, 0.5],
                        "mean_length": round(sum(len(b["response"]) for b in base) / len(base), 2), "n_pairs": len(base)}
            else:
                pair = pairwise_vs_base(records, read_jsonl(answers_dir / f"{set_name}.jsonl"), base,
                                        judge.compare, seed=seed)
            s = models[key]
            out.append({"run": str(run), "model": row, "set": set_name, "score": s["score"], "score_ci95": s["ci95"],
                        "n": s["n"], **pair, **cost})
    return out


def run_compare(cfg: CompareConfig) -> Path:
    """Write compare.md, compare.csv and compare.png into ``cfg.out``; returns ``cfg.out``."""
    from ..config.report import HtmlReportConfig
    from ..report.compare import write_compare
    from ..report.html import write_html_report
    from ..report.summary import collect_rounds

    if not cfg.runs:
        raise ConfigError("runs: give at least one run directory (e.g. --set 'runs=[runs/demo]')")
    runs = [Path(r) for r in cfg.runs]
    for r in runs:
        if not (r / "eval" / "summary.json").exists():
            raise FileNotFoundError(f"runs: {r} has no eval/summary.json; finish it with `seft run` first")
    if cfg.out is None and len(runs) > 1:
        raise ConfigError("out: required when comparing several runs")
    out = Path(cfg.out) if cfg.out else runs[0] / "compare"
    per_run = [run_rows(r, include_rounds=cfg.rounds, seed=cfg.seed) for r in runs]
    summaries = [json.loads((r / "eval" / "summary.json").read_text()) for r in runs]
    sweeps = [json.loads(p.read_text()) for r in runs for p in [r / SWEEP_FILE] if p.exists()]
    write_compare(out, per_run, main_set=cfg.main_set, scaling=[s["scaling"] for s in summaries if "scaling" in s],
                  sweep=sweeps[0] if sweeps else None, rounds=[collect_rounds(r) for r in runs])
    write_html_report(out, HtmlReportConfig(), markdown_file="compare.md", title="SEFT comparison")
    log.info("comparison of %d run(s) -> %s (and report.html)", len(runs), out / "compare.md")
    return out
