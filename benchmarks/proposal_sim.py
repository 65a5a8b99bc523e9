"""Simulate the revision engine's proposal side on revise_speed.py's drafts: passes and modelled cost.

No model runs here. Each revised row's target (what greedy decoding would write) is known, and
``seft.generation.proposals`` decides, pass after pass, what each row proposes, exactly as
``speculative.greedy_revise`` calls it (lengths shared by the batch, acceptance rates pooled, the
draft re-aligned after each rejection); a proposal is accepted up to the first token that differs
from the target, plus one. The cost of a pass is modelled as ``fixed + per_position * rows *
(1 + width)`` seconds (defaults: the SmolLM2 figures profiled on 2 cores, 0.2 s and 3.5 ms).

Two edit kinds: ``token`` (revise_speed's MINOR rows: 10% of the tokens replaced by others from the
drafts' vocabulary) and ``word`` (10% of the words replaced, doubled or dropped). Rules compared:
one-token re-alignment matches anywhere in the draft (the rule before ``c27b7fa``) or only within
``proposals.NEAR`` tokens of the hint (now), at several ``pass_overhead`` settings. Only the
revised rows matter: a KEEP costs no pass after the prefill. Takes seconds (SmolLM2's tokenizer).
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import revise_speed as rs  # noqa: E402  (the drafts and edits of the revision benchmark)


def word_edit(text: str, rng: random.Random, share: float) -> str:
    out = []
    for w in text.rstrip(".").split(" "):
        if rng.random() < share:
            kind = rng.choice(["sub", "sub", "ins", "del"])
            if kind == "sub":
                out.append(rng.choice(rs.WORDS))
            elif kind == "ins":
                out += [w, rng.choice(rs.WORDS)]
        else:
            out.append(w)
    return " ".join(out) + "."


def revised_rows(tok, n: int, keep: float, kind: str, share: float) -> list[tuple[list[int], list[int]]]:
    """(draft ids, target ids + end of turn) of the rows revise_speed.py makes MINOR at this KEEP share."""
    rng = random.Random(0)
    drafts = [rs._draft(tok, rng, 48) for _ in range(n)]
    order = list(range(n))
    random.Random(1).shuffle(order)
    kept = set(order[:round(keep * n)])
    vocab = sorted({t for d in drafts for t in tok(d, add_special_tokens=False)["input_ids"]})
    edit_rng = random.Random(2)
    rows = []
    for i, d in enumerate(drafts):
        if i in kept:
            continue
        ids = tok(d, add_special_tokens=False)["input_ids"]
        target = (rs._edit(ids, edit_rng, share, vocab) if kind == "token"
                  else tok(word_edit(d, edit_rng, share), add_special_tokens=False)["input_ids"])
        rows.append((ids, target + [tok.eos_token_id]))
    return rows


def simulate(pairs, eos: int, overhead: float, fixed: float, per_position: float) -> tuple[int, float]:
    """Passes after the tag line until every row is done, and their modelled seconds."""
    from seft.generation import proposals as P

    rows = [P.Row(list(d), P.RevisionOut(tag_len=0)) for d, _ in pairs]
    for r in rows:
        r.phase = "first"
    pool, active, done = P.Acceptance(), list(range(len(rows))), [0] * len(rows)
    passes, seconds = 0, 0.0
    while active:
        props = [[] for _ in rows]
        for k in active:
            props[k] = P.propose(rows[k], eos, 10**6, False, P.MAX_PROPOSAL)
        P.share_window(rows, props, active, overhead, pool)
        width = max(len(props[k]) for k in active)
        passes += 1
        seconds += fixed + per_position * len(active) * (1 + width)
        still = []
        for k in active:
            prop, target, row = props[k], pairs[k][1], rows[k]
            taken = 0
            while taken < len(prop) and done[k] + taken < len(target) and prop[taken] == target[done[k] + taken]:
                taken += 1
            row.phase = "body"
            if prop:
                row.checked += min(taken + 1, len(prop))
                row.rejected += taken < len(prop)
                pool.add(min(taken + 1, len(prop)), taken < len(prop))
            row.hint = row.start + taken + 1
            new = target[done[k]:done[k] + taken + 1]
            row.out.tokens += new
            done[k] += len(new)
            if done[k] < len(target):
                still.append(k)
        active = still
    return passes, seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=64, help="drafts (as revise_speed.py)")
    ap.add_argument("--keep", type=float, nargs="+", default=[0.5, 0.8])
    ap.add_argument("--edit-share", type=float, default=0.1)
    ap.add_argument("--overheads", type=float, nargs="+", default=[20, 40, 90, 200])
    ap.add_argument("--fixed", type=float, default=0.2, help="modelled fixed seconds per pass")
    ap.add_argument("--per-position", type=float, default=0.0035, help="modelled seconds per position")
    ap.add_argument("--smollm2", help="folder of SmolLM2 (default: models:smollm2-135m-instruct)")
    args = ap.parse_args(argv)

    from transformers import AutoTokenizer

    from seft.generation import proposals as P
    from seft.models.registry import resolve_model_ref

    tok = AutoTokenizer.from_pretrained(args.smollm2 or str(resolve_model_ref("models:smollm2-135m-instruct")))
    near = P.NEAR
    print("| edits | KEEP | pass_overhead | passes, 1-token match anywhere | passes, near the hint | "
          "modelled s, anywhere | modelled s, near | saved |")
    print("|---|---|---|---|---|---|---|---|")
    for kind in ("token", "word"):
        for keep in args.keep:
            pairs = revised_rows(tok, args.n, keep, kind, args.edit_share)
            for ov in args.overheads:
                P.NEAR = 10**9
                pa, sa = simulate(pairs, tok.eos_token_id, ov, args.fixed, args.per_position)
                P.NEAR = near
                pn, sn = simulate(pairs, tok.eos_token_id, ov, args.fixed, args.per_position)
                print(f"| {kind} | {keep:.0%} | {ov:g} | {pa} | {pn} | {sa:.2f} | {sn:.2f} | {1 - sn / sa:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
