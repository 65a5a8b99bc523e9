"""Greedy revision in one pass over each prompt, with the draft as the speculation.

The reviser reads (prompt, draft) and writes a tag line, then, for MINOR and MAJOR, the revised
response, which usually copies most of the draft. Plain decoding pays for that copy token by
token, and the two-pass scheme (tags, then revisions with the tag forced) pays the prompt's
prefill twice. Here each batch is prefilled once and its KV cache kept:

1. the tag line is decoded greedily, speculated too: the likeliest tag line is appended to every
   prompt in the prefill, and a row whose tag went another way proposes the rest of the tag line
   its first tokens begin; a row whose ``decide(tag_text)`` says stop (KEEP, no tag) leaves the
   batch at once, so a KEEP the prefill guessed right costs nothing more;
2. a continuing row proposes its whole draft (and the end of turn) after the tag line; one
   teacher-forced pass verifies every proposed token at once: the longest prefix that greedy
   decoding would also produce is accepted, plus the model's own token at the first disagreement;
3. decoding goes on from there, and the draft keeps serving as the proposal after re-alignment
   (the latest generated n-gram, n = 3, 2, 1, looked up in the draft; else the draft token after
   the one just replaced), prompt-lookup style; how many tokens a pass proposes is
   :mod:`.proposals`' business (from the cost of a pass and how often the row's proposals were
   taken).

Every accepted token is the argmax of the model's logits given exactly the tokens before it, so the
output is token for token what greedy ``generate`` gives (up to floating-point ties; the tests use
float64). Rows of different acceptance lengths share one cache: rejected positions stay in it as
masked holes, positions are counted over the unmasked tokens (as left padding is), and columns
that no row uses any more are cropped. Finished rows leave the batch. Sampling is not done here:
revisions are greedy by default, and a sampled revision goes through ``generate`` instead.

The same pass gives the draft's log-likelihood after the tag line (the likelihood decision) and
the revision's own, from the logits decoding computes anyway: no extra forward pass.
"""
from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence

from .proposals import MAX_PROPOSAL, Acceptance, PassCost, RevisionOut, Row, propose, share_window

__all__ = ["greedy_revise"]


def greedy_revise(model, prompts: Sequence[Sequence[int]], drafts: Sequence[Sequence[int]], *, pad_id: int,
                  stop_ids: set[int], eos_id: int, max_new_tokens: int, tag_budget: int,
                  decide: Callable[[list[int], bool], bool | None], speculate: int = 8, score_draft: bool = True,
                  logits_hook: Callable[[int, list[int], object], object] | None = None,
                  overhead: float | None = None, cost: PassCost | None = None,
                  tag_lines: Sequence[Sequence[int]] = (), pool: Acceptance | None = None) -> list[RevisionOut]:
    """Revise one batch. ``prompts``: the reviser's chat-templated inputs as ids; ``drafts``: each
    draft's ids (the proposal). ``decide(tag_ids, budget_spent)`` -> None while the tag line is not
    finished, False to stop the row (KEEP, no tag), True to go on with the revision. At most
    ``tag_budget`` tag tokens, then ``max_new_tokens`` body tokens; ``tag_budget=0``: no tag line,
    greedy decoding from the start (``generate``'s greedy path: shared prefix once, finished rows out).

    ``overhead`` (positions' worth of fixed cost per pass): each pass's proposal length from
    :func:`pass_window`; None: ``speculate`` draft tokens per pass, doubled after a proposal
    accepted whole and reset by a rejection. ``cost``, when given, records every pass after the
    prefill (positions, seconds): how ``overhead`` is measured.

    ``score_draft``: the first pass after the tag line proposes the whole draft and the end of
    turn, which also gives the draft's log-likelihood (the likelihood decision); without it the
    first pass proposes ``speculate`` tokens. ``logits_hook(row, generated_ids,
    logits)``, when given, may change in place the next-token logits of a row after the tokens it
    generated so far (as a ``transformers`` logits processor does; the revision benchmark scripts a
    reviser with it).

    ``tag_lines``: the tag lines the reviser writes, as ids, the likeliest first: the tag line is
    speculated too. The first is verified in the prefill itself (appended to every prompt), and a
    row whose tag went another way proposes the rest of the tag line its tokens so far begin, so a
    tag costs one or two passes instead of one per token. ``pool``: the acceptance counts of the
    call's earlier batches (updated here), the prior of rows with little evidence of their own."""
    import torch

    device = model.device
    pool = Acceptance() if pool is None else pool
    rows = [Row(list(d), RevisionOut(passes=1), window=speculate) for d in drafts]
    if tag_budget == 0:  # no tag line: plain greedy decoding (with the draft, if any, as the proposal)
        for row in rows:
            row.out.tag_len, row.phase = 0, "first" if row.draft else "body"
    lines = [list(t) for t in tag_lines if t] if tag_budget else []
    guess = lines[0][:tag_budget] if lines else []  # verified in the prefill: the likeliest tag line
    cache_arg = "cache" if "cache" in _forward_params(model) else "past_key_values"
    cache, logits, mask = _prefill(model, [list(p) + guess for p in prompts], pad_id, cache_arg, keep=1 + len(guess))
    props: list[list[int]] = [list(guess) for _ in rows]
    if logits_hook is not None:
        logits = _hooked(logits, logits_hook, list(range(len(rows))), rows, props)
    active = list(range(len(rows)))       # batch row -> index into `rows`
    span = 1 + len(guess)                 # tokens per row in the last forward pass
    started = None                        # when the last pass began (None: the prefill, not timed)
    while True:
        # ---- accept: the longest proposed prefix that greedy decoding agrees with, and one more
        # (log-probabilities only where they are read: a full log_softmax over the vocabulary at
        # every position of a verifying pass would cost as much as the pass's lm_head)
        lse = torch.logsumexp(logits, dim=-1)
        greedy = logits.argmax(-1).tolist()  # waits for the device: the pass is done here
        if started is not None and cost is not None:
            cost.add(len(active) * span, time.perf_counter() - started)
        keep = []
        for b, k in enumerate(active):
            row, prop = rows[k], props[k]
            taken = 0
            while taken < len(prop) and prop[taken] == greedy[b][taken]:
                taken += 1
            new = prop[:taken] + [greedy[b][taken]]
            if row.phase == "first":  # teacher-forced over draft + end of turn: its log-likelihood
                if row.full_draft:
                    row.out.draft_logprob = float(sum(_logps(logits, lse, b, prop)))
                row.phase = "body"
            drafted = row.phase != "tag"  # a tag line's proposal is not the draft's: no counts
            if drafted:
                row.out.accepted += taken
            if prop and drafted:
                row.checked += min(taken + 1, len(prop))
                row.rejected += taken < len(prop)
                pool.add(min(taken + 1, len(prop)), taken < len(prop))
            row.hint = row.start + taken + 1  # the draft token after the one the model replaced
            if prop and row.phase == "body":  # adapt the proposal length to how well the draft is copied
                row.window = min(row.window * 2, MAX_PROPOSAL) if taken == len(prop) else row.speculate
            done, used = _extend(row, new, _logps(logits, lse, b, new), stop_ids, max_new_tokens, tag_budget, decide)
            # the cache must hold exactly the tokens taken but the last (the next pass feeds it):
            # the rejected part of the proposal, and what follows a tag line that ended inside it,
            # stay in the cache as holes
            if len(prop) > used - 1:
                first = mask.shape[1] - span + 1
                mask[b, first + used - 1:first + len(prop)] = 0
            if not done:
                keep.append(b)
        if not keep:
            break
        if len(keep) < len(active):  # finished rows leave the batch
            sel = torch.tensor(keep, device=device)
            cache.batch_select_indices(sel)
            mask = mask[sel]
            active = [active[b] for b in keep]
        unused = int((mask.flip(-1).cumsum(-1) == 0).sum(-1).min())  # trailing columns no row uses
        if unused:
            cache.crop(-unused)
            mask = mask[:, :-unused]
        # ---- propose and verify: [pending] + proposal per row, right-padded to the longest
        for k in active:
            props[k] = propose(rows[k], eos_id, max_new_tokens, score_draft,
                                 None if overhead is None else MAX_PROPOSAL, lines)
        if overhead is not None:
            share_window(rows, props, active, overhead, pool)
        span = 1 + max(len(props[k]) for k in active)
        step = torch.full((len(active), span), pad_id, dtype=torch.long)
        step_mask = torch.zeros((len(active), span), dtype=torch.long)
        for b, k in enumerate(active):
            seq = [rows[k].pending] + props[k]
            step[b, :len(seq)] = torch.tensor(seq)
            step_mask[b, :len(seq)] = 1
            rows[k].out.passes += 1
            rows[k].out.proposed += len(props[k]) if rows[k].phase != "tag" else 0
        step, step_mask = step.to(device), step_mask.to(device)
        # positions count the tokens each row holds: holes and padding do not count
        pos = mask.sum(-1, keepdim=True) + torch.arange(span, device=device)[None, :]
        mask = torch.cat([mask, step_mask], dim=-1)
        started = time.perf_counter()
        with torch.no_grad():
            res = model(input_ids=step, attention_mask=mask, position_ids=pos, use_cache=True, **{cache_arg: cache})
        cache, logits = _cache_of(res), _wide(res.logits)
        if logits_hook is not None:
            logits = _hooked(logits, logits_hook, active, rows, props)
    return [row.out for row in rows]


def _prefill(model, prompts: list[list[int]], pad_id: int, cache_arg: str, keep: int = 1):
    """One forward pass over the batch's prompts -> (cache, the last ``keep`` positions' logits,
    attention mask).

    The longest prefix every prompt shares (a chat template's system prompt, the reviser's
    instruction) is computed once, for one row, and its cache repeated over the batch; the rest of
    each prompt follows it, left-padded, so the padding sits between the two as a masked hole."""
    import torch

    device = model.device
    shared = _common_prefix(prompts)
    shared = shared if shared >= 8 and len(prompts) > 1 else 0  # not worth a second call below that
    extra = {}
    if shared:
        with torch.no_grad():
            res = model(input_ids=torch.tensor([prompts[0][:shared]], device=device), use_cache=True)
        cache = _cache_of(res)
        cache.batch_repeat_interleave(len(prompts))
        extra[cache_arg] = cache
    rests = [p[shared:] for p in prompts]
    width = max(len(r) for r in rests)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    rest_mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for r, p in enumerate(rests):  # left padding, as generate does
        ids[r, width - len(p):] = torch.tensor(p)
        rest_mask[r, width - len(p):] = 1
    ids, rest_mask = ids.to(device), rest_mask.to(device)
    mask = torch.cat([torch.ones((len(prompts), shared), dtype=torch.long, device=device), rest_mask], dim=-1)
    positions = shared + (rest_mask.cumsum(-1) - 1).clamp(min=0)
    if "logits_to_keep" in _forward_params(model):
        extra["logits_to_keep"] = keep  # only the last positions predict: the lm_head over the rest is waste
    with torch.no_grad():
        res = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **extra)
    return _cache_of(res), _wide(res.logits[:, -keep:]), mask


def _common_prefix(seqs: list[list[int]]) -> int:
    """Tokens every sequence starts with, leaving each at least one of its own (the last prompt
    token's logits are the first prediction)."""
    n = max(min(len(s) for s in seqs) - 1, 0)
    first = seqs[0]
    for i in range(n):
        if any(s[i] != first[i] for s in seqs):
            return i
    return n


def _logps(logits, lse, b: int, tokens: list[int]) -> list[float]:
    """log p of ``tokens[j]`` at position j of row b: one gather, no full log_softmax."""
    import torch

    j = torch.arange(len(tokens), device=logits.device)
    t = torch.tensor(tokens, device=logits.device)
    return (logits[b, j, t] - lse[b, :len(tokens)]).tolist()


def _hooked(logits, hook, active: list[int], rows: list[Row], props: list[list[int]]):
    """``hook`` applied (in place) at every position of the pass, with the tokens generated before it."""
    for b, k in enumerate(active):
        before = rows[k].out.tokens
        for j in range(min(logits.shape[1], len(props[k]) + 1)):  # not the padding after a short proposal
            hook(k, before + props[k][:j], logits[b, j])
    return logits


def _forward_params(model) -> set[str]:
    """The keyword arguments the causal LM's forward takes (through a PEFT wrapper's **kwargs)."""
    from ..models.loading import unwrap_peft

    return set(inspect.signature(unwrap_peft(model).forward).parameters)


def _cache_of(res):
    # transformers 5.2x renamed past_key_values to cache (the old name still works, deprecated)
    cache = getattr(res, "cache", None)
    return cache if cache is not None else res.past_key_values


def _wide(logits):
    """Half-precision logits in fp32 for the argmax and the log-likelihoods; fp32/fp64 as they are."""
    return logits.float() if logits.element_size() < 4 else logits


def _extend(row: Row, new: list[int], logps: list[float], stop_ids: set[int], max_new_tokens: int,
            tag_budget: int, decide) -> tuple[bool, int]:
    """Append accepted tokens to a row -> (whether the row is finished, how many of ``new`` it took:
    all, except when a tag line or the row ends before them)."""
    out = row.out
    for used, (t, lp) in enumerate(zip(new, logps), 1):
        out.tokens.append(t)
        row.pending = t
        if out.tag_len is not None:
            out.body_logprob += lp
        if t in stop_ids:
            out.stopped = True
            if out.tag_len is None:
                out.tag_len = len(out.tokens)
            return True, used
        if out.tag_len is None:
            spent = len(out.tokens) >= tag_budget
            verdict = decide(out.tokens, spent)
            if verdict is None and spent:
                verdict = False
            if verdict is not None:
                out.tag_len = len(out.tokens)
                if not verdict:
                    return True, used
                row.phase = "first"
                return False, used
        elif len(out.tokens) - out.tag_len >= max_new_tokens:
            return True, used
    return False, len(new)
