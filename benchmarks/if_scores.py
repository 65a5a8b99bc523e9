"""IFEval's four numbers for every model of an IF-world run, from the answers the run stored.

    python benchmarks/if_scores.py RUN_DIR

A run scores with one judge (configs/smollm2-if.yaml: instruction-level strict, per prompt). This
re-checks the stored greedy answers of every model (base, each round, the baselines, SEFT without
drafts) on each eval set with all four of IFEval's metrics: prompt-level strict and loose (every
instruction followed) and instruction-level strict and loose (the share followed, averaged over
prompts), each with a bootstrap 95% interval over prompts. Nothing is generated: it takes seconds.
Prompts with no instruction checkable offline (IFBench: see README) are left out, and counted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seft.data.shards import read_jsonl
from seft.evaluation.stats import summarize
from seft.worlds.scoring import check

METRICS = ("prompt_strict", "prompt_loose", "inst_strict", "inst_loose")


def scores(record: dict, response: str) -> dict[str, float] | None:
    """The four metrics of one answer (None: nothing checkable)."""
    results = check(record, response)
    if not results:
        return None
    strict, loose = [r[1] for r in results], [r[2] for r in results]
    return {"prompt_strict": float(all(strict)), "prompt_loose": float(all(loose)),
            "inst_strict": sum(strict) / len(strict), "inst_loose": sum(loose) / len(loose)}


def answer_files(run: Path) -> dict[str, Path]:
    """Model name -> folder of its stored eval answers, in the report's order."""
    out = {"base": run / "eval" / "base"}
    for k, rdir in enumerate(sorted((run / "rounds").glob("round_*")), start=1):
        out[f"seft_round_{k}"] = rdir / "eval"
    for folder in sorted((run / "eval").iterdir()):
        if folder.is_dir() and folder.name != "base":
            out[folder.name] = folder
    return {name: path for name, path in out.items() if path.is_dir()}


def table(run: Path) -> list[str]:
    import yaml

    from seft.runs.compare import _eval_sets

    conf = yaml.safe_load((run / "config.yaml").read_text())
    sets = {name: {r["id"]: r for r in read_jsonl(Path(path))} for name, path in _eval_sets(run, conf).items()}
    lines = ["| model | set | n | " + " | ".join(METRICS) + " |", "|---|---|---|" + "---|" * len(METRICS)]
    for model, folder in answer_files(run).items():
        for set_name, records in sets.items():
            path = folder / f"{set_name}.jsonl"
            if not path.exists():
                continue
            rows = [scores(records[a["id"]], a["response"]) for a in read_jsonl(path)]
            judged = [r for r in rows if r is not None]
            cells = []
            for m in METRICS:
                s = summarize([r[m] for r in judged])
                cells.append(f"{s['score']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]")
            lines.append(f"| {model} | {set_name} | {len(judged)} of {len(rows)} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", type=Path, help="an IF-world run directory (seft run configs/smollm2-if.yaml)")
    args = ap.parse_args(argv)
    if not (args.run / "config.yaml").exists():
        print(f"{args.run}: not a run directory (no config.yaml)", file=sys.stderr)
        return 2
    print("\n".join(table(args.run)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
