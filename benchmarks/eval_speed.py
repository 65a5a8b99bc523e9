"""What a long-tailed prompt set costs to answer: batches of a fixed size against length batches
that end before a long prompt (``generation.max_padding``), in one process.

    python benchmarks/eval_speed.py [--set ifbench] [--batch-size 64] [--max-new-tokens 64] [--repeats 1]

IFBench's 294 test prompts are ~100 tokens each under SmolLM2's chat template, but one is 2,591
and one 757. Sorted by length into batches of 64, the last batch pads 37 prompts to 2,591 tokens:
the set's prefill becomes ~126k positions for ~34k real ones. The script answers the whole set
greedily with SmolLM2-135M-Instruct (as an IF-world evaluation does: the one-pass greedy engine)
for each ``max_padding``, alternating the variants ``--repeats`` times, and prints the medians, the
ratio to fixed batches, the padded positions, and how many answers are identical to the first
variant's (greedy answers can differ where a different padding changes fp32 sums enough to flip
an argmax).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path


def prefill_positions(lengths: list[int], batches: list[list[int]]) -> int:
    """Prompt positions a batched prefill computes (each row padded to its batch's longest)."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--set", default="ifbench", help="a prompt set of `seft prompts fetch` (default: ifbench)")
    ap.add_argument("--model", default="models:smollm2-135m-instruct")
    ap.add_argument("--batch-size", type=int, default=64, help="as smollm2-if.yaml's evaluations")
    ap.add_argument("--max-new-tokens", type=int, default=64, help="as smollm2-if.yaml's eval_max_new_tokens")
    ap.add_argument("--max-padding", type=float, nargs="+", default=[1.0, 0.5],
                    help="variants; the first is the reference (1.0: fixed batches, as before)")
    ap.add_argument("--limit", type=int, default=None, help="only the first N prompts")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import torch

    from seft.data.benchsets import prompt_set_path
    from seft.data.shards import read_jsonl
    from seft.generation.base import SamplingParams, length_batches
    from seft.generation.hf import HFGenerator
    from seft.models.chat import render_prompts
    from seft.models.loading import load_model_and_tokenizer
    from seft.models.registry import resolve_model_ref

    prompts = [r["prompt"] for r in read_jsonl(prompt_set_path(args.set))][:args.limit]
    model, tok = load_model_and_tokenizer(str(resolve_model_ref(args.model)))
    lengths = [len(tok(t, add_special_tokens=False)["input_ids"]) for t in render_prompts(tok, prompts)]
    params = SamplingParams(temperature=0.0, max_new_tokens=args.max_new_tokens)
    gens = {m: HFGenerator(model, tok, batch_size=args.batch_size, max_padding=m, show_progress=False)
            for m in args.max_padding}
    times: dict[float, list[float]] = {m: [] for m in args.max_padding}
    answers: dict[float, list[str]] = {}
    gens[args.max_padding[0]].generate(prompts[:2], params)  # warm-up: the first call pays one-off costs
    for _ in range(args.repeats):
        for m, gen in gens.items():
            t0 = time.perf_counter()
            answers[m] = gen.generate(prompts, params)
            times[m].append(time.perf_counter() - t0)

    print(f"{args.set}: {len(prompts)} prompts, {sum(lengths)} prompt tokens (longest {max(lengths)}), "
          f"batch {args.batch_size}, {args.max_new_tokens} new tokens, torch threads {torch.get_num_threads()}, "
          f"median of {args.repeats}\n")
    print("| max_padding | batches | prefill positions | wall (s) | vs the first | answers identical |")
    print("|---|---|---|---|---|---|")
    ref = args.max_padding[0]
    for m in gens:
        batches = length_batches(lengths, args.batch_size, extra=args.max_new_tokens, max_padding=m)
        wall = statistics.median(times[m])
        same = sum(a == b for a, b in zip(answers[m], answers[ref]))
        print(f"| {m:g} | {len(batches)} | {prefill_positions(lengths, batches):,} | {wall:.1f} | "
              f"{statistics.median(times[ref]) / wall:.2f}x | {same}/{len(prompts)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
