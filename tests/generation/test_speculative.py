"""The one-pass revision engine is greedy decoding, token for token, only cheaper: checked against
per-row greedy ``generate`` on tiny random models (float64, so that no argmax is a rounding tie)
over many drafts: exact copies of the model's own answer, edited copies, random tokens, empty."""
from __future__ import annotations

import random

import pytest

from seft.generation.proposals import Acceptance, PassCost, RevisionOut, Row, align, pass_window, tag_rest
from seft.generation.speculative import greedy_revise
from tiny_models import _one_torch_thread  # noqa: F401  (autouse: one torch thread)

EOS, PAD, VOCAB = 1, 0, 48
TAG = 2          # tag tokens before the decision
BODY = 12        # max_new_tokens of the body


def _model(seed: int):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      pad_token_id=PAD, eos_token_id=EOS, bos_token_id=None, initializer_range=0.3)
    return LlamaForCausalLM(cfg).double().eval()


def _decide(ids, spent):
    # the "tag line" is TAG tokens; an even first token asks for a revision, an odd one is a KEEP
    if len(ids) < TAG:
        return None
    return ids[0] % 2 == 0


def _reference(model, prompt: list[int]) -> list[int]:
    """Plain greedy generate, one row, no padding: TAG tokens, then up to BODY more."""
    import torch

    out = model.generate(input_ids=torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                         max_new_tokens=TAG + BODY, do_sample=False, eos_token_id=EOS, pad_token_id=PAD)
    gen = out[0, len(prompt):].tolist()
    return gen[:gen.index(EOS) + 1] if EOS in gen else gen


def _expected(ref: list[int]) -> list[int]:
    tag = ref[:TAG]
    if EOS in tag:
        return ref[:ref.index(EOS) + 1]
    if len(tag) == TAG and tag[0] % 2 == 1:
        return tag  # KEEP: the row stops at its tag
    return ref


def _teacher_forced(model, head: list[int], tail: list[int]) -> float:
    """log p(tail | head), one unpadded sequence."""
    import torch

    with torch.no_grad():
        logp = torch.log_softmax(model(torch.tensor([head + tail])).logits[0].double(), -1)
    return float(sum(logp[len(head) - 1 + j, t] for j, t in enumerate(tail)))


def _drafts(rng: random.Random, body: list[int]) -> list[int]:
    body = [t for t in body if t != EOS]
    kind = rng.choice(["exact", "substitute", "insert", "delete", "random", "empty", "prefix"])
    d = list(body)
    if kind == "substitute" and d:
        d[rng.randrange(len(d))] = rng.randrange(2, VOCAB)
    elif kind == "insert":
        d.insert(rng.randrange(len(d) + 1), rng.randrange(2, VOCAB))
    elif kind == "delete" and d:
        del d[rng.randrange(len(d))]
    elif kind == "random":
        d = [rng.randrange(2, VOCAB) for _ in range(rng.randrange(1, 15))]
    elif kind == "empty":
        d = []
    elif kind == "prefix":
        d = d[:len(d) // 2]
    return d


def _tag_lines(rng: random.Random, refs: list[list[int]]) -> list[list[int]]:
    """Guessed tag lines, right for some rows, half right or wrong for others: the commonest tag
    line; one running two tokens past the tag (the row takes body tokens in the tag's pass, which
    must not stay in the cache twice); one tag with its last token changed; a random one."""
    common = max((r[:TAG] for r in refs), key=lambda t: sum(r[:TAG] == t for r in refs))
    longer = next((r[:TAG + 2] for r in refs if r[:TAG] != common and len(r) >= TAG + 2), [])
    return [common, longer, common[:-1] + [(common[-1] + 1) % VOCAB], [rng.randrange(2, VOCAB) for _ in range(TAG)]]


# overhead None: the doubling windows; 0: every position costs (short proposals); 1e6: a pass costs
# the same at any width (the longest proposals); tags: tag lines speculated or not
@pytest.mark.parametrize("seed, shared, score_draft, overhead, tags", [
    (0, 0, True, None, False), (1, 0, False, None, True), (2, 12, True, 0.0, True), (3, 12, False, 0.0, False),
    (4, 0, True, 1e6, True), (5, 12, False, 1e6, True), (6, 12, True, 40.0, True)])
def test_engine_matches_greedy_generate_token_for_token(seed, shared, score_draft, overhead, tags):

    model, rng = _model(seed), random.Random(seed)
    system = [rng.randrange(2, VOCAB) for _ in range(shared)]  # a prefix every prompt shares: computed once
    prompts = [system + [rng.randrange(2, VOCAB) for _ in range(rng.randrange(1, 14))] for _ in range(40)]
    refs = [_reference(model, p) for p in prompts]
    drafts = [_drafts(rng, r[TAG:]) for r in refs]
    lines = _tag_lines(rng, refs) if tags else []
    got = []
    for start in range(0, len(prompts), 16):  # batches of mixed lengths, as the generator makes them
        got += greedy_revise(model, prompts[start:start + 16], drafts[start:start + 16], pad_id=PAD, stop_ids={EOS},
                             eos_id=EOS, max_new_tokens=BODY, tag_budget=TAG, decide=_decide, speculate=4,
                             score_draft=score_draft, overhead=overhead, tag_lines=lines)
    revised = 0
    for p, ref, d, out in zip(prompts, refs, drafts, got):
        assert out.tokens == _expected(ref), (p, d)
        if out.tag_len == TAG and len(out.tokens) > TAG:
            revised += 1
            body = out.tokens[TAG:]
            # the log-likelihoods the engine reports are the teacher-forced ones
            head = p + out.tokens[:TAG]
            if score_draft:
                assert out.draft_logprob == pytest.approx(_teacher_forced(model, head, d + [EOS]), abs=1e-9)
            else:
                assert out.draft_logprob is None
            assert out.body_logprob == pytest.approx(_teacher_forced(model, head, body), abs=1e-9)
    assert revised >= 10  # enough rows took the speculative path to mean something


def test_a_copied_draft_costs_one_pass_and_the_rest_is_speculated():
    model, rng = _model(5), random.Random(5)
    prompts = [[rng.randrange(2, VOCAB) for _ in range(8)] for _ in range(64)]
    refs = [_reference(model, p) for p in prompts]
    keep = [i for i, r in enumerate(refs) if r[0] % 2 == 0 and EOS not in r[:TAG] and len(r) > TAG + 3]
    outs = greedy_revise(model, [prompts[i] for i in keep], [[t for t in refs[i][TAG:] if t != EOS] for i in keep],
                         pad_id=PAD, stop_ids={EOS}, eos_id=EOS, max_new_tokens=BODY, tag_budget=TAG,
                         decide=_decide)
    for i, out in zip(keep, outs):
        assert out.tokens == refs[i]
        body = len(out.tokens) - TAG
        # prefill, the tag tokens one by one, then one verifying pass takes the whole body
        assert out.passes == 1 + TAG, (out.passes, body)
        # every body token came from the draft (the end of turn too, which the proposal appends)
        assert out.accepted == body


def test_a_speculated_tag_line_costs_no_pass_of_its_own():
    model, rng = _model(5), random.Random(5)
    prompts = [[rng.randrange(2, VOCAB) for _ in range(8)] for _ in range(64)]
    refs = [_reference(model, p) for p in prompts]
    keep = [i for i, r in enumerate(refs) if r[0] % 2 == 0 and EOS not in r[:TAG] and len(r) > TAG + 3]
    tags = sorted({tuple(refs[i][:TAG]) for i in keep}, key=lambda t: -sum(tuple(refs[i][:TAG]) == t for i in keep))
    assert len(tags) > 1
    outs = greedy_revise(model, [prompts[i] for i in keep], [[t for t in refs[i][TAG:] if t != EOS] for i in keep],
                         pad_id=PAD, stop_ids={EOS}, eos_id=EOS, max_new_tokens=BODY, tag_budget=TAG,
                         decide=_decide, tag_lines=[list(t) for t in tags])
    for i, out in zip(keep, outs):
        assert out.tokens == refs[i]
        tag = refs[i][:TAG]
        if tag == list(tags[0]) or tag[0] == tags[0][0]:
            # the guess in the prefill gave the whole tag line (or all but its last token, which the
            # model's own token completes): the body's pass is the only other one
            assert out.passes == 2, (out.passes, tag)
        else:
            # the first tag token went another way: one pass for the rest of the line it begins
            assert out.passes == 3, (out.passes, tag)
        assert out.accepted == len(out.tokens) - TAG  # tag proposals are not counted as the draft's


def test_align_by_hand():
    draft = [5, 6, 7, 8, 9, 6, 7, 10]
    assert align(draft, [1, 6, 7], hint=0) == 3        # "6 7" occurs twice; the one nearest the hint
    assert align(draft, [1, 6, 7], hint=7) == 7
    assert align(draft, [3, 9], hint=2) == 5           # 1-gram 9, 3 from the hint
    assert align(draft, [3, 9], hint=0) == 0           # ... 5 from it: too far for one token, the hint
    assert align(draft, [1, 9, 6], hint=0) == 6        # a 2-gram may jump any distance
    assert align(draft, [42], hint=4) == 4             # no match: the hint (the token after a substitution)
    assert align(draft, [10], hint=5) is None          # matched the end: nothing left to propose
    assert align(draft, [42], hint=8) is None


def test_pass_cost_fits_a_fixed_and_a_per_position_part():
    cost = PassCost()
    assert cost.overhead() is None
    cost.add(10, 1.1)
    assert cost.overhead() is None            # one width: no slope yet
    cost.add(10, 1.3)
    assert cost.overhead() is None            # still one width
    cost.add(110, 2.2)
    # least squares over (10, 1.1), (10, 1.3), (110, 2.2): slope 0.01, fixed 2.2 - 1.1 = 1.1 -> 110 positions
    assert cost.overhead() == pytest.approx(110.0)
    falling = PassCost()
    falling.add(10, 2.0)
    falling.add(100, 1.0)
    assert falling.overhead() is None         # a slope that is not positive means nothing
    free = PassCost()
    free.add(10, 0.5)
    free.add(20, 1.5)                         # fixed part below zero: clamped to no overhead
    assert free.overhead() == 0.0


def test_pass_window_by_hand():
    # one row, p = 0.5, no overhead: w=1 -> (1 + .5) / 2 = .75; w=2 -> 1.75 / 3 = .58: one token
    assert pass_window([0.5], 0.0, 8) == 1
    # overhead 10: w=1 -> 1.5 / 12 = .1250; w=2 -> 1.75 / 13 = .1346; w=3 -> 1.875 / 14 = .1339
    assert pass_window([0.5], 10.0, 8) == 2
    assert pass_window([0.0, 0.0], 100.0, 8) == 1       # nothing will be accepted: the shortest pass
    assert pass_window([1.0, 1.0], 0.0, 8) == 8         # everything is accepted: the longest
    assert pass_window([0.9] * 4, 1e6, 30) == 30        # a pass costs the same at any width: the longest
    assert pass_window([0.9], 0.0, 0) == 1              # nothing to propose


def test_tag_rest_by_hand():
    lines = [[7, 8, 9], [7, 5], [6, 5, 4]]
    assert tag_rest([], lines) == [7, 8, 9]         # nothing yet: the first (likeliest) line whole
    assert tag_rest([7], lines) == [8, 9]           # the first line that begins so
    assert tag_rest([7, 5], lines) == []            # a line ends here: nothing left to propose
    assert tag_rest([6], lines) == [5, 4]
    assert tag_rest([3], lines) == []               # no line begins so: decode token by token
    assert tag_rest([7, 8], []) == []


def test_acceptance_prior_by_hand():
    pool = Acceptance()
    assert pool.rate() == 0.5                       # Laplace before any evidence
    pool.add(10, 1)
    assert pool.rate() == pytest.approx(10 / 12)    # (9 taken + 1) / (10 + 2)
    row = Row([1, 2, 3], RevisionOut())
    assert row.accept_rate(pool.rate()) == pytest.approx(10 / 12)  # no evidence of its own: the pool's
    row.checked, row.rejected = 2, 2                # two proposals, both rejected at once
    assert row.accept_rate(0.9) == pytest.approx((0 + 1.8) / 4)
    assert row.accept_rate() == pytest.approx(1 / 4)  # the old Laplace rule: prior 1/2
