"""Training throughput: seft's ``train_sft`` beside a plain PyTorch loop on the same batches.

    python benchmarks/train_speed.py [--models smollm2 testbed] [--modes full lora] [--methods sft dpo orpo]
                                     [--steps 8] [--repeats 2] [--dtype float32 bfloat16]

Variants, per model and mode (full fine-tune, LoRA), all in one process:

- **plain loop**: the model from ``from_pretrained``, AdamW, gradient clipping at 1.0 (what the
  Trainer also does), the model's own loss over full logits, on batches from seft's own data
  pipeline (chat template, completion-only labels);
- **seft train_sft**: the trainer ``train_sft`` builds (TRL's SFTTrainer with seft's callbacks), with
  its LM head projecting only the labelled positions (``seft.training.lm_head``);
- **seft, one pass per batch**: ``train_sft`` with the whole padded batch in one backbone pass
  (``seft.training.lm_head.MAX_CHUNKS = 1``) instead of length groups;
- **seft, TRL's head**: the same trainer with TRL's fused head as TRL installs it (every position
  projected off Triton devices): what ``train_sft`` did before.

``--methods dpo orpo`` times the preference trainers on pairs with the IF world's length spread:
TRL's own head (DPO's fused head over every position; ORPO's full logits, read three times), seft's
(labelled positions, length groups) and seft's in one pass per batch.

Each variant trains ``--warmup`` steps, then ``--steps`` timed steps; throughput is non-pad tokens
per second over the timed steps (the Trainer's own token count, and the same count in the loop).
Variants alternate within each of ``--repeats`` rounds and the median is quoted, because this
machine is shared. The last column puts the model's FLOPs per token (6N for a full fine-tune, 4N
with LoRA: no weight gradients) against the matmul ceiling of the variant's dtype measured in the
same process (on a GPU: against its data-sheet bf16 peak). Setup (tokenizing, loading) is reported
apart from the steps.

``--dtype float32 bfloat16`` times every variant in both, side by side: on a CPU that computes bf16
in hardware (AMX, AVX512-BF16) bf16 autocast is the fast path (seft's ``precision: bf16``).
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from revise_speed import _sentence, bench_dtype, bf16_peak, matmul_ceiling  # noqa: E402  (benchmarks/ is the script's folder)


def examples(n: int, seed: int = 0) -> list[dict]:
    """Reviser-shaped SFT examples: a draft of ~60 words in the prompt, a ~30-word completion."""
    rng = random.Random(seed)
    return [{"prompt": f"Draft: {_sentence(rng, rng.randint(40, 70))}\n\nImprove the draft.",
             "completion": _sentence(rng, rng.randint(15, 40))} for _ in range(n)]


def pairs(n: int, seed: int = 0) -> list[dict]:
    """Preference pairs with the length spread of the IF world's: prompts of 20-110 words, a chosen
    and a rejected response of 5-45 words each."""
    rng = random.Random(seed)
    return [{"prompt": f"{_sentence(rng, rng.randint(20, 110))}\n\nAnswer in one paragraph.",
             "chosen": _sentence(rng, rng.randint(5, 45)), "rejected": _sentence(rng, rng.randint(5, 45))}
            for _ in range(n)]


def _timing_callback(times: list, tokens: list):
    from transformers import TrainerCallback

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.t0, self.seen = time.perf_counter(), state.num_input_tokens_seen

        def on_step_end(self, args, state, control, **kw):
            times.append(time.perf_counter() - self.t0)
            tokens.append(state.num_input_tokens_seen - self.seen)

    return Timer()


@contextlib.contextmanager
def _one_pass(on: bool):
    """Every batch through the backbone in one pass (``on``) instead of length groups."""
    from seft.training import lm_head

    chunks = lm_head.MAX_CHUNKS
    lm_head.MAX_CHUNKS = 1 if on else chunks
    try:
        yield
    finally:
        lm_head.MAX_CHUNKS = chunks


def run_seft(path: str, data: list[dict], cfg, n_steps: int, *, trl_head: bool, one_pass: bool = False) -> dict:
    from seft.models.loading import unwrap_peft
    from seft.training import build_sft_trainer

    times, tokens = [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        trainer = build_sft_trainer(path, data, out, cfg, callbacks=[_timing_callback(times, tokens)])
        if trl_head:
            base = unwrap_peft(trainer.model)
            base.forward = base.forward.__func__.trl_forward
        setup = time.perf_counter() - t0
        trainer.args.max_steps = n_steps
        with _one_pass(one_pass):
            trainer.train()
    return {"setup": setup, "times": times, "tokens": tokens}


def run_preference(method: str, path: str, data: list[dict], cfg, n_steps: int, *, variant: str) -> dict:
    """``variant``: "seft" (labelled positions, length groups), "one pass" (labelled positions, the
    whole padded batch in one pass) or "trl" (TRL's own head: DPO's fused head over every position,
    ORPO's full logits)."""
    from seft.models.loading import unwrap_peft
    from seft.training.preference import build_preference_trainer

    times, tokens = [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        trainer = build_preference_trainer(method, path, data, out, cfg, callbacks=[_timing_callback(times, tokens)])
        if variant == "trl" and method == "dpo":
            for m in (trainer.model, trainer.ref_model):
                if m is not None:
                    base = unwrap_peft(m)
                    base.forward = base.forward.__func__.trl_forward
        elif variant == "trl":
            trainer._fused_head = False
        setup = time.perf_counter() - t0
        trainer.args.max_steps = n_steps
        with _one_pass(variant == "one pass"):
            trainer.train()
    return {"setup": setup, "times": times, "tokens": tokens}


def run_plain(path: str, batches: list[dict], cfg, device: str = "cpu", bf16: bool = False) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(device)
    # In bf16 the Trainer trains in bf16 autocast over fp32 weights (a GPU's default); the loop does the same.
    autocast = torch.autocast(device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    if cfg.lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                                 target_modules=cfg.lora_target_modules, task_type="CAUSAL_LM"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.learning_rate)
    setup = time.perf_counter() - t0
    times, tokens = [], []
    for batch in batches:
        t = time.perf_counter()
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast:
            loss = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                         labels=batch["labels"]).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device != "cpu":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
        tokens.append(int(batch["attention_mask"].sum()))
    return {"setup": setup, "times": times, "tokens": tokens}


def loop_batches(path: str, data: list[dict], cfg, n: int) -> list[dict]:
    """The first ``n`` batches seft's trainer would build (its tokenization, collator, order)."""
    from seft.training import build_sft_trainer

    with tempfile.TemporaryDirectory() as out:
        trainer = build_sft_trainer(path, data, out, cfg)
        it = iter(trainer.get_train_dataloader())
        return [{k: v for k, v in next(it).items() if k in ("input_ids", "attention_mask", "labels")} for _ in range(n)]


def throughput(result: dict, warmup: int) -> float:
    return sum(result["tokens"][warmup:]) / sum(result["times"][warmup:])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["smollm2"], choices=["smollm2", "testbed"])
    ap.add_argument("--modes", nargs="+", default=["full", "lora"], choices=["full", "lora"])
    ap.add_argument("--methods", nargs="+", default=["sft"], choices=["sft", "dpo", "orpo"],
                    help="sft: against a plain loop; dpo, orpo (preference pairs): against TRL's own head")
    ap.add_argument("--steps", type=int, default=6, help="timed steps per variant")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--smollm2", help="folder of the model benchmarked as SmolLM2 (default: models:smollm2-135m-instruct)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available; bf16 there)")
    ap.add_argument("--dtype", nargs="+", default=["auto"], choices=["auto", "float32", "bfloat16"],
                    help="auto: bfloat16 autocast on a GPU, float32 on CPU; bfloat16 on a CPU with AMX or "
                         "AVX512-BF16 is the CPU's fast path (seft: precision=bf16). Several: every variant in "
                         "each, side by side, ratios against the first dtype's plain loop")
    ap.add_argument("--no-trl-head", dest="trl_head", action="store_false",
                    help="sft: leave out the one-pass and TRL-head variants")
    args = ap.parse_args(argv)

    import logging

    import torch

    from seft.config.common import TrainConfig
    from seft.config.testbed import TestbedConfig
    from seft.data.shards import read_jsonl
    from seft.models.registry import resolve_model_ref
    from seft.testbed.build import run_testbed_build

    logging.getLogger("seft").setLevel(logging.WARNING)  # no progress bars or per-step logs
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtypes = list(dict.fromkeys(bench_dtype(d, device) for d in args.dtype))
    ceilings = {d: matmul_ceiling(device=device, dtype=d) for d in dtypes}
    peak = bf16_peak(device)
    where = "cpu" if device == "cpu" else torch.cuda.get_device_name()
    print(f"torch threads {torch.get_num_threads()}, {where} matmul ceiling "
          + ", ".join(f"{d} {c:.0f} GFLOP/s" for d, c in ceilings.items())
          + (f", data-sheet peak {peak:.0f} TFLOP/s (MFU below is against it)" if peak else "") + "\n")
    if peak:
        ceilings = {d: peak * 1e3 for d in dtypes}
    n_steps = args.warmup + args.steps
    rows = []
    for name in args.models:
        if name == "smollm2":
            path = args.smollm2 or str(resolve_model_ref("models:smollm2-135m-instruct"))
            data = examples(args.batch * n_steps * 2)
        else:  # the testbed's character tokenizer: its own prompts and reference answers
            testbed = run_testbed_build(TestbedConfig())
            path = str(testbed / "base_policy")
            data = [{"prompt": r["prompt"], "completion": r["meta"]["reference"]}
                    for r in read_jsonl(testbed / "dev.jsonl")][:args.batch * n_steps * 2]
        for method in args.methods:
            if method != "sft" and name != "smollm2":
                continue  # preference pairs are words: the testbed's tokenizer has no use for them
            for mode in args.modes:
                variants, dtype_of = {}, {}
                for dtype in dtypes:
                    cfg = TrainConfig(learning_rate=1e-5 if mode == "full" else 1e-4, batch_size=args.batch,
                                      max_length=args.max_length, lora=mode == "lora", save_steps=10_000,
                                      logging_steps=1_000, precision="bf16" if dtype == "bfloat16" else "fp32")
                    for v, fn in _variants(method, path, data, cfg, n_steps, device, args).items():
                        v = v if len(dtypes) == 1 else f"{v}, {dtype}"
                        variants[v], dtype_of[v] = fn, dtype
                results = {v: [] for v in variants}
                for _ in range(args.repeats):
                    for v, fn in variants.items():
                        results[v].append(fn())
                # LoRA: no weight gradients. DPO's reference reads every policy token again (forward only).
                flops_per_token = ((6 if mode == "full" else 4) + (2 if method == "dpo" else 0)) * _count(path)
                reference = next(iter(results))
                base = statistics.median(throughput(r, args.warmup) for r in results[reference])
                for v, rs in results.items():
                    tps = statistics.median(throughput(r, args.warmup) for r in rs)
                    step = statistics.median(statistics.median(r["times"][args.warmup:]) for r in rs)
                    first = statistics.median(r["times"][0] for r in rs)
                    setup = statistics.median(r["setup"] for r in rs)
                    share = flops_per_token * tps / 1e9 / ceilings[dtype_of[v]]
                    rows.append((name, method, mode, v, tps, tps / base, reference, step, first, setup, share))
    print("| model | method | mode | variant | tokens/s | ratio | vs | step (s) | first step (s) | setup (s) "
          "| model FLOPs / its dtype's ceiling |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, method, mode, v, tps, ratio, reference, step, first, setup, share in rows:
        print(f"| {name} | {method} | {mode} | {v} | {tps:.0f} | {ratio:.2f}x | {reference} | {step:.2f} | {first:.2f} "
              f"| {setup:.1f} | {share:.0%} |")
    print(f"\nmedians of {args.repeats} repeats of {args.steps} timed steps after {args.warmup} warm-up steps; "
          f"batch {args.batch} x up to {args.max_length} tokens (DPO, ORPO: {args.batch} pairs, so twice the rows); "
          "tokens/s counts the policy's non-pad tokens")
    return 0


def _variants(method: str, path: str, data: list[dict], cfg, n_steps: int, device: str, args) -> dict:
    """The variants timed for one method, the reference (the ratio's denominator) first."""
    if method == "sft":
        batches = loop_batches(path, data, cfg, n_steps)
        variants = {"plain loop": functools.partial(run_plain, path, batches, cfg, device, cfg.precision == "bf16"),
                    "seft train_sft": functools.partial(run_seft, path, data, cfg, n_steps, trl_head=False)}
        if args.trl_head:
            variants["seft, one pass per batch"] = functools.partial(run_seft, path, data, cfg, n_steps,
                                                                     trl_head=False, one_pass=True)
            variants["seft, TRL's head"] = functools.partial(run_seft, path, data, cfg, n_steps, trl_head=True)
        return variants
    prefs = pairs(args.batch * n_steps * 2)
    return {f"TRL's {method.upper()} head": functools.partial(run_preference, method, path, prefs, cfg, n_steps,
                                                             variant="trl"),
            f"seft {method}": functools.partial(run_preference, method, path, prefs, cfg, n_steps, variant="seft"),
            f"seft {method}, one pass per batch": functools.partial(run_preference, method, path, prefs, cfg, n_steps,
                                                                    variant="one pass")}


def _count(path: str) -> int:
    """Parameters of the model at ``path`` (for the FLOPs column), without loading weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(path))
    return sum(p.numel() for p in model.parameters())


if __name__ == "__main__":
    sys.exit(main())
