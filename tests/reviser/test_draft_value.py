"""benchmarks/draft_value.py: reviser against teacher, seed by seed; its table by hand, its run end to end;
the blank rewrite (MAJOR drafts rewritten from an empty draft) by hand; the two views mixed, by hand and
on a tiny model against plain greedy decoding."""
from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import yaml

from seft.config.core import from_dict
from seft.config.reviser import ReviseConfig
from seft.config.stages import RunConfig
from test_pipeline import run_config  # noqa: F401  (the tiny end-to-end run config fixture)

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("draft_value", ROOT / "benchmarks" / "draft_value.py")
draft_value = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(draft_value)


def _m(written, final, preservation, harm, improvement, draft=0.25, unchanged=0.4):
    return {"written": written, "final": final, "draft": draft, "preservation": preservation,
            "harm_rate": harm, "improvement_rate": improvement, "unchanged": unchanged}


def test_table_by_hand():
    results = {"internal": {"reviser": [_m(0.50, 0.45, 1.0, 0.02, 0.40), _m(0.40, 0.41, 0.9, 0.04, 0.30)],
                            "teacher": [_m(0.48, 0.47, 0.9, 0.06, 0.50), _m(0.46, 0.43, 0.9, 0.02, 0.40)]}}
    rows = {r.split("|")[2].strip(): [c.strip() for c in r.split("|")[3:-1]]
            for r in draft_value.render_table(results).splitlines()[2:]}
    assert rows["mean draft"][0] == "0.250"
    # written: reviser 0.45, teacher 0.47; differences +0.02 and -0.06: mean -0.02, sd 0.0566,
    # t(0.975, 1) = 12.706: half-width 12.706 * 0.0566 / sqrt(2) = 0.508
    assert rows["written"][0].startswith("0.450 [") and rows["written"][1].startswith("0.470 [")
    assert rows["written"][2] == "-0.020 [-0.528, 0.488]"
    assert rows["written"][3] == "1 of 2 seeds"
    # harm: the reviser is ahead where its harm is lower (0.02 < 0.06), not where it is higher (0.04 > 0.02)
    assert rows["harm_rate"][3] == "1 of 2 seeds"
    assert rows["preservation"][2].startswith("+0.050") and rows["preservation"][3] == "1 of 2 seeds"
    assert rows["unchanged"][2] == "+0.000 [0.000, 0.000]" and rows["unchanged"][3] == "higher in 0 of 2 seeds"
    assert draft_value.mean_ci([0.3]) == "0.300" and draft_value.mean_ci([0.1], signed=True) == "+0.100"
    # a seed with no perfect draft to preserve (None) is left out, not counted as 0
    assert draft_value.mean_ci([None, 0.5]) == "0.500" and draft_value.mean_ci([None]) == "-"


def test_draft_value_on_a_tiny_run(run_config, tmp_path, monkeypatch, capsys):  # noqa: F811
    from seft.cli import main

    run = tmp_path / "run"
    assert main(["run", str(run_config), "--out", str(run)]) == 0
    out = tmp_path / "dv"
    assert draft_value.main([str(run), "--seeds", "2", "--n", "12", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    for kind in ("internal", "external"):
        for metric in ("written", "final", "preservation", "harm_rate", "improvement_rate", "unchanged"):
            assert f"| {kind} | {metric} |" in table
    saved = json.loads((out / "draft_value.json").read_text())
    assert saved["seeds"] == 2 and saved["dev_prompts"] == 12
    for kind in ("internal", "external"):
        assert {m: len(v) for m, v in saved["results"][kind].items()} == {"reviser": 2, "teacher": 2}
        # the same drafts for both models, and the decision only ever moves a final back to the draft
        assert len({r["draft"] for rows in saved["results"][kind].values() for r in rows}) == 1
    # seed 0's reviser is the run's own; the teacher and seed 1 were trained here
    assert not (out / "seed_0" / "reviser").exists()
    for sub in ("seed_0/teacher", "seed_1/reviser", "seed_1/teacher"):
        assert (out / sub / "train_metrics.json").is_file()
    teacher_data = json.loads((out / "seed_0" / "teacher" / "train_metrics.json").read_text())
    assert teacher_data["train_examples"] > 0

    # A rerun trains nothing: every model is reused.
    def no_training(*a, **k):
        raise AssertionError("retrained a model that exists")

    monkeypatch.setattr("seft.training.sft.train_sft", no_training)
    capsys.readouterr()
    with pytest.raises(SystemExit, match="between 0 and 1"):
        draft_value.main([str(run), "--out", str(out), "--mix", "1.5"])
    cfg = from_dict(RunConfig, yaml.safe_load((run / "config.yaml").read_text()))
    with pytest.raises(SystemExit, match="nats >= 0"):
        draft_value.main([str(run), "--out", str(out), "--margins", "1", "-2"])
    assert draft_value.main([str(run), "--seeds", "2", "--n", "12", "--out", str(out), "--blank-rewrite",
                             "--mix", "0.5", "--margins", "0", "4", "1", "--by-task"]) == 0
    again = json.loads((out / "draft_value.json").read_text())["results"]
    for kind in ("internal", "external"):  # the same models and drafts: the same numbers, and the two variants
        margin = draft_value._phase(cfg, kind).keep_margin  # the tiny run's phase margin
        for m in ("reviser", "teacher"):
            for r in again[kind][m]:  # the tasks split the dev prompts: their weighted means are the whole's
                # (up to the audit's rounding of each mean to 4 decimals)
                tasks = r.pop("tasks")
                assert sum(t["n"] for t in tasks.values()) == 12
                for key, whole in (("draft", r["draft"]), ("written", r["written"]), ("final", r["final"])):
                    assert sum(t["n"] * t[key] for t in tasks.values()) / 12 == pytest.approx(whole, abs=1e-3)
            sweeps = [r.pop("sweep") for r in again[kind][m]]
            # the grid, sorted, with the phase's own margin in it; its row is the one the table reports
            assert [[row["margin"] for row in sw] for sw in sweeps] == [sorted({0.0, 1.0, 4.0, margin})] * 2
            for sw, r in zip(sweeps, again[kind][m]):
                assert next(row for row in sw if row["margin"] == margin)["mean_final"] == r["final"]
                assert all(a["kept"] <= b["kept"] for a, b in zip(sw, sw[1:]))  # a wider margin lets more stand
        assert {m: again[kind][m] for m in ("reviser", "teacher")} == saved["results"][kind]
        assert len(again[kind]["blank"]) == len(again[kind]["mix"]) == 2
        assert [r["draft"] for r in again[kind]["mix"]] == [r["draft"] for r in again[kind]["reviser"]]
    printed = capsys.readouterr().out
    assert "| drafts | metric | reviser, MAJOR from an empty draft |" in printed
    assert "| drafts | metric | reviser, views mixed |" in printed
    assert "| drafts | margin | reviser final |" in printed and "| internal | calibrated, 95% bar (margins " in printed
    assert "| task | prompts | mean draft | teacher written | teacher final | reviser written |" in printed

    # --answer-first: one more reviser, trained on the teacher's data first, then on its own, at the
    # run's cost (3 epochs here: 1 + 2)
    monkeypatch.undo()
    import seft.training.sft as sft

    calls, real = [], sft.train_sft

    def spy(model_path, examples, out_dir, cfg, **kw):
        calls.append((Path(model_path), Path(out_dir), examples, cfg.epochs))
        return real(model_path, examples, out_dir, cfg, **kw)

    monkeypatch.setattr(sft, "train_sft", spy)
    with pytest.raises(SystemExit, match="between 0 and the run's 3 epochs"):
        draft_value.main([str(run), "--seeds", "1", "--n", "12", "--out", str(out), "--answer-first", "3"])
    assert calls == []  # refused before anything trains
    assert draft_value.main([str(run), "--seeds", "1", "--n", "12", "--out", str(out), "--answer-first", "1"]) == 0
    assert "| drafts | metric | reviser, answering first |" in capsys.readouterr().out
    first = json.loads((out / "seed_0" / "answer_first_1_stage1" / "train_metrics.json").read_text())
    second = json.loads((out / "seed_0" / "answer_first_1" / "train_metrics.json").read_text())
    assert (first["epochs"], second["epochs"]) == (1.0, 2.0)
    assert first["train_examples"] == teacher_data["train_examples"] == second["train_examples"]
    (base, stage1, answers, e1), (start, stage2, revisions, e2) = calls
    assert (stage1.name, stage2.name, start, e1, e2) == ("answer_first_1_stage1", "answer_first_1", stage1, 1.0, 2.0)
    assert base.name == "base_policy"  # stage 1 starts from the run's base, as the teacher does
    # the same responses after the tag line (without a draft, KEEP examples are tagged as rewrites);
    # stage 1's inputs lack the drafts that stage 2's show
    body = lambda exs: [e["completion"].split("\n", 1)[-1] for e in exs]  # noqa: E731
    assert body(answers) == body(revisions)
    text = lambda exs: sum(len(json.dumps(e["prompt"])) for e in exs)  # noqa: E731
    assert text(answers) < text(revisions)

    # --one-per-prompt: a teacher trained on the first example of each prompt only
    calls.clear()
    assert draft_value.main([str(run), "--seeds", "1", "--n", "12", "--out", str(out), "--one-per-prompt"]) == 0
    assert ("| drafts | metric | teacher, one example per prompt | teacher (no draft) | 1pp - teacher | 1pp ahead in |"
            in capsys.readouterr().out)
    ((_, where, few, _),) = calls  # only the new teacher trained; the others were reused
    assert where.name == "teacher_1pp" and len(few) == len({json.dumps(e["prompt"]) for e in answers}) < len(answers)
    assert all(e in answers for e in few)
    for bad in (["--one-per-prompt-epochs", "5"], ["--one-per-prompt", "--one-per-prompt-epochs", "0"]):
        with pytest.raises(SystemExit, match="only with --one-per-prompt"):
            draft_value.main([str(run), "--out", str(out), *bad])
    calls.clear()  # with its own epochs: another folder, trained that long
    assert draft_value.main([str(run), "--seeds", "1", "--n", "12", "--out", str(out), "--one-per-prompt",
                             "--one-per-prompt-epochs", "5"]) == 0
    ((_, where, again, epochs),) = calls
    assert (where.name, epochs, again) == ("teacher_1pp_e5", 5.0, few)


def test_tasks_by_hand():
    """Two seeds, one task: the teacher's means, then the reviser's with the paired difference of the finals."""
    def t(written, final):
        return {"tasks": {"sort": {"n": 10, "draft": 0.2, "written": written, "final": final}}}
    results = {"teacher": [t(0.6, 0.5), t(0.8, 0.7)], "reviser": [t(0.5, 0.6), t(0.4, 0.3)]}
    lines = draft_value.render_tasks(results, ["reviser"]).splitlines()
    cells = [c.strip() for c in lines[2].split("|")[1:-1]]
    assert lines[0].startswith("| task | prompts | mean draft | teacher written | teacher final | reviser written |")
    # finals: teacher 0.5, 0.7 (mean 0.6); reviser 0.6, 0.3 (mean 0.45); differences +0.1, -0.4: mean -0.15,
    # sd 0.3536, half-width 12.706 * 0.3536 / sqrt(2) = 3.1765
    assert cells[:3] == ["sort", "10", "0.200"]
    assert cells[3].startswith("0.700 [") and cells[4].startswith("0.600 [")
    assert cells[5].startswith("0.450 [") and cells[6].startswith("0.450 [")
    assert cells[7] == "-0.150 [-3.326, 3.026]" and cells[8] == "1 of 2 seeds"


def test_first_per_prompt_by_hand():
    a, b = [{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]
    exs = [{"prompt": a, "completion": "1"}, {"prompt": b, "completion": "2"}, {"prompt": a, "completion": "3"},
           {"prompt": b, "completion": "4"}, {"prompt": [{"content": "b", "role": "user"}], "completion": "5"}]
    assert [e["completion"] for e in draft_value.first_per_prompt(exs)] == ["1", "2"]


def test_draft_value_refuses_another_world(tmp_path):
    (tmp_path / "config.yaml").write_text("testbed:\n  world: if\n")
    with pytest.raises(SystemExit, match="testbed run"):
        draft_value.main([str(tmp_path)])


TEMPLATE = "{instruction}|{draft}"


class TwoViews:
    """A scripted reviser: the tag depends on the draft; a revision written with the draft in view is
    ``seen``, one written from an empty draft is ``blank``; log-likelihoods come from a table keyed by
    (draft in view, text)."""

    def __init__(self, heads, seen, blank, logprobs):
        self.heads, self.seen, self.blank, self.logprobs, self.calls = heads, seen, blank, logprobs, []

    def generate(self, prompts, params, *, prefixes=None, desc=""):
        split = [p[0]["content"].split("|", 1) for p in prompts]
        self.calls.append((desc, [d for _, d in split], prefixes))
        if prefixes is None:
            return [self.heads[d] for _, d in split]
        return [(self.blank[q] if d == "" else self.seen[d]) for q, d in split]

    def continuation_logprobs(self, prompts, texts, *, prefixes=None, desc=""):
        return [self.logprobs[(p[0]["content"].split("|", 1)[1], t)] for p, t in zip(prompts, texts)]


def _row(margin, final, kept_share, top=10):
    return {"margin": margin, "mean_final": final, "preservation": kept_share if top else None, "top_drafts": top}


def test_frontier_by_hand():
    """Two seeds, margins 0, 1 and 2. The calibrated rows take each model's smallest margin that keeps
    the bar's share of perfect drafts, or its largest when none does (seft run's rule)."""
    rev = [{"sweep": [_row(0.0, 0.50, 0.80), _row(1.0, 0.48, 0.90), _row(2.0, 0.46, 0.96)]},
           {"sweep": [_row(0.0, 0.52, 0.86), _row(1.0, 0.47, 0.91), _row(2.0, 0.45, 0.95)]}]
    tea = [{"sweep": [_row(0.0, 0.51, 0.70), _row(1.0, 0.50, 0.85), _row(2.0, 0.49, 0.92)]},
           {"sweep": [_row(0.0, 0.53, 0.75), _row(1.0, 0.52, 0.88), _row(2.0, 0.50, 0.93)]}]
    lines = draft_value.render_frontier({"internal": {"reviser": rev, "teacher": tea}}).splitlines()[2:]
    rows = {r.split("|")[2].strip(): [c.strip() for c in r.split("|")[3:-1]] for r in lines}
    assert list(rows)[:3] == ["0", "1", "2"]
    # margin 0: reviser 0.50 and 0.52, teacher 0.51 and 0.53: behind by 0.01 in both seeds
    assert rows["0"][0].startswith("0.510 [") and rows["0"][2].startswith("0.520 [")
    assert rows["0"][4:] == ["-0.010 [-0.010, -0.010]", "0 of 2 seeds"]
    # 85%: reviser margins 1 (0.90) and 0 (0.86) -> 0.48, 0.52; teacher 1 (0.85) and 1 (0.88) -> 0.50, 0.52
    b85 = rows["calibrated, 85% bar (margins 1/1, 0/1)"]
    assert b85[0].startswith("0.500 [") and b85[2].startswith("0.510 [") and b85[4].startswith("-0.010 [")
    # 90%: reviser 1 and 1 -> 0.48, 0.47; teacher 2 and 2 -> 0.49, 0.50: differences -0.01, -0.03
    assert rows["calibrated, 90% bar (margins 1/2, 1/2)"][4].startswith("-0.020 [")
    # 95%: the teacher never keeps 95%, so its largest margin (2) stands in; reviser 2 and 2
    b95 = rows["calibrated, 95% bar (margins 2/2, 2/2)"]
    assert b95[1].startswith("0.955 [") and b95[3].startswith("0.925 [") and b95[4].startswith("-0.040 [")
    # a seed whose drafts hold no perfect one has no calibrated margin and is left out of those rows
    rev[1]["sweep"] = [dict(r, top_drafts=0, preservation=None) for r in rev[1]["sweep"]]
    assert draft_value.at_bar(rev[1]["sweep"], 0.9) is None
    lines = draft_value.render_frontier({"internal": {"reviser": rev, "teacher": tea}}).splitlines()
    assert any(line.startswith("| internal | calibrated, 90% bar (margins 1/2) | 0.480 | 0.900 | 0.490 | 0.920 | "
                               "-0.010 | 0 of 1 seeds |") for line in lines)


def test_blank_rewrite_by_hand():
    recs = [{"id": "a", "prompt": "qa", "draft": "good"}, {"id": "b", "prompt": "qb", "draft": "bad"},
            {"id": "c", "prompt": "qc", "draft": "meh"}, {"id": "d", "prompt": "qd", "draft": "near"}]
    gen = TwoViews(heads={"good": "[KEEP]", "bad": "[MAJOR]", "meh": "[MINOR]", "near": "[MAJOR]"},
                   seen={"bad": "seen-b", "meh": "edited", "near": "seen-d"},
                   blank={"qb": "fresh-b", "qd": "fresh-d"},
                   # the decision scores the draft and the *fresh* rewrite with the draft in view:
                   # b's draft is 5 nats less likely (the rewrite stays), d's only 0.5 (d's draft stands)
                   logprobs={("bad", "bad"): -9.0, ("bad", "fresh-b"): -4.0,
                             ("near", "near"): -3.5, ("near", "fresh-d"): -3.0,
                             ("meh", "meh"): -8.0, ("meh", "edited"): -2.0})
    cfg = ReviseConfig(keep_margin=1.0, template=TEMPLATE)
    out = draft_value.revise_blank(gen, recs, cfg, ("MAJOR",), tag_budget=9)
    assert [(r["level"], r["final"], r["changed"]) for r in out] == [
        ("KEEP", "good", False), ("MAJOR", "fresh-b", True), ("MINOR", "edited", True), ("MAJOR", "near", False)]
    assert out[3]["decision"] == "likelihood" and out[3]["revision"] == "fresh-d"
    # only the MAJOR rows were rewritten, each from an empty draft, its MAJOR tag line forced
    blank_calls = [c for c in gen.calls if c[0] == "revise: from an empty draft"]
    assert blank_calls == [("revise: from an empty draft", ["", ""], ["[MAJOR]\n", "[MAJOR]\n"])]
    # without a margin nothing is decided: d's fresh rewrite stays
    plain = draft_value.revise_blank(gen, recs, ReviseConfig(keep_margin=None, template=TEMPLATE), ("MAJOR",),
                                     tag_budget=9)
    assert [r["final"] for r in plain] == ["good", "fresh-b", "edited", "fresh-d"]


def test_mix_views_by_hand():
    import torch

    # row 0 (draft in view): p = (1/4, 3/4); row 1 (empty draft): p = (3/4, 1/4)
    scores = torch.tensor([[0.0, math.log(3)], [math.log(3), 0.0]], dtype=torch.float64)
    mixed = draft_value.mix_views(scores, 0.75)
    want = [0.75 * math.log(0.25) + 0.25 * math.log(0.75), 0.75 * math.log(0.75) + 0.25 * math.log(0.25)]
    assert torch.allclose(mixed, torch.tensor([want, want], dtype=torch.float64))  # both rows, one answer
    assert mixed[0].argmax() == 1 and draft_value.mix_views(scores, 0.25)[0].argmax() == 0  # the heavier view wins
    assert torch.allclose(draft_value.mix_views(scores, 1.0)[1], torch.log_softmax(scores[0], -1))


def test_mixed_generate_at_the_ends_is_each_views_greedy_answer(tmp_path):
    import torch

    from seft.config.common import GenerationConfig
    from seft.generation.base import sampling_params
    from seft.generation.hf import HFGenerator
    from seft.models.chat import render_prompts
    from seft.models.loading import load_model_and_tokenizer
    from tiny_models import make_tiny_model_dir

    model, tok = load_model_and_tokenizer(make_tiny_model_dir(tmp_path / "m", seed=3))
    model = model.double().eval()  # no argmax decided by a rounding tie
    gen = HFGenerator(model, tok, batch_size=4)  # 2 pairs a batch: 5 prompts of mixed lengths span 3 batches
    seen = [[{"role": "user", "content": c}] for c in ("add: ab|xy", "sort: zzz|a", "q|bcd", "rev: abc|", "upper: a|q")]
    blank = [[{"role": "user", "content": c["content"].split("|")[0] + "|"}] for [c] in seen]
    heads = ["x\n", "", "y\n", "x\n", ""]
    params = sampling_params(GenerationConfig(temperature=0.0, max_new_tokens=6))

    def alone(prompts):  # one unpadded row at a time, plain greedy generate
        out = []
        for text in render_prompts(tok, prompts, heads):
            ids = torch.tensor([tok(text, add_special_tokens=False)["input_ids"]])
            done = model.generate(input_ids=ids, do_sample=False, max_new_tokens=6, pad_token_id=tok.pad_token_id,
                                  eos_token_id=tok.eos_token_id)
            out.append(tok.decode(done[0, ids.shape[1]:], skip_special_tokens=True))
        return out

    by_seen, by_blank = alone(seen), alone(blank)
    assert by_seen != by_blank  # the two views answer differently, so the ends tell them apart
    assert draft_value.mixed_generate(gen, seen, blank, heads, params, 1.0) == by_seen
    assert draft_value.mixed_generate(gen, seen, blank, heads, params, 0.0) == by_blank
    with pytest.raises(ValueError, match="greedily"):
        draft_value.mixed_generate(gen, seen, blank, heads, sampling_params(GenerationConfig(temperature=0.7)), 0.5)
