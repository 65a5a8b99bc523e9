"""Is the draft worth showing the reviser? Revision against distillation, seed by seed, on dev.

    python benchmarks/draft_value.py RUN_DIR [--seeds 3] [--n 512] [--out DIR] [--blank-rewrite]
                                     [--answer-first EPOCHS] [--mix W] [--margins M ...]
                                     [--one-per-prompt [--one-per-prompt-epochs E]] [--by-task]

RUN_DIR is a run on the testbed (e.g. runs/demo). For each seed k (the run's seeds shifted by k,
as `seeds: N` and `make replicate` shift them) two revisers are trained from the run's base on the
run's preference data: the **reviser** (the draft in its input, the run's own data) and the
**teacher** (`reviser_data.show_draft: false`: the same examples with the draft removed, the
"SEFT without drafts" ablation's reviser). Both then revise the same drafts of the dev prompts
(which no table reports) with the run's revise settings: the base policy's samples (internal) and
the strong writer's answers (external), each with its phase's likelihood margin. The draft is
judged against ground truth before and after:

- **written**: the mean score of what the model wrote, before the likelihood decision (a KEEP tag
  keeps the draft): revision with the draft in view against an answer without it;
- **final**: after the decision (what a round would train on), with preservation of perfect drafts,
  harm and improvement rates.

``--blank-rewrite`` adds a third model, the same reviser with one change at revision: a draft
it tags MAJOR is rewritten from an empty draft (its training data holds one per prompt), while
its tag and the likelihood decision still read the draft. If the reviser's answers were worse
than the teacher's because a wrong draft pulls them towards the error, this closes the gap; if
they are worse because it is a weaker answerer, it does not. It is printed as a second table,
against the teacher.

``--answer-first EPOCHS`` adds another: a reviser trained in two stages at the same cost, first
EPOCHS epochs on the teacher's data (the draft removed), then the rest of the run's epochs on its
own, so that it learns to answer before it learns to read a draft. If the reviser writes worse than
the teacher because answering and revising share its training, this closes the gap.

``--mix W`` adds the same reviser decoding with both views at once: a draft it tags MINOR or MAJOR
is rewritten greedily from ``W * log p(token | the draft) + (1 - W) * log p(token | an empty draft)``,
its two readings of the same prompt mixed token by token (W = 1 is the plain reviser's answer, 0
the blank rewrite's, for MINOR drafts too). If the draft helps some answers and misleads others, a
mixture should keep some of both; the tag and the decision still read the draft alone.

``--margins M ...`` adds what the likelihood decision trades, for the reviser and the teacher: their
targets (final) and preservation at each margin, and at the margin each would get from `seft run`'s
calibration rule (the smallest that keeps a share of the perfect drafts) for bars of 85, 90 and 95%.
The decision is one threshold over one revision pass, so the sweep costs no more revising. If the
reviser's targets are behind the teacher's at the config's margins only because it is held to a
preservation the teacher does not reach, they catch up at an equal bar.

``--one-per-prompt`` adds a teacher trained on one example per prompt (a fifth of the demo's data
and cost): the teacher's examples differ only in their tag line, so it practises each answer five
times, where the reviser answers from the prompt alone in at most two of its five (an empty draft,
and a major one when it is unrelated; the others are kept, fixed or reformatted). If this
teacher falls to the reviser's level or below, practice can explain the teacher's edge (though a
fifth of the steps is also a shorter schedule); if it still writes better, reading drafts is what
costs the reviser. ``--one-per-prompt-epochs E`` trains it E epochs instead of the run's: at five
times the run's it takes as many steps as the full teacher, on a fifth of the examples.

``--by-task`` adds, per testbed task (add, sort, ...), each model's written and final scores on
the policy's own drafts: where the teacher's edge lies, task by task. It costs no training.

Each row is the mean over the seeds with a 95% t-interval, and the paired difference (reviser minus
teacher, seed by seed). It costs two reviser trainings per seed (~4 min per seed for the demo's
reviser on 2 cores) and no policy training: a cheap answer to "is revision better than
distillation?" at the reviser, where `--with-baselines`' `no_drafts` answers it for the whole run.
Seed 0's reviser is the run's own (RUN/reviser/model) when the run's settings produced it; other
models go to OUT (default RUN/draft_value/), and a rerun reuses the ones already trained.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import statistics
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from keep_margin import dev_drafts  # noqa: E402  (benchmarks/ is the script's folder)

METRICS = ("written", "final", "preservation", "harm_rate", "improvement_rate", "unchanged")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1 (at least 2 for an interval)")
    ap.add_argument("--n", type=int, default=512, help="dev prompts used (at most the dev set's size)")
    ap.add_argument("--out", help="where the trained models and draft_value.json go (default RUN/draft_value)")
    ap.add_argument("--blank-rewrite", action="store_true",
                    help="also measure the reviser rewriting its MAJOR drafts from an empty draft")
    ap.add_argument("--answer-first", type=float, metavar="EPOCHS",
                    help="also measure a reviser trained EPOCHS epochs on the teacher's data, then the rest on its own")
    ap.add_argument("--mix", type=float, metavar="W",
                    help="also measure the reviser's two views mixed, weight W (0-1) on the draft's")
    ap.add_argument("--margins", type=float, nargs="+", metavar="M",
                    help="also sweep the likelihood margin over these values (nats) for the reviser and the teacher")
    ap.add_argument("--one-per-prompt", action="store_true",
                    help="also measure a teacher trained on the first of each prompt's examples only")
    ap.add_argument("--one-per-prompt-epochs", type=float, metavar="E",
                    help="that teacher's epochs (default: the run's)")
    ap.add_argument("--by-task", action="store_true",
                    help="also print each model's scores on the policy's drafts task by task")
    args = ap.parse_args(argv)
    if args.one_per_prompt_epochs is not None and not (args.one_per_prompt and args.one_per_prompt_epochs > 0):
        raise SystemExit("--one-per-prompt-epochs: epochs > 0, and only with --one-per-prompt")
    if args.margins and min(args.margins) < 0:
        raise SystemExit(f"--margins: margins are nats >= 0, got {min(args.margins):g}")
    if args.mix is not None and not 0 <= args.mix <= 1:
        raise SystemExit(f"--mix: a weight between 0 and 1, got {args.mix:g}")

    from seft.config.core import from_dict
    from seft.config.stages import RunConfig
    from seft.judges import get_judge
    from seft.runs.single import resolve_paths
    from seft.testbed.build import resolve_out

    run = Path(args.run_dir)
    cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
    if cfg.testbed.world != "testbed":
        raise SystemExit("draft_value.py needs a testbed run (its dev prompts carry references)")
    cfg = resolve_paths(cfg, resolve_out(cfg.testbed))
    epochs = cfg.reviser_train.train.epochs
    if args.answer_first is not None and not 0 < args.answer_first < epochs:  # before anything trains
        raise SystemExit(f"--answer-first: between 0 and the run's {epochs:g} epochs, got {args.answer_first:g}")
    out = Path(args.out) if args.out else run / "draft_value"
    dev, internal, external = dev_drafts(cfg, args.n)
    judge = get_judge(cfg.evolve.judge)
    models = (("reviser", "teacher") + (("blank",) if args.blank_rewrite else ())
              + (("answer_first",) if args.answer_first is not None else ()) + (("mix",) if args.mix is not None else ())
              + (("teacher_1pp",) if args.one_per_prompt else ()))
    results = {kind: {m: [] for m in models} for kind in ("internal", "external")}
    for k in range(args.seeds):
        for model in models:
            path, rcfg = _trained(cfg, k, "reviser" if model in ("blank", "mix") else model, run, out,
                                  answer_first=args.answer_first, one_epochs=args.one_per_prompt_epochs)
            blank = {"blank": ("MAJOR",), "mix": ("MINOR", "MAJOR")}.get(model, ())
            mix = args.mix if model == "mix" else None
            for kind, drafts in (("internal", internal), ("external", external)):
                results[kind][model].append(_measure(path, rcfg, _phase(cfg, kind), dev, drafts, judge,
                                                     blank=blank, mix=mix, sweep=args.margins or (),
                                                     by_task=args.by_task))
            print(f"seed {k} {model}: " + ", ".join(f"{kind} written {results[kind][model][-1]['written']:.3f} "
                                                   f"final {results[kind][model][-1]['final']:.3f}"
                                                   for kind in results), flush=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / "draft_value.json").write_text(json.dumps({"run": str(run), "dev_prompts": len(dev), "seeds": args.seeds,
                                                      "results": results}, indent=2))
    print(f"\nrun: {run}; dev prompts: {len(dev)}; seeds: {args.seeds}; margins: internal "
          f"{_phase(cfg, 'internal').keep_margin}, external {_phase(cfg, 'external').keep_margin}\n")
    print(render_table(results))
    if args.blank_rewrite:
        print("\nThe reviser rewriting its MAJOR drafts from an empty draft, against the teacher:\n")
        print(render_table(results, first="blank", label="reviser, MAJOR from an empty draft"))
    if args.answer_first is not None:
        print(f"\nThe reviser trained {args.answer_first:g} epochs on the teacher's data first, against the teacher:\n")
        print(render_table(results, first="answer_first", label="reviser, answering first"))
    if args.one_per_prompt:
        print("\nThe teacher trained on one example per prompt, against the teacher:\n")
        print(render_table(results, first="teacher_1pp", label="teacher, one example per prompt", who="1pp"))
    if args.mix is not None:
        print(f"\nThe reviser's two views mixed ({args.mix:g} on the draft's), against the teacher:\n")
        print(render_table(results, first="mix", label="reviser, views mixed"))
    if args.margins:
        print("\nWhat the likelihood decision trades: targets and preservation at each margin, and at the margin "
              "the calibration rule picks for each bar (seed by seed), reviser against teacher:\n")
        print(render_frontier(results))
    if args.by_task:
        print("\nTask by task, on the policy's own drafts (the likelihood decision at the internal margin):\n")
        print(render_tasks(results["internal"], [m for m in models if m != "teacher"]))
    return 0


def _phase(cfg, kind: str):
    """The run's revise settings for its first phase of this source (its likelihood margin)."""
    from seft.evolution.evolve import phase_revise

    phase = next((p for p in cfg.evolve.phases if p.source == kind), None)
    return phase_revise(cfg.evolve, phase) if phase else cfg.evolve.revise


def _trained(cfg, k: int, model: str, run: Path, out: Path, *, answer_first: float | None = None,
             one_epochs: float | None = None):
    """(model folder, revise settings) of seed ``k``'s reviser, teacher or two-stage reviser
    (``answer_first``: epochs on the teacher's data before the reviser's own), or the teacher on one
    example per prompt (``one_epochs``: its epochs, None: the run's), training it if needed."""
    from seft.runs.seeds import seeded
    from seft.training.sft import train_sft

    ck = seeded(cfg, k)
    show = model not in ("teacher", "teacher_1pp")
    revise = dataclasses.replace(ck.evolve.revise, show_draft=show)
    # Seed 0's models are the run's own when it trained them: its reviser (RUN/reviser/model) and,
    # after --with-baselines, its no_drafts ablation's (RUN/baselines/no_drafts/reviser/model).
    own = run / "reviser" / "model" if show else run / "baselines" / "no_drafts" / "reviser" / "model"
    if k == 0 and model in ("reviser", "teacher") and cfg.reviser_data.show_draft and (own / "train_metrics.json").is_file():
        return own, revise
    train = ck.reviser_train.train
    if model == "answer_first":
        path = out / f"seed_{k}" / f"answer_first_{answer_first:g}"
        first = path.with_name(path.name + "_stage1")
        if not (first / "train_metrics.json").is_file():  # a run killed in stage 2 keeps stage 1
            train_sft(ck.reviser_train.base_model, _examples(ck, False), first,
                      dataclasses.replace(train, epochs=answer_first))
        if not (path / "train_metrics.json").is_file():
            train_sft(first, _examples(ck, True), path, dataclasses.replace(train, epochs=train.epochs - answer_first))
        return path, revise
    # the one-per-prompt teacher at other epochs than the run's is another model: its own folder
    name = f"{model}_e{one_epochs:g}" if model == "teacher_1pp" and one_epochs is not None else model
    path = out / f"seed_{k}" / name
    if not (path / "train_metrics.json").is_file():
        examples = _examples(ck, show)
        if model == "teacher_1pp":
            examples = first_per_prompt(examples)
            train = train if one_epochs is None else dataclasses.replace(train, epochs=one_epochs)
        train_sft(ck.reviser_train.base_model, examples, path, train)
    return path, revise


def first_per_prompt(examples: list[dict]) -> list[dict]:
    """The first example of each distinct prompt (its messages), in their order."""
    seen, out = set(), []
    for e in examples:
        key = json.dumps(e["prompt"], sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out


def _examples(ck, show_draft: bool) -> list[dict]:
    """The run's reviser examples (prompt, completion), with or without the draft in the input."""
    from seft.data.readers import load_records
    from seft.reviser.data import build_reviser_examples, preference_kind

    rd = dataclasses.replace(ck.reviser_data, show_draft=show_draft)
    kind = preference_kind(rd.preferences, rd.format)
    records = load_records(rd.preferences, kind, format=rd.format, on_bad_record=rd.on_bad_record).records
    return [{"prompt": e["prompt"], "completion": e["completion"]} for e in build_reviser_examples(records, rd)[0]]


def _measure(path: Path, revise_cfg, phase_cfg, dev: list[dict], drafts: list[str], judge, *,
             blank: tuple[str, ...] = (), mix: float | None = None, sweep: tuple[float, ...] = (),
             by_task: bool = False) -> dict:
    """Revise ``drafts`` with the model at ``path`` under the phase's margin; the audit before and after
    the likelihood decision. ``blank``: the levels whose drafts are rewritten from an empty draft (``mix``:
    from both views mixed, see :func:`revise_blank`). ``sweep``: more margins, whose audit rows go under
    ``"sweep"``. ``by_task``: ``"tasks"``, each testbed task's draft, written and final means."""
    import functools

    from seft.generation.factory import build_generator
    from seft.reviser.calibrate import calibrate_margin
    from seft.reviser.revise import revise_drafts

    gen = build_generator(path, revise_cfg.generation)
    recs = [{"id": r["id"], "prompt": r["prompt"], "draft": t, "meta": r["meta"]} for r, t in zip(dev, drafts)]
    margin = phase_cfg.keep_margin
    # one revision pass, each margin a threshold over it (as `seft run`'s calibration does): the first
    # row is what the model wrote (the tag alone decides), the phase margin's what a round would train on
    grid = sorted(set(sweep) | ({margin} if margin is not None else set()))
    task = lambda r: r["meta"]["task"]  # noqa: E731  (the testbed's records name their task)
    got = calibrate_margin(gen, recs, recs, revise_cfg, judge, margins=grid,
                           preservation=1.0, revise=functools.partial(revise_blank, levels=blank, mix=mix) if blank
                           else revise_drafts, group=task if by_task else None)
    rows = got["rows"]
    o = next(r for r in rows if r["margin"] == margin)  # the phase's margin (None: the tag alone)
    return {"written": rows[0]["mean_final"], "final": o["mean_final"], "draft": o["mean_draft"],
            "preservation": o["preservation"], "harm_rate": o["harm_rate"], "improvement_rate": o["improvement_rate"],
            "unchanged": o["kept"] / len(recs),  # the share of drafts a round would train on as they were
            **({"sweep": [r for r in rows if r["margin"] is not None]} if sweep else {}),
            **({"tasks": task_table(got["groups"], margin, collections.Counter(map(task, recs)))} if by_task else {})}


def task_table(groups: dict[str, list[dict]], margin: float | None, sizes: dict[str, int]) -> dict:
    """Per task (``groups``: its margin rows): its size, mean draft, what the model wrote (the tag alone
    decides: the first row) and the final at ``margin``."""
    out = {}
    for t, rows in groups.items():
        o = next(r for r in rows if r["margin"] == margin)
        out[t] = {"n": sizes[t], "draft": o["mean_draft"], "written": rows[0]["mean_final"], "final": o["mean_final"]}
    return out


def render_tasks(results: dict, others: list[str]) -> str:
    """One markdown row per task: prompts, mean draft, the teacher's written and final, and for each
    of ``others`` (the reviser first) its written and final with the paired difference of the final
    against the teacher's and the seeds where it is ahead."""
    tea = results["teacher"]
    head = ["task", "prompts", "mean draft", "teacher written", "teacher final"]
    for m in others:
        head += [f"{m} written", f"{m} final", f"{m} - teacher (final)", f"{m} ahead in"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for task in sorted(tea[0]["tasks"]):
        t = [s["tasks"][task] for s in tea]
        row = [task, str(t[0]["n"]), f"{statistics.fmean(x['draft'] for x in t):.3f}",
               mean_ci([x["written"] for x in t]), mean_ci([x["final"] for x in t])]
        for m in others:
            a = [s["tasks"][task] for s in results[m]]
            diffs = [x["final"] - y["final"] for x, y in zip(a, t)]
            row += [mean_ci([x["written"] for x in a]), mean_ci([x["final"] for x in a]),
                    mean_ci(diffs, signed=True), f"{sum(d > 0 for d in diffs)} of {len(diffs)} seeds"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def revise_blank(gen, recs: list[dict], cfg, levels: tuple[str, ...], *, tag_budget: int,
                 mix: float | None = None) -> list[dict]:
    """``revise_drafts`` with one change: a draft tagged with one of ``levels`` is rewritten from an
    empty draft (the tag forced, as the two-pass scheme forces it), or with ``mix`` from both views
    mixed (:func:`mixed_generate`); the likelihood decision then scores that rewrite against the
    draft with the draft in view, as it would the reviser's own."""
    from seft.generation.base import sampling_params
    from seft.reviser.format import parse_output, reviser_messages, tag_prefixes
    from seft.reviser.revise import _likelihood_decision, revise_drafts

    out = revise_drafts(gen, recs, dataclasses.replace(cfg, keep_margin=None), tag_budget=tag_budget)
    prefixes = tag_prefixes(cfg.tags)
    todo = [i for i, r in enumerate(out) if r["level"] in levels]
    if todo:
        blank = [reviser_messages(recs[i]["prompt"], "", cfg.template) for i in todo]
        heads = [prefixes[out[i]["level"]] for i in todo]
        if mix is None:
            bodies = gen.generate(blank, sampling_params(cfg.generation), prefixes=heads,
                                  desc="revise: from an empty draft")
        else:
            seen = [reviser_messages(recs[i]["prompt"], recs[i]["draft"], cfg.template) for i in todo]
            bodies = mixed_generate(gen, seen, blank, heads, sampling_params(cfg.generation), mix)
        for i, body in zip(todo, bodies):
            p = parse_output(prefixes[out[i]["level"]] + body, cfg.tags, draft=recs[i]["draft"],
                             max_ratio=cfg.max_revision_ratio)
            out[i].update(final=p.final, changed=p.changed, fallback=p.fallback)
    if cfg.keep_margin is not None:
        inputs = [reviser_messages(r["prompt"], r["draft"], cfg.template) for r in recs]
        _likelihood_decision(gen, inputs, out, [prefixes[r["level"]] if r["level"] else "" for r in out],
                             cfg.keep_margin)
    return out


def mix_views(scores, weight: float):
    """Next-token scores of ``2h`` rows, row ``i`` and row ``h + i`` two views of one answer: both get
    ``weight * log_softmax(row i) + (1 - weight) * log_softmax(row h + i)``, so greedy decoding
    picks the same token for both and the pair stays one answer."""
    import torch

    half = scores.shape[0] // 2
    logp = torch.log_softmax(scores.to(torch.promote_types(scores.dtype, torch.float32)), dim=-1)
    both = weight * logp[:half] + (1 - weight) * logp[half:]
    return torch.cat([both, both], dim=0)


def mixed_generate(gen, seen: list, blank: list, prefixes: list[str], params, weight: float) -> list[str]:
    """Greedy answers of the ``HFGenerator`` ``gen``'s model decoding each prompt of ``seen`` and
    its counterpart in ``blank`` as one (:func:`mix_views`), each after its forced prefix. A pair's
    two rows share a batch of ``generate`` (left padding), so ``gen``'s own length-sorted batches
    are not used."""
    import torch
    from transformers import LogitsProcessorList

    from seft.generation.hf import _cut_at_stop
    from seft.models.chat import render_prompts, stop_token_ids

    if params.temperature != 0:
        raise ValueError("mixed views decode greedily (revise.generation.temperature: 0)")
    model, tok = gen.model, gen.tokenizer
    pad, stops = gen._pad_id(), sorted(stop_token_ids(tok, model))
    views = [[tok(t, add_special_tokens=False)["input_ids"] for t in render_prompts(tok, ps, prefixes)]
             for ps in (seen, blank)]
    step, out = max(1, gen.batch_size // 2), []
    for s in range(0, len(seen), step):
        rows = views[0][s:s + step] + views[1][s:s + step]
        width = max(map(len, rows))
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for r, x in enumerate(rows):
            ids[r, width - len(x):], mask[r, width - len(x):] = torch.tensor(x), 1
        with torch.no_grad():
            done = model.generate(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                                  do_sample=False, max_new_tokens=params.max_new_tokens, pad_token_id=pad,
                                  eos_token_id=stops,
                                  logits_processor=LogitsProcessorList([lambda _, x: mix_views(x, weight)]))
        out += [_cut_at_stop(tok.decode(done[r, width:], skip_special_tokens=True), params.stop)
                for r in range(len(rows) // 2)]
    return out


def mean_ci(values: list[float | None], signed: bool = False) -> str:
    """``mean [lo, hi]`` (95% t-interval across seeds), the mean alone for one seed, a dash for none;
    ``signed`` writes the mean with its sign (a difference). None (no perfect draft to preserve in a
    small dev set) is left out."""
    from seft.evaluation.stats import t_interval

    values = [v for v in values if v is not None]
    if not values:
        return "-"
    m = statistics.fmean(values)
    head = f"{m:+.3f}" if signed else f"{m:.3f}"
    if len(values) < 2:
        return head
    lo, hi = t_interval(values)
    return f"{head} [{lo:.3f}, {hi:.3f}]"


def render_table(results: dict, first: str = "reviser", label: str = "reviser (draft shown)",
                 who: str = "reviser") -> str:
    """One markdown row per (drafts, metric): ``first`` (the reviser; ``who`` in the difference's
    headers), the teacher, and their paired difference."""
    lines = [f"| drafts | metric | {label} | teacher (no draft) | {who} - teacher | {who} ahead in |",
             "|---|---|---|---|---|---|"]
    for kind, models in results.items():
        rev, tea = models[first], models["teacher"]
        lines.append(f"| {kind} | mean draft | {statistics.fmean(r['draft'] for r in rev):.3f} | | | |")
        for metric in METRICS:
            a, b = [r[metric] for r in rev], [t[metric] for t in tea]
            diffs = [x - y for x, y in zip(a, b) if x is not None and y is not None]
            # "ahead" means better: a lower harm rate, a higher anything else
            ahead = sum((d < 0) if metric == "harm_rate" else (d > 0) for d in diffs)
            # more drafts left as they were is neither better nor worse: the column says "higher"
            count = f"higher in {ahead}" if metric == "unchanged" else str(ahead)
            lines.append(f"| {kind} | {metric} | {mean_ci(a)} | {mean_ci(b)} | {mean_ci(diffs, signed=True)} "
                         f"| {count} of {len(diffs)} seeds |")
    return "\n".join(lines)


BARS = (0.85, 0.90, 0.95)


def at_bar(sweep: list[dict], bar: float) -> dict | None:
    """The sweep's row at the margin `seft run`'s calibration would pick for a preservation ``bar``
    (:func:`seft.reviser.calibrate.choose_margin`); None when the drafts hold no perfect one."""
    from seft.reviser.calibrate import choose_margin

    m = choose_margin(sweep, bar)
    return None if m is None else next(r for r in sweep if r["margin"] == m)


def render_frontier(results: dict, bars: tuple[float, ...] = BARS) -> str:
    """Per drafts kind: the reviser's and the teacher's targets (mean final) and preservation at each
    swept margin, then at each model's own calibrated margin for each bar, with the paired
    difference of the targets and the seeds where the reviser's are better."""
    lines = ["| drafts | margin | reviser final | reviser kept | teacher final | teacher kept | "
             "reviser - teacher (final) | reviser ahead in |", "|---|---|---|---|---|---|---|---|"]
    for kind, models in results.items():
        rev, tea = models["reviser"], models["teacher"]
        margins = [r["margin"] for r in rev[0]["sweep"]]  # every seed swept the same grid
        pairs = [(f"{m:g}", [s["sweep"][i] for s in rev], [s["sweep"][i] for s in tea]) for i, m in enumerate(margins)]
        pairs += [(f"calibrated, {bar:.0%} bar", [at_bar(s["sweep"], bar) for s in rev],
                   [at_bar(s["sweep"], bar) for s in tea]) for bar in bars]
        for label, a, b in pairs:
            ok = [(x, y) for x, y in zip(a, b) if x is not None and y is not None]
            diffs = [x["mean_final"] - y["mean_final"] for x, y in ok]
            if label.startswith("calibrated"):  # each model's margin per seed, reviser/teacher
                label += " (margins " + ", ".join(f"{x['margin']:g}/{y['margin']:g}" for x, y in ok) + ")"
            lines.append(f"| {kind} | {label} | {mean_ci([x['mean_final'] for x, _ in ok])} "
                         f"| {mean_ci([x['preservation'] for x, _ in ok])} | {mean_ci([y['mean_final'] for _, y in ok])} "
                         f"| {mean_ci([y['preservation'] for _, y in ok])} | {mean_ci(diffs, signed=True)} "
                         f"| {sum(d > 0 for d in diffs)} of {len(diffs)} seeds |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
