"""The likelihood decision: a draft stands when the reviser finds it about as likely as its own
revision. Log-probabilities are checked against a hand computation on a tiny in-process model."""
from __future__ import annotations

import math

import pytest

from seft.config.common import GenerationConfig
from seft.config.core import ConfigError
from seft.config.reviser import ReviseConfig
from seft.reviser.revise import check_likelihood_backend, keeps_draft, revise_drafts
from tiny_models import _one_torch_thread, make_tiny_model_dir  # noqa: F401  (autouse fixture)


def test_the_rule_by_hand():
    assert keeps_draft(-3.0, -2.0, 1.0)          # exactly at the margin: the draft stands
    assert not keeps_draft(-3.0001, -2.0, 1.0)   # just past it: the revision wins
    assert keeps_draft(-1.0, -2.0, 0.0)          # a draft likelier than the revision always stands
    assert not keeps_draft(-2.5, -2.0, 0.0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from seft.generation.hf import HFGenerator
    from seft.models.loading import load_model_and_tokenizer

    model, tok = load_model_and_tokenizer(make_tiny_model_dir(tmp_path_factory.mktemp("tiny")))
    return model, tok, HFGenerator


def _by_hand(model, tok, prompt, prefix, text) -> float:
    """log p(text + eos | chat(prompt) + prefix), one unpadded sequence, token by token."""
    import torch

    head = tok(tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                       add_generation_prompt=True) + prefix, add_special_tokens=False)["input_ids"]
    tail = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([head + tail])).logits[0]
    total = 0.0
    for j, t in enumerate(tail):
        row = logits[len(head) + j - 1]
        total += float(row[t] - torch.logsumexp(row, dim=-1))
    return total


def test_batched_logprobs_equal_the_hand_computation(tiny):
    model, tok, HFGenerator = tiny
    gen = HFGenerator(model, tok, batch_size=3)  # mixed lengths across batches: padding must not leak
    cases = [("add: ab", "x\n", "abc"), ("sort: zz", "", "z"), ("q", "y\n", "a much longer answer"),
             ("rev: abc", "x\n", ""), ("upper: a", "", "abc")]
    got = gen.continuation_logprobs([c[0] for c in cases], [c[2] for c in cases], prefixes=[c[1] for c in cases])
    want = [_by_hand(model, tok, *c) for c in cases]
    assert all(math.isclose(g, w, abs_tol=1e-4) for g, w in zip(got, want)), (got, want)
    assert all(g < 0 for g in got)


class ScoringGenerator:
    """Tags and bodies from a script, log-probabilities from a table keyed by the scored text."""

    def __init__(self, heads, bodies, logprobs):
        self.heads, self.bodies, self.logprobs, self.scored = heads, bodies, logprobs, []

    def generate(self, prompts, params, *, prefixes=None, desc=""):
        drafts = [p[0]["content"].split("\n")[0].removeprefix("Draft: ") for p in prompts]
        return [(self.bodies if prefixes is not None else self.heads)[d] for d in drafts]

    def continuation_logprobs(self, prompts, texts, *, prefixes=None, desc=""):
        self.scored.append((list(texts), list(prefixes)))
        return [self.logprobs[t] for t in texts]


def test_revise_drafts_keeps_drafts_within_the_margin():
    recs = [{"id": str(i), "prompt": "q", "draft": d} for i, d in enumerate(["good", "bad", "fine", "same"])]
    gen = ScoringGenerator(heads={"good": "[MINOR]", "bad": "[MAJOR]", "fine": "[KEEP]", "same": "[MINOR]"},
                           bodies={"good": "worse", "bad": "fixed", "same": "same"},
                           logprobs={"good": -4.0, "worse": -3.0, "bad": -9.0, "fixed": -2.0})
    out = revise_drafts(gen, recs, ReviseConfig(keep_margin=2.0), tag_budget=9)
    # good: -4 >= -3 - 2 -> the draft stands; bad: -9 < -2 - 2 -> revised; KEEP and an unchanged
    # revision are not scored at all
    assert [(r["final"], r["changed"], r.get("decision")) for r in out] == [
        ("good", False, "likelihood"), ("fixed", True, None), ("fine", False, None), ("same", False, None)]
    assert gen.scored == [(["good", "bad", "worse", "fixed"], ["[MINOR]\n", "[MAJOR]\n"] * 2)]
    assert (out[0]["logprob_draft"], out[0]["logprob_revision"], out[0]["revision"]) == (-4.0, -3.0, "worse")
    assert [r["level"] for r in out] == ["MINOR", "MAJOR", "KEEP", "MINOR"]  # the tag is still reported


def test_on_by_default_off_with_null_and_hf_only():
    assert ReviseConfig().keep_margin == 1.0
    gen = ScoringGenerator(heads={"good": "[MINOR]"}, bodies={"good": "other"}, logprobs={})
    out = revise_drafts(gen, [{"id": "0", "prompt": "q", "draft": "good"}], ReviseConfig(keep_margin=None), tag_budget=9)
    assert out[0]["final"] == "other" and gen.scored == []
    with pytest.raises(ConfigError, match="hf backend"):
        check_likelihood_backend(ReviseConfig(keep_margin=1.0, generation=GenerationConfig(backend="vllm")))
