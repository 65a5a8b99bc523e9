"""What revision costs: the one-pass engine beside the ways seft revised before, in one process.

    python benchmarks/revise_speed.py [--models smollm2 testbed] [--n 64] [--draft-tokens 48] [--repeats 3]
                                      [--dtype float32 bfloat16]

A reviser is *scripted* so that its decisions are fixed and the variants do the same work: the
model computes its real logits at every step (real compute), and a logits hook then makes the
scripted token the argmax. Each draft gets either ``[KEEP]`` or ``[MINOR]`` and the draft with
about 10% of its tokens replaced; a full rewrite gives every draft the MINOR script. Variants:

- per-sample ``generate``, full rewrite (timed on 4 drafts, scaled to n);
- seft's ``HFGenerator``, batched, full rewrite of all n;
- the two-pass scheme (tags for all, then the revisions with the tag forced) at 0/50/80% KEEP;
- the one-pass engine (one prefill, KEEP stops at its tag, the draft as the speculation) at the same;
- one teacher-forced forward pass over prompt + draft for all n (what verifying the drafts costs);
- two-pass and one-pass with the likelihood decision (keep_margin 2; what it costs does not depend on the margin) at 50% KEEP.

Medians of ``--repeats`` runs; ratios are against the batched full rewrite, all measured here in
one process. The engine's outputs are checked against the two-pass scheme's. The last lines put
prefill and decode throughput against the matmul ceiling measured in the same dtype (``--dtype``:
float32 on CPU by default, bfloat16 on a GPU; bfloat16 on a CPU that computes it in hardware).
"""
from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import string
import sys
import time
from pathlib import Path

WORDS = ("the of and to in is that for it as with was on be by this are from or an at which have not but "
         "were one all their has more been can when there would what so out about up into them some time only "
         "other could then these two may first any new like our over such well most also after where many "
         "through before good same right each under still even here because while again every during water "
         "small large number people world house light story state place point group problem fact").split()


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _draft(tok, rng: random.Random, n_tokens: int) -> str:
    text = _sentence(rng, n_tokens)
    ids = tok(text, add_special_tokens=False)["input_ids"][:n_tokens]
    return tok.decode(ids)


def _edit(ids: list[int], rng: random.Random, share: float, vocab: list[int]) -> list[int]:
    out = list(ids)
    for j in rng.sample(range(len(out)), max(1, round(share * len(out)))) if out else []:
        out[j] = rng.choice([v for v in vocab if v != out[j]])
    return out


class Script:
    """Row -> the token ids the scripted reviser writes (tag line, body, end of turn)."""

    def __init__(self, tok, drafts: list[str], keep: set[int], rng: random.Random, edit_share: float):
        self.eos = tok.eos_token_id
        vocab = sorted({t for d in drafts for t in tok(d, add_special_tokens=False)["input_ids"]})
        self.tag = {lv: tok(f"[{lv}]\n", add_special_tokens=False)["input_ids"] for lv in ("KEEP", "MINOR")}
        self.rows = []
        for i, d in enumerate(drafts):
            if i in keep:
                self.rows.append(self.tag["KEEP"] + [self.eos])
            else:
                body = _edit(tok(d, add_special_tokens=False)["input_ids"], rng, edit_share, vocab)
                self.rows.append(self.tag["MINOR"] + body + [self.eos])

    def next(self, row: int, generated: list[int]) -> int:
        s = self.rows[row]
        return s[len(generated)] if len(generated) < len(s) else self.eos


def _force(logits, token: int):
    """Make ``token`` the argmax, in place (one element: the hook must not cost what the model does)."""
    logits[..., token] = 1e4
    return logits


class ScriptedGenerator:
    """seft's HFGenerator, its outputs made the script's: generate() through a logits processor
    that recognises each row by its input ids, revise() through the engine's logits hook."""

    def __init__(self, gen, inputs: list, script: Script, cost=None):
        from seft.models.chat import render_prompts

        self.gen, self.script, self.tokenizer = gen, script, gen.tokenizer
        self.cost = cost  # a PassCost that records every engine pass (what a pass costs here), or None
        tok = gen.tokenizer
        self.keys: dict[tuple, tuple[int, int]] = {}
        for i, text in enumerate(render_prompts(tok, inputs)):
            self.keys[tuple(tok(text, add_special_tokens=False)["input_ids"])] = (i, 0)
        # pass 2 of the two-pass scheme sees the prompt with the tag line forced after it
        for i, text in enumerate(render_prompts(tok, inputs, ["[MINOR]\n"] * len(inputs))):
            self.keys[tuple(tok(text, add_special_tokens=False)["input_ids"])] = (i, len(script.tag["MINOR"]))

    def generate(self, prompts, params, *, prefixes=None, desc=""):
        from transformers import LogitsProcessor, LogitsProcessorList

        outer = self

        class Forced(LogitsProcessor):
            width = None

            def __call__(self, input_ids, scores):
                if self.width is None:
                    self.width = input_ids.shape[1]
                    pad = outer.gen._pad_id()
                    self.rows = []
                    for row in input_ids[:, :self.width].tolist():
                        first = next(j for j, t in enumerate(row) if t != pad) if any(t != pad for t in row) else 0
                        self.rows.append(outer.keys[tuple(row[first:])])
                for b, (i, offset) in enumerate(self.rows):
                    done = input_ids[b, self.width:].tolist()
                    _force(scores[b], outer.script.next(i, outer.script.rows[i][:offset] + done))
                return scores

        return self.gen.generate(prompts, params, prefixes=prefixes, desc=desc,
                                 logits_processor=LogitsProcessorList([Forced()]))

    def revise(self, prompts, drafts, params, **kw):
        # revise_drafts hands over every record in order: the hook's index is the script's row
        return self.gen.revise(prompts, drafts, params, **kw, pass_cost=self.cost,
                               logits_hook=lambda i, ids, logits: _force(logits, self.script.next(i, ids)))

    def continuation_logprobs(self, *a, **kw):
        return self.gen.continuation_logprobs(*a, **kw)


def _fmt(x) -> str:
    return "(no positive slope: about the same at any width)" if x is None else f"{x:.0f}"


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench_dtype(name: str, device: str) -> str:
    """``--dtype``: auto -> bfloat16 on a GPU, float32 on CPU (what seft's ``auto`` picks there)."""
    return name if name != "auto" else ("float32" if device == "cpu" else "bfloat16")


def matmul_ceiling(size: int = 1536, repeats: int = 5, device: str = "cpu", dtype: str | None = None) -> float:
    """GFLOP/s of one large matmul (the ceiling for prefill and training) in ``dtype`` (default:
    fp32 on CPU, bf16 on a GPU)."""
    import torch

    dtype = getattr(torch, dtype or bench_dtype("auto", device))
    size = size if device == "cpu" else 8192
    a, b = torch.randn(size, size, device=device, dtype=dtype), torch.randn(size, size, device=device, dtype=dtype)

    def product():
        a @ b
        if device != "cpu":
            torch.cuda.synchronize()

    product()
    t, _ = _median_time(product, repeats)
    return 2 * size ** 3 / t / 1e9


# Dense bf16 tensor-core peaks from the vendors' data sheets (TFLOP/s), for MFU on a GPU.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}


def bf16_peak(device: str = "cuda") -> float | None:
    """The data-sheet bf16 peak (TFLOP/s) of the GPU ``device`` runs on, from its name
    (``NVIDIA H200`` -> 989); None on CPU or for a GPU not in the table."""
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    return next((BF16_PEAK_TFLOPS[k] for k in sorted(BF16_PEAK_TFLOPS, key=len, reverse=True) if k in name), None)


def _mfu(gflops: float, device: str) -> str:
    """``, MFU x% of the GPU's bf16 peak`` on a GPU whose peak is known; empty on CPU."""
    peak = bf16_peak(device)
    return f", MFU {gflops / (peak * 1e3):.1%} of the {peak:.0f} TFLOP/s bf16 peak" if peak else ""


def bench_model(name: str, path: str, records: list[dict], args, dtype: str = "float32") -> list[tuple]:
    from seft.config.reviser import ReviseConfig
    from seft.generation.base import SamplingParams
    from seft.generation.hf import HFGenerator
    from seft.generation.proposals import PassCost
    from seft.models.chat import render_prompts
    from seft.models.loading import count_parameters, load_model_and_tokenizer
    from seft.reviser.format import reviser_messages
    from seft.reviser.revise import revise_drafts, tag_token_budget

    model, tok = load_model_and_tokenizer(path)
    if args.device != "cpu" or dtype != "float32":  # as seft's hf backend does with generation.dtype
        import torch

        model.to(args.device, dtype=getattr(torch, dtype))
    gen = HFGenerator(model, tok, batch_size=args.n, show_progress=False)
    rng = random.Random(0)
    drafts = [_draft(tok, rng, args.draft_tokens) for _ in records] if args.draft_tokens else [r["draft"] for r in records]
    recs = [{"id": str(i), "prompt": r["prompt"], "draft": d} for i, (r, d) in enumerate(zip(records, drafts))]
    inputs = [reviser_messages(r["prompt"], r["draft"]) for r in recs]
    budget = tag_token_budget(tok, ReviseConfig().tags)
    longest = max(len(tok(d, add_special_tokens=False)["input_ids"]) for d in drafts) + budget + 2
    order = list(range(len(recs)))
    random.Random(1).shuffle(order)
    params = SamplingParams(temperature=0.0, max_new_tokens=longest)
    rows = []

    def scripted(keep_share: float, cost=None):
        keep = set(order[:round(keep_share * len(recs))])
        return ScriptedGenerator(gen, inputs, Script(tok, drafts, keep, random.Random(2), args.edit_share), cost)

    def row(variant, seconds, extra=""):
        rows.append((name, variant, seconds, extra))

    full = scripted(0.0)
    if args.per_sample:  # minutes on SmolLM2: --no-per-sample leaves it out
        one = ScriptedGenerator(HFGenerator(model, tok, batch_size=1, show_progress=False), inputs[:4], full.script)
        t, _ = _median_time(lambda: one.generate(inputs[:4], params), 1)
        row("per-sample generate, full rewrite (from 4)", t * len(recs) / 4)
    t, _ = _median_time(lambda: full.generate(inputs, params), args.repeats)
    base = t
    row(f"HFGenerator batch {args.n}, full rewrite", t)
    t, _ = _median_time(lambda: gen.continuation_logprobs(inputs, drafts), args.repeats)
    row("teacher-forced pass over prompt + draft", t)
    revise = ReviseConfig(keep_margin=None, generation=ReviseConfig().generation)
    revise.generation.max_new_tokens = longest
    doubling = dataclasses.replace(revise, speculation="doubling")
    cost = PassCost(keep=10**7)  # every engine pass of the KEEP-share variants, for the fit
    for share in args.keep:
        sg = scripted(share, cost)
        two_cfg = ReviseConfig(keep_margin=None, engine="two_pass", generation=revise.generation)
        t2, two = _median_time(lambda: revise_drafts(sg, recs, two_cfg, tag_budget=budget), args.repeats)  # noqa: B023
        t1, eng = _median_time(lambda: revise_drafts(sg, recs, revise, tag_budget=budget), args.repeats)  # noqa: B023
        td, dbl = _median_time(lambda: revise_drafts(sg, recs, doubling, tag_budget=budget), args.repeats)  # noqa: B023
        key = lambda recs_: [(a["level"], a["final"]) for a in recs_]  # noqa: E731
        same = key(two) == key(eng) == key(dbl)
        row(f"two-pass, {share:.0%} KEEP", t2)
        row(f"one-pass engine, {share:.0%} KEEP", t1, f"{t2 / t1:.2f}x two-pass, {td / t1:.2f}x doubling windows; "
            f"outputs {'equal' if same else 'DIFFER'}")
        row(f"one-pass engine, {share:.0%} KEEP, doubling windows", td)
    sg = scripted(0.5)
    for engine in ("two_pass", "auto"):
        cfg = ReviseConfig(keep_margin=2.0, engine=engine, generation=revise.generation)
        t, _ = _median_time(lambda: revise_drafts(sg, recs, cfg, tag_budget=budget), args.repeats)  # noqa: B023
        row(f"{'two-pass' if engine == 'two_pass' else 'one-pass engine'}, 50% KEEP, likelihood decision", t)
    params_n = count_parameters(model)[1]
    prompt_tokens = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in render_prompts(tok, inputs))
    draft_tokens = sum(len(tok(d, add_special_tokens=False)["input_ids"]) + 1 for d in drafts)
    tf = next(r[2] for r in rows if r[1].startswith("teacher-forced"))
    flops = 2 * params_n * (prompt_tokens + draft_tokens)
    return [(n, v, s, s and base / s, e) for n, v, s, e in rows], {
        "params": params_n, "prompt_tokens": prompt_tokens / len(recs), "draft_tokens": draft_tokens / len(recs),
        "prefill_gflops": flops / tf / 1e9, "pass_overhead": cost.overhead()}


def bench_run(run: Path, rounds: list[int], repeats: int) -> list[str]:
    """A finished run's own reviser on its own rounds' drafts, both engines, in this process: the
    wall time of each, and whether the revised records (level, final, decision) are the same."""
    import yaml

    from seft.config.core import from_dict
    from seft.config.stages import RunConfig
    from seft.data.shards import read_jsonl
    from seft.evolution.evolve import phase_revise, schedule
    from seft.generation.factory import build_generator
    from seft.reviser.revise import revise_drafts, tag_token_budget

    cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
    ev = cfg.evolve
    gen = build_generator(str(run / "reviser" / "model"), ev.revise.generation)
    budget = tag_token_budget(gen.tokenizer, ev.revise.tags)
    phases = schedule(ev.phases)
    lines = ["| round | drafts | two-pass (s) | one-pass (s) | speed-up | same records | KEEP share |",
             "|---|---|---|---|---|---|---|"]
    for k in rounds:
        drafts = read_jsonl(run / "rounds" / f"round_{k:02d}" / "drafts.jsonl")
        rc = phase_revise(ev, phases[k - 1])
        # as resolve_paths wires it: the reviser's tags and template are the data stage's
        rc = dataclasses.replace(rc, tags=dict(cfg.reviser_data.tags), template=cfg.reviser_data.template)
        two_cfg, one_cfg = dataclasses.replace(rc, engine="two_pass"), dataclasses.replace(rc, engine="auto")
        t2, two = _median_time(lambda: revise_drafts(gen, drafts, two_cfg, tag_budget=budget), repeats)  # noqa: B023
        t1, one = _median_time(lambda: revise_drafts(gen, drafts, one_cfg, tag_budget=budget), repeats)  # noqa: B023
        key = lambda r: (r["level"], r["final"], r.get("decision"))  # noqa: E731
        same = sum(key(a) == key(b) for a, b in zip(two, one))
        keep = sum(r["level"] == "KEEP" for r in one) / len(one)
        lines.append(f"| {k} ({phases[k - 1].name}) | {len(drafts)} | {t2:.1f} | {t1:.1f} | {t2 / t1:.2f}x | "
                     f"{same} of {len(one)} | {keep:.0%} |")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["smollm2", "testbed"], choices=["smollm2", "testbed"])
    ap.add_argument("--n", type=int, default=64, help="drafts revised")
    ap.add_argument("--draft-tokens", type=int, default=48, help="SmolLM2 drafts' length in tokens")
    ap.add_argument("--edit-share", type=float, default=0.1, help="share of a MINOR draft's tokens the revision replaces")
    ap.add_argument("--keep", type=float, nargs="+", default=[0.0, 0.5, 0.8], help="KEEP shares")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-per-sample", dest="per_sample", action="store_false",
                    help="leave out per-sample generate (the slowest variant)")
    ap.add_argument("--run", help="instead: a finished run directory (e.g. runs/demo); its reviser revises its "
                    "rounds' drafts with both engines")
    ap.add_argument("--rounds", type=int, nargs="+", default=[1, 4], help="with --run: which rounds")
    ap.add_argument("--smollm2", help="folder of the model benchmarked as SmolLM2 (default: models:smollm2-135m-instruct; "
                    "the GPU smoke script passes a SmolLM2-shaped model)")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available); bf16 on a GPU")
    ap.add_argument("--dtype", nargs="+", default=["auto"], choices=["auto", "float32", "bfloat16"],
                    help="weights and activations (auto: bfloat16 on a GPU, float32 on CPU); bfloat16 on a CPU with "
                         "AMX or AVX512-BF16 is the CPU's fast path (seft: generation.dtype=bfloat16). Several: "
                         "the whole table in each, one after the other in this process")
    args = ap.parse_args(argv)
    if args.run:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
        print("\n".join(bench_run(Path(args.run), args.rounds, args.repeats)))
        return 0

    import torch

    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from seft.config.testbed import TestbedConfig
    from seft.data.shards import read_jsonl
    from seft.generation.proposals import default_pass_overhead
    from seft.models.registry import resolve_model_ref
    from seft.testbed.build import run_testbed_build

    dtypes = list(dict.fromkeys(bench_dtype(d, args.device) for d in args.dtype))
    ceilings = {d: matmul_ceiling(device=args.device, dtype=d) for d in dtypes}
    where = "cpu" if args.device == "cpu" else torch.cuda.get_device_name()
    print(f"torch threads {torch.get_num_threads()}, {where} matmul ceiling "
          + ", ".join(f"{d} {c:.0f} GFLOP/s" for d, c in ceilings.items()) + "\n")
    testbed = run_testbed_build(TestbedConfig())
    prompts = [r for r in read_jsonl(testbed / "dev.jsonl")][:args.n]
    table, notes = [], []
    for dtype in dtypes:
        suffix = "" if len(dtypes) == 1 else f", {dtype}"
        for name in args.models:
            if name == "smollm2":
                rng = random.Random(3)
                recs = [{"prompt": "Rewrite this so that it reads well: "
                         + " ".join(rng.choice(string.ascii_lowercase) * 3 for _ in range(8))} for _ in range(args.n)]
                path = args.smollm2 or str(resolve_model_ref("models:smollm2-135m-instruct"))
                rows, info = bench_model("SmolLM2-135M" + suffix, path, recs, args, dtype)
            else:
                recs = [{"prompt": p["prompt"], "draft": p["meta"]["reference"]} for p in prompts]
                saved, args.draft_tokens = args.draft_tokens, 0
                rows, info = bench_model("testbed (0.8M)" + suffix, str(testbed / "base_policy"), recs, args, dtype)
                args.draft_tokens = saved
            table += rows
            ceiling = ceilings[dtype]
            notes.append(f"{rows[0][0]}: {info['params'] / 1e6:.1f}M parameters, reviser prompts "
                         f"{info['prompt_tokens']:.0f} tokens, drafts {info['draft_tokens']:.0f} tokens (+ end of turn); "
                         f"the teacher-forced pass runs at {info['prefill_gflops']:.0f} GFLOP/s = "
                         f"{info['prefill_gflops'] / ceiling:.0%} of the {dtype} ceiling"
                         + _mfu(info["prefill_gflops"], args.device)
                         + f"; a verifying pass costs a fixed {_fmt(info['pass_overhead'])} positions' worth plus one "
                         f"per position (least squares over the engine's timed passes; the engine's default on this "
                         f"device: {default_pass_overhead(args.device):g})")
    print(f"| model | variant | wall (s), median of {args.repeats} | vs batched full rewrite | note |")
    print("|---|---|---|---|---|")
    for name, variant, seconds, ratio, extra in table:
        print(f"| {name} | {variant} | {seconds:.2f} | {ratio:.2f}x | {extra} |")
    print()
    for n in notes:
        print(n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
