"""Greedy revision in one pass over each prompt, with the draft as the speculation.

The reviser reads (prompt, draft) and writes a tag line, then, for MINOR and MAJOR, the revised
response, which usually copies most of the draft. Plain decoding pays for that copy token by
token, and the two-pass scheme (tags, then revisions with the tag forced) pays the prompt's
prefill twice. Here each batch is prefilled once and its KV cache kept:

1. the tag line is decoded greedily; a row whose ``decide(tag_text)`` says stop (KEEP, no tag)
   leaves the batch at once;
2. a continuing row proposes its whole draft (and the end of turn) after the tag line; one
   teacher-forced pass verifies every proposed token at once: the longest prefix that greedy
   decoding would also produce is accepted, plus the model's own token at the first disagreement;
3. decoding goes on from there, and the draft keeps serving as the proposal after re-alignment
   (the latest generated n-gram, n = 3, 2, 1, looked up in the draft; else the draft token after
   the one just replaced), prompt-lookup style. How many draft tokens a pass proposes follows
   from what a pass costs (a fixed part, ``overhead`` positions' worth, plus one unit per position
   computed) and how often each row's proposals were accepted so far (:func:`pass_window`): where
   every position costs (a CPU), rows that keep being edited get short proposals; where a pass
   costs about the same at any width (a GPU), long ones. ``overhead`` is a setting, not a clock
   reading, so that a run computes the same thing every time (:class:`PassCost` measures it). The
   windows change only the speed and the shapes of the passes: every accepted token is verified.

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
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["PassCost", "RevisionOut", "align", "default_pass_overhead", "greedy_revise", "pass_window"]


@dataclass
class RevisionOut:
    tokens: list[int] = field(default_factory=list)  # generated ids: tag line, then the body
    tag_len: int | None = None                       # tokens of the tag line (None: still decoding it)
    stopped: bool = False                            # ended by an end-of-turn token
    draft_logprob: float | None = None               # log p(draft + end of turn | prompt, tag line)
    body_logprob: float = 0.0                        # log p(generated body, end of turn included)
    proposed: int = 0                                # draft tokens proposed, and accepted
    accepted: int = 0
    passes: int = 0                                  # forward passes this row took part in


def align(draft: Sequence[int], body: Sequence[int], hint: int) -> int | None:
    """Where in ``draft`` the next proposal starts, given the ``body`` generated so far: after the
    latest occurrence (closest to ``hint``) of the body's last 3, 2 or 1 tokens; else ``hint`` (the
    draft token after the one just replaced); None when nothing is left to propose."""
    for n in (3, 2, 1):
        if len(body) < n:
            continue
        tail = list(body[-n:])
        hits = [i + n for i in range(len(draft) - n + 1) if list(draft[i:i + n]) == tail]
        if hits:
            best = min(hits, key=lambda h: (abs(h - hint), -h))
            return best if best < len(draft) else None
    return hint if hint < len(draft) else None


class PassCost:
    """Seconds per forward pass as ``fixed + per_position * positions``, least squares over the
    passes recorded so far (positions: rows x width, padding included, since it is computed)."""

    def __init__(self, keep: int = 64):
        self.points: deque[tuple[int, float]] = deque(maxlen=keep)  # the latest: the machine's load changes

    def add(self, positions: int, seconds: float) -> None:
        self.points.append((positions, seconds))

    def overhead(self) -> float | None:
        """The fixed part in positions' worth (fixed / per_position); None until two different
        widths were timed or while the fit makes no sense (a slope that is not positive)."""
        n = len(self.points)
        if n < 2:
            return None
        mx = sum(x for x, _ in self.points) / n
        my = sum(y for _, y in self.points) / n
        var = sum((x - mx) ** 2 for x, _ in self.points)
        if var <= 0:
            return None
        slope = sum((x - mx) * (y - my) for x, y in self.points) / var
        if slope <= 0:
            return None
        return max(my - slope * mx, 0.0) / slope


# The fixed cost of a verifying pass, in positions' worth (what PassCost fits). On a CPU a position
# costs a matmul row of every weight, so a pass's fixed part (reading the weights, Python, the
# cache) is worth few positions: SmolLM2-135M's batch-1 decode step takes ~0.058 s here against
# ~1.5 ms per position at full width (STACK.md), ~40 positions. On a GPU a position costs next to
# nothing at the widths revision uses and a pass is mostly launches and weight reads: proposals as
# long as the draft.
CPU_PASS_OVERHEAD = 40.0
GPU_PASS_OVERHEAD = 1e5


def default_pass_overhead(device_type: str) -> float:
    """The engine's ``overhead`` where the config leaves it unset: by the kind of device."""
    return CPU_PASS_OVERHEAD if device_type == "cpu" else GPU_PASS_OVERHEAD


_WIDTHS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192)
MAX_PROPOSAL = 256  # draft tokens one pass may verify for a row (after its first, whole-draft pass)


def pass_window(accept: Sequence[float], overhead: float, limit: int) -> int:
    """The proposal length w (1..limit) shared by a pass's rows that gives the most tokens per unit
    of cost: each row gains its pending token plus the expected accepted prefix, sum_{i<=w} p^i
    (p: the row's chance that a proposed token is accepted), and the pass costs ``overhead`` plus
    one position per row and proposed token, (1 + w) per row. Only a ladder of lengths and
    ``limit`` itself are tried: this runs before every pass, in Python."""
    limit = max(limit, 1)
    best, best_rate = 1, -1.0
    for w in sorted({x for x in _WIDTHS if x < limit} | {limit}):
        gain = sum(1 + (w if p >= 1 else p * (1 - p ** w) / (1 - p)) for p in accept)
        rate = gain / (overhead + len(accept) * (1 + w))
        if rate >= best_rate - 1e-12:  # a tie goes to the longer proposal: fewer passes
            best, best_rate = w, rate
    return best


@dataclass
class _Row:
    draft: list[int]
    out: RevisionOut
    phase: str = "tag"     # tag -> first (the next pass proposes the whole draft) -> body
    pending: int = -1      # the last generated token, not yet in the cache
    start: int = 0         # where in the draft the current proposal starts
    hint: int = 0          # where the body is expected to continue in the draft
    window: int = 8        # draft tokens the next proposal may hold (grows while proposals are taken whole)
    speculate: int = 8     # ... and what it resets to after a rejection
    full_draft: bool = False  # the first proposal held the whole draft and the end of turn
    checked: int = 0       # proposed tokens verified (up to and including the first rejected one) ...
    rejected: int = 0      # ... and how many were rejected: the row's acceptance rate

    def __post_init__(self):
        self.speculate = self.window

    def accept_rate(self) -> float:
        return (self.checked - self.rejected + 1) / (self.checked + 2)  # Laplace: 1/2 before any evidence


def greedy_revise(model, prompts: Sequence[Sequence[int]], drafts: Sequence[Sequence[int]], *, pad_id: int,
                  stop_ids: set[int], eos_id: int, max_new_tokens: int, tag_budget: int,
                  decide: Callable[[list[int], bool], bool | None], speculate: int = 8, score_draft: bool = True,
                  logits_hook: Callable[[int, list[int], object], object] | None = None,
                  overhead: float | None = None, cost: PassCost | None = None) -> list[RevisionOut]:
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
    reviser with it)."""
    import torch

    device = model.device
    rows = [_Row(list(d), RevisionOut(passes=1), window=speculate) for d in drafts]
    if tag_budget == 0:  # no tag line: plain greedy decoding (with the draft, if any, as the proposal)
        for row in rows:
            row.out.tag_len, row.phase = 0, "first" if row.draft else "body"
    cache_arg = "cache" if "cache" in _forward_params(model) else "past_key_values"
    cache, logits, mask = _prefill(model, [list(p) for p in prompts], pad_id, cache_arg)
    if logits_hook is not None:
        logits = _hooked(logits, logits_hook, list(range(len(rows))), rows, [[] for _ in rows])
    active = list(range(len(rows)))       # batch row -> index into `rows`
    props: list[list[int]] = [[] for _ in rows]
    span = 1                              # tokens per row in the last forward pass
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
            row.out.accepted += taken
            if prop:
                row.checked += min(taken + 1, len(prop))
                row.rejected += taken < len(prop)
            row.hint = row.start + taken + 1  # the draft token after the one the model replaced
            if prop and row.phase == "body":  # adapt the proposal length to how well the draft is copied
                row.window = min(row.window * 2, MAX_PROPOSAL) if taken == len(prop) else row.speculate
            if len(prop) > taken:  # the rejected proposal stays in the cache as a hole
                first = mask.shape[1] - span + 1
                mask[b, first + taken:first + len(prop)] = 0
            if not _extend(row, new, _logps(logits, lse, b, new), stop_ids, max_new_tokens, tag_budget, decide):
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
            props[k] = _proposal(rows[k], eos_id, max_new_tokens, score_draft,
                                 None if overhead is None else MAX_PROPOSAL)
        if overhead is not None:
            _share_window(rows, props, active, overhead)
        span = 1 + max(len(props[k]) for k in active)
        step = torch.full((len(active), span), pad_id, dtype=torch.long)
        step_mask = torch.zeros((len(active), span), dtype=torch.long)
        for b, k in enumerate(active):
            seq = [rows[k].pending] + props[k]
            step[b, :len(seq)] = torch.tensor(seq)
            step_mask[b, :len(seq)] = 1
            rows[k].out.passes += 1
            rows[k].out.proposed += len(props[k])
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


def _prefill(model, prompts: list[list[int]], pad_id: int, cache_arg: str):
    """One forward pass over the batch's prompts -> (cache, last logits, attention mask).

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
        extra["logits_to_keep"] = 1  # only the last position predicts: the lm_head over the rest is waste
    with torch.no_grad():
        res = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, **extra)
    return _cache_of(res), _wide(res.logits[:, -1:]), mask


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


def _hooked(logits, hook, active: list[int], rows: list[_Row], props: list[list[int]]):
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


def _share_window(rows: list[_Row], props: list[list[int]], active: list[int], overhead: float) -> None:
    """Cut the body rows' proposals to the pass's best shared length; a pass that a whole-draft
    proposal (a row's first after its tag) makes wide anyway lets every row propose up to that."""
    body = [k for k in active if rows[k].phase == "body"]
    if not body:
        return
    w = pass_window([rows[k].accept_rate() if props[k] else 0.0 for k in body], overhead,
                    max(len(props[k]) for k in body))
    w = max(w, max((len(props[k]) for k in active if rows[k].phase != "body"), default=0))
    for k in body:
        props[k] = props[k][:w]


def _proposal(row: _Row, eos_id: int, max_new_tokens: int, score_draft: bool, window: int | None = None) -> list[int]:
    """The draft tokens proposed after the row's pending token (at most ``window``, default the
    row's own doubling window)."""
    out = row.out
    if row.phase == "tag":
        return []
    whole = row.draft + [eos_id]  # a copied draft ends where the draft ends
    if row.phase == "first":
        row.start = 0
        if score_draft:
            # The whole draft and the end of turn, even past the budget (what is accepted is capped
            # there): the pass then also gives the draft's log-likelihood, for the likelihood decision.
            row.full_draft = True
            return whole
        return whole[:row.window]
    room = max_new_tokens - (len(out.tokens) - out.tag_len) - 1  # leave room for the model's own next token
    if room <= 0:
        return []
    start = align(row.draft, out.tokens[out.tag_len:], row.hint)
    if start is None:
        return []
    row.start = start
    return whole[start:start + min(row.window if window is None else window, room)]


def _extend(row: _Row, new: list[int], logps: list[float], stop_ids: set[int], max_new_tokens: int,
            tag_budget: int, decide) -> bool:
    """Append accepted tokens to a row; True when the row is finished."""
    out = row.out
    for t, lp in zip(new, logps):
        out.tokens.append(t)
        row.pending = t
        if out.tag_len is not None:
            out.body_logprob += lp
        if t in stop_ids:
            out.stopped = True
            if out.tag_len is None:
                out.tag_len = len(out.tokens)
            return True
        if out.tag_len is None:
            spent = len(out.tokens) >= tag_budget
            verdict = decide(out.tokens, spent)
            if verdict is None and spent:
                verdict = False
            if verdict is not None:
                out.tag_len = len(out.tokens)
                if not verdict:
                    return True
                row.phase = "first"
                return False
        elif len(out.tokens) - out.tag_len >= max_new_tokens:
            return True
    return False
