"""The LM head over a strided slice of hidden states, against a contiguous copy, per dtype.

    python benchmarks/head_view.py [--vocab 49152] [--hidden 576] [--batch 64] [--length 100]
                                   [--keep 1] [--calls 5] [--dtype float32 bfloat16]

At a prefill ``transformers`` projects only the last ``keep`` positions: the head gets
``hidden[:, -keep:, :]``, a strided view. This times ``torch.nn.functional.linear`` over that view
and over a contiguous copy of it (the defaults: SmolLM2-135M's head, a batch of 64 prompts of 100
tokens), and reports the rise of peak memory (each variant in a fresh process, since peak RSS only
grows) and whether both give the same logits bit for bit. On torch 2.13 on this CPU the bf16 view
is the slow, memory-hungry case that ``seft.models.loading.contiguous_head_inputs`` removes;
fp32 is left alone there because the copy rounds differently. Takes seconds.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def one(args) -> dict:
    """Time one (dtype, layout) in this process; peak RSS rise over the calls."""
    import resource

    import torch

    dt = getattr(torch, args.one[0])
    torch.manual_seed(0)
    w = torch.randn(args.vocab, args.hidden).to(dt)
    h = torch.randn(args.batch, args.length, args.hidden).to(dt)
    view = h[:, -args.keep:, :]
    x = view.contiguous() if args.one[1] == "contiguous" else view
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(args.calls):
        t = time.perf_counter()
        y = torch.nn.functional.linear(x, w)
        times.append(time.perf_counter() - t)
    rise = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
    same = torch.equal(y, torch.nn.functional.linear(view.contiguous(), w))
    return {"ms": statistics.median(times) * 1000, "rise_mib": rise, "same": same}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=49152)
    ap.add_argument("--hidden", type=int, default=576)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--length", type=int, default=100, help="prefill length the view is sliced from")
    ap.add_argument("--keep", type=int, default=1, help="last positions projected (logits_to_keep)")
    ap.add_argument("--calls", type=int, default=5, help="timed calls per variant (the median is quoted)")
    ap.add_argument("--dtype", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16", "float16"])
    ap.add_argument("--one", nargs=2, help=argparse.SUPPRESS)  # internal: run one variant, print JSON
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args)))
        return 0
    import torch

    shared = [f"--{k}={getattr(args, k)}" for k in ("vocab", "hidden", "batch", "length", "keep", "calls")]
    print(f"torch {torch.__version__}; head {args.vocab} x {args.hidden}; input {args.batch} x {args.keep} x "
          f"{args.hidden} sliced from {args.batch} x {args.length}; medians of {args.calls} calls\n")
    print("| dtype | head input | ms per call | vs contiguous | peak memory rise (MiB) | same logits as contiguous |")
    print("|---|---|---|---|---|---|")
    for dt in args.dtype:
        res = {}
        for layout in ("contiguous", "view"):
            out = subprocess.run([sys.executable, __file__, *shared, "--one", dt, layout], check=True,
                                 capture_output=True, text=True).stdout
            res[layout] = json.loads(out.strip().splitlines()[-1])
        for layout in ("view", "contiguous"):
            r = res[layout]
            print(f"| {dt} | {'strided view' if layout == 'view' else 'contiguous copy'} | {r['ms']:.1f} | "
                  f"{r['ms'] / res['contiguous']['ms']:.1f}x | {r['rise_mib']:.0f} | {'yes' if r['same'] else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
