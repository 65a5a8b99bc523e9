"""Choose the likelihood decision's margin on the testbed's dev set, and show what it does.

    python benchmarks/keep_margin.py RUN_DIR [--margins 0 1 2 4 8] [--n 512]

RUN_DIR is a finished run on the testbed (e.g. runs/demo) or on the IF world (configs/smollm2-if.yaml):
its reviser and its base policy are used as they are, nothing is trained. On the dev prompts
(which no table reports) two kinds of drafts are revised, like the two kinds of rounds: the base
policy's own samples (internal) and the strong writer's answers (external: the testbed's strong
writer; on the IF world the base sample edited to satisfy every constraint, as external.jsonl is
made). Revision runs once; each margin then decides which drafts stand, and the revision audit
(ground truth: dev prompts carry references, or constraints) prints one row per margin.

--probe (testbed only) adds what the reviser writes, before any decision, when the draft is the
policy's own, empty, or the reference itself: a reviser that copies a perfect draft and answers
an empty one as well as a teacher would is using the draft; one whose revisions score the same
whatever the draft is answering the prompt.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--margins", type=float, nargs="+", default=[0, 1, 2, 3, 4, 6, 8, 12])
    ap.add_argument("--n", type=int, default=512, help="dev prompts used (at most the dev set's size)")
    ap.add_argument("--probe", action="store_true", help="also: the reviser's revisions of empty and of perfect drafts")
    args = ap.parse_args(argv)

    from seft.config.core import from_dict
    from seft.config.stages import RunConfig
    from seft.generation.factory import build_generator
    from seft.judges import get_judge
    from seft.reviser.calibrate import calibrate_margin

    run = Path(args.run_dir)
    cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
    world = cfg.testbed.world
    dev, drafts, strong = dev_drafts(cfg, args.n)
    reviser = build_generator(run / "reviser" / "model", cfg.evolve.revise.generation)
    revise_cfg = cfg.evolve.revise
    judge = get_judge(cfg.evolve.judge)
    print(f"dev prompts: {len(dev)}; reviser: {run / 'reviser' / 'model'}\n")
    if args.probe and world == "testbed":
        _probe(reviser, revise_cfg, judge, dev, drafts)
    print("| drafts | margin | perfect drafts kept perfect | harm | improved | improved / harm | mean draft -> final |"
          " drafts that stood |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, texts in (("internal", drafts), ("external", strong)):
        recs = [{"id": r["id"], "prompt": r["prompt"], "draft": t, "meta": r["meta"]} for r, t in zip(dev, texts)]
        # what `seft run`'s calibration computes: one revision pass, every margin a threshold over it
        got = calibrate_margin(reviser, recs, recs, revise_cfg, judge, margins=args.margins, preservation=0.95)
        for o in got["rows"]:
            ratio = o["improvement_rate"] / o["harm_rate"] if o["harm_rate"] else float("inf")
            margin = o["margin"]
            print(f"| {kind} | {'off' if margin is None else f'{margin:g}'} | {o['preserved']} of {o['top_drafts']} "
                  f"({o['preservation']:.0%}) | {o['harm_rate']:.1%} | {o['improvement_rate']:.1%} | {ratio:.1f} | "
                  f"{o['mean_draft']:.3f} -> {o['mean_final']:.3f} | {o['kept']} |")
    return 0


def dev_drafts(cfg, n: int) -> tuple[list[dict], list[str], list[str]]:
    """(dev records, internal drafts, external drafts): the drafts `seft run`'s calibration revises
    (:func:`seft.runs.calibration.dev_drafts`), for a run's config. Also used by draft_value.py."""
    from seft.runs.calibration import dev_drafts as drafts_of
    from seft.runs.single import resolve_paths
    from seft.testbed.build import resolve_out

    testbed = resolve_out(cfg.testbed)
    return drafts_of(resolve_paths(cfg, testbed), testbed, n)


def _probe(reviser, revise_cfg, judge, dev, drafts) -> None:
    """Mean score of the reviser's revision (the tag's choice, no likelihood decision) by kind of draft."""
    from seft.evaluation.audit import audit_revisions
    from seft.reviser.revise import revise_drafts, tag_token_budget

    print("| draft given to the reviser | mean draft score | mean revision score | tagged KEEP |\n|---|---|---|---|")
    for kind, texts in (("the policy's own sample", drafts), ("empty", [""] * len(dev)),
                        ("the reference (perfect)", [r["meta"]["reference"] for r in dev])):
        recs = [{"id": r["id"], "prompt": r["prompt"], "draft": t, "meta": r["meta"]} for r, t in zip(dev, texts)]
        revs = revise_drafts(reviser, recs, _with_margin(revise_cfg, None),
                             tag_budget=tag_token_budget(reviser.tokenizer, revise_cfg.tags))
        # a KEEP tag leaves the draft; every other tag's revision is what the reviser wrote
        _, s = audit_revisions(judge, revs, recs)
        keeps = sum(r["level"] == "KEEP" for r in revs)
        print(f"| {kind} | {s['overall']['mean_draft']:.3f} | {s['overall']['mean_final']:.3f} | {keeps} of {len(revs)} |")
    print()


def _with_margin(revise_cfg, margin):
    import dataclasses

    return dataclasses.replace(revise_cfg, keep_margin=margin)


if __name__ == "__main__":
    sys.exit(main())
