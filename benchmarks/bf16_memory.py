"""Where bf16 training's extra memory on a CPU goes: resident memory over a ``train_sft`` call.

    python benchmarks/bf16_memory.py [--model models:smollm2-135m-instruct] [--steps 60] [--batch 8]
                                     [--full] [--env NAME=V[,NAME=V] ...]

Each variant trains in a process of its own (resident memory is per process): fp32, bf16, and bf16
with environment variables set, one variant per ``--env`` value. A callback reads the process's
``VmRSS`` every 10 optimizer steps. Two suspects are watched:

- ``ONEDNN_PRIMITIVE_CACHE_CAPACITY``: on a CPU, bf16 matmuls run through oneDNN, which builds (JIT)
  and caches one kernel per shape (1,024 by default); batches of varying lengths keep adding shapes;
- ``MALLOC_MMAP_THRESHOLD_``: glibc serves a freed large block's size from the heap next time
  (its mmap threshold rises with every large free), so temporaries of ever-changing sizes fragment
  the heap instead of going back to the system; a fixed threshold keeps large blocks mmapped.

The table says how much each holds and what bounding it costs in speed. Data: ``train_speed.py``'s
reviser-shaped examples (LoRA by default, as the SmolLM2 configs train).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from seft.runs.plan import BF16_MEMORY_ENV  # noqa: E402  (what the preflight advises: measured here)

# oneDNN's kernel cache and glibc's mmap threshold (blocks above it are mmapped, so freeing one returns it)
WATCHED = tuple(BF16_MEMORY_ENV)
# each variable alone, then both: the preflight's advice as it is given
DEFAULT_ENVS = tuple(f"{k}={v}" for k, v in BF16_MEMORY_ENV.items()) + (
    ",".join(f"{k}={v}" for k, v in BF16_MEMORY_ENV.items()),)


def parse_env(spec: str) -> dict[str, str]:
    """'A=1,B=2' -> {'A': '1', 'B': '2'}; only the variables the benchmark watches."""
    out = {}
    for item in spec.split(","):
        name, sep, value = item.partition("=")
        if not sep or name not in WATCHED or not value:
            raise SystemExit(f"--env: {item!r} is not NAME=VALUE with NAME one of {', '.join(WATCHED)}")
        out[name] = value
    return out


def rss_mib() -> int:
    """The process's resident memory now, MiB (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no VmRSS in /proc/self/status (not Linux?)")


def growth_row(name: str, samples: list[tuple[int, int]], peak: int, tokens_per_second: float) -> str:
    """One table row from (step, RSS MiB) samples: first and last sample, their difference, peak."""
    (s0, r0), (s1, r1) = samples[0], samples[-1]
    return f"| {name} | {r0} (step {s0}) | {r1} (step {s1}) | {r1 - r0:+d} | {peak} | {tokens_per_second:.0f} |"


def child(args) -> int:
    """Train once and print a JSON line: the RSS samples, the peak, tokens/s."""
    from train_speed import examples
    from transformers import TrainerCallback

    from seft.config.common import TrainConfig
    from seft.models.registry import resolve_model_ref
    from seft.training.sft import train_sft

    samples: list[tuple[int, int]] = []

    class Sample(TrainerCallback):
        def on_step_end(self, _args, state, control, **kw):
            if state.global_step % 10 == 0:
                samples.append((state.global_step, rss_mib()))

    cfg = TrainConfig(epochs=1, max_steps=args.steps, batch_size=args.batch, precision=args.precision,
                      lora=not args.full, max_length=args.max_length, save_steps=10**6, learning_rate=1e-4)
    with tempfile.TemporaryDirectory() as out:
        res = train_sft(resolve_model_ref(args.model), examples(args.steps * args.batch), out, cfg,
                        callbacks=[Sample()], resume=False)
    print(json.dumps({"samples": samples, "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
                      "tokens_per_second": res.metrics["tokens_per_second"], "env": {k: os.environ.get(k) for k in WATCHED}}))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="models:smollm2-135m-instruct")
    ap.add_argument("--steps", type=int, default=60, help="optimizer steps per variant (at least 20)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--full", action="store_true", help="full fine-tune instead of LoRA")
    ap.add_argument("--max-length", type=int, default=256, help="longest training sequence in tokens")
    ap.add_argument("--env", nargs="*", default=list(DEFAULT_ENVS), metavar="NAME=V[,NAME=V]",
                    help="one more bf16 variant per value, trained with these environment variables set")
    ap.add_argument("--child", choices=["fp32", "bf16"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.steps < 20:
        ap.error("--steps must be at least 20 (RSS is sampled every 10 steps)")
    if args.child:
        args.precision = args.child
        return child(args)

    variants = [("fp32", "fp32", {}), ("bf16", "bf16", {})] + [
        ("bf16, " + spec.replace(",", ", "), "bf16", parse_env(spec)) for spec in args.env]
    rows = []
    for name, precision, extra in variants:
        env = {k: v for k, v in os.environ.items() if k not in WATCHED}
        env.update(extra)
        cmd = [sys.executable, __file__, "--child", precision, "--model", args.model, "--steps", str(args.steps),
               "--batch", str(args.batch), "--max-length", str(args.max_length)] + (["--full"] if args.full else [])
        print(f"{name}: training {args.steps} steps ...", flush=True)
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"{name}: the training process failed (exit {done.returncode})")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        if result["env"] != {k: extra.get(k) for k in WATCHED}:
            raise SystemExit(f"{name}: the training process saw {result['env']}")
        rows.append(growth_row(name, result["samples"], result["peak"], result["tokens_per_second"]))
    mode = "full fine-tune" if args.full else "LoRA"
    print(f"\n{args.model}, {mode}, {args.steps} steps of {args.batch} sequences\n")
    print("| variant | RSS first (MiB) | RSS last (MiB) | growth | peak (MiB) | tokens/s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
