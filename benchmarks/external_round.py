"""What moves the eval score in an external round: the revised targets, or one more round of SFT?

    python benchmarks/external_round.py RUN_DIR [--round K] [--lr-scale 1 0.33]

RUN_DIR is a finished testbed run whose round K (default: the last) is an external round. Round
K's SFT is redone from round K-1's policy, with the run's settings (learning rate, seed, epochs),
on other training sets of about the same size, and each policy is scored on the run's first eval
set with the run's judge (mean and bootstrap 95% CI over prompts):

- ``run's targets``   round K's own train.jsonl (the row that should reproduce the run's score);
- ``drafts as given`` the external drafts, unrevised;
- ``perfect drafts``  only the drafts the judge scores at the top (a diagnosis only: the judge
                      chooses here, which a run never does);
- ``round K-1's targets`` the previous round's own selection, as many examples as round K has.

If every row falls below round K-1, the drop comes from training again on a few hundred examples,
not from what the reviser did to them. Nothing here is written into the run (models go to a
temporary folder).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import yaml


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--round", type=int, help="the external round to redo (default: the last round)")
    ap.add_argument("--eval", action="store_true", help="score the run's first eval set instead of dev")
    ap.add_argument("--lr-scale", type=float, nargs="+", default=[1.0], help="learning rates to try, as multiples of the run's")
    args = ap.parse_args(argv)

    from seft.config.core import from_dict
    from seft.config.stages import RunConfig
    from seft.data.readers import load_records
    from seft.data.shards import read_jsonl
    from seft.evolution.evolve import schedule
    from seft.judges import get_judge
    from seft.runs.single import resolve_paths
    from seft.testbed.build import resolve_out
    from seft.training.sft import train_sft

    run = Path(args.run_dir)
    cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
    cfg = resolve_paths(cfg, resolve_out(cfg.testbed) if cfg.testbed.world == "testbed" else None)
    ev = cfg.evolve
    rounds = schedule(ev.phases)
    k = args.round or len(rounds)
    phase = rounds[k - 1]
    if k < 2:
        raise SystemExit("the round to redo needs a round before it")
    rdir, prev = run / "rounds" / f"round_{k:02d}", run / "rounds" / f"round_{k - 1:02d}"
    train = read_jsonl(rdir / "train.jsonl")
    audit = {a["id"]: a for a in read_jsonl(rdir / "audit.jsonl")} if (rdir / "audit.jsonl").exists() else {}
    revisions = read_jsonl(rdir / "revisions.jsonl")
    sets = {
        "run's targets": [{"prompt": e["prompt"], "completion": e["completion"]} for e in train],
        "drafts as given": [{"prompt": r["prompt"], "completion": r["draft"]} for r in revisions if r["draft"].strip()],
        "perfect drafts": [{"prompt": r["prompt"], "completion": r["draft"]} for r in revisions
                           if audit.get(r["id"], {}).get("draft_score") == ev.audit.top_score],
        f"round {k - 1}'s targets": [{"prompt": e["prompt"], "completion": e["completion"]}
                                     for e in read_jsonl(prev / "selected.jsonl")][:len(train)],
    }
    name, path = next(iter(ev.eval_sets.items())) if args.eval else ("dev", cfg.sweep_set)
    if path is None:
        raise SystemExit("the run has no dev set (sweep_set): use --eval")
    records = [r.to_dict() for r in load_records(path, "prompts", format=ev.eval_format).records]
    judge = get_judge(ev.judge)
    base_lr = phase.learning_rate if phase.learning_rate is not None else ev.train.learning_rate
    lr = base_lr * ev.lr_decay_per_round ** (k - 1)
    print(f"run: {run}; round {k} ({phase.source}), lr {lr:g}; eval set {name} ({len(records)} prompts)\n")
    print("| policy | training examples | lr | eval [95% CI] | vs round K-1 |\n|---|---|---|---|---|")
    before = score(prev / "policy", records, cfg, judge)
    after = score(rdir / "policy", records, cfg, judge)
    print(f"| round {k - 1} (the run's) | | | {_fmt(before)} | |")
    print(f"| round {k} (the run's) | {len(train)} | {lr:g} | {_fmt(after)} | {after['score'] - before['score']:+.3f} |",
          flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for scale in args.lr_scale:
            for label, examples in sets.items():
                if not examples:  # e.g. no draft at the top score
                    print(f"| {label} | 0 | {lr * scale:g} | - | |")
                    continue
                tcfg = dataclasses.replace(ev.train, learning_rate=lr * scale, seed=ev.train.seed + k)
                out = Path(tmp) / f"{len(examples)}-{scale}"
                train_sft(prev / "policy", examples, out, tcfg, resume=False)
                s = score(out, records, cfg, judge)
                print(f"| {label} | {len(examples)} | {lr * scale:g} | {_fmt(s)} | {s['score'] - before['score']:+.3f} |",
                      flush=True)
    return 0


def score(policy: Path, records: list[dict], cfg, judge) -> dict:
    """The policy's greedy answers to ``records`` (the run's eval settings), judged and summarised."""
    from seft.evaluation.stats import summarize
    from seft.generation.base import SamplingParams
    from seft.generation.factory import build_generator

    ev = cfg.evolve  # as evaluate_model answers: greedy, the drafts' backend and batch
    params = SamplingParams(temperature=0.0, max_new_tokens=ev.eval_max_new_tokens)
    answers = build_generator(policy, ev.draft).generate([r["prompt"] for r in records], params, desc="eval")
    return summarize(judge.score(records, answers))


def _fmt(s: dict) -> str:
    return f"{s['score']:.3f} [{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]"


if __name__ == "__main__":
    sys.exit(main())
