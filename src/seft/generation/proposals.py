"""The proposal side of the revision engine (:mod:`.speculative`): each row's state, where in
the draft the next proposal starts, and how long it is.

How many draft tokens a verifying pass proposes follows from what a pass costs (a fixed part,
``overhead`` positions' worth, plus one unit per position computed) and how often each row's
proposals were accepted so far, shrunk towards the rate of every row of the call so far
(:class:`Acceptance`, :func:`pass_window`): where every position costs (a CPU), rows
that keep being edited get short proposals; where a pass costs about the same at any width (a
GPU), long ones. ``overhead`` is a setting, not a clock reading, so that a run computes the same
thing every time (:class:`PassCost` measures it). The lengths change only the speed and the
shapes of the passes: every accepted token is verified.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Acceptance", "CPU_PASS_OVERHEAD", "GPU_PASS_OVERHEAD", "MAX_PROPOSAL", "PassCost", "RevisionOut", "Row", "align",
           "default_pass_overhead", "pass_window", "propose", "share_window", "tag_rest"]


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


NEAR = 4  # a one-token match counts only this close to the hint


def align(draft: Sequence[int], body: Sequence[int], hint: int) -> int | None:
    """Where in ``draft`` the next proposal starts, given the ``body`` generated so far: after the
    occurrence (closest to ``hint``) of the body's last 3, 2 or 1 tokens; else ``hint`` (the draft
    token after the one just replaced); None when nothing is left to propose.

    A single token is weak evidence: after a replaced word its new token often occurs elsewhere in
    the draft (a comma, "the"), and jumping there costs a wasted pass, while the hint is right for
    a substitution. So a one-token match only moves the start within ``NEAR`` tokens of the hint (a
    short deletion); a longer jump waits for a two-token match, one pass later
    (``benchmarks/proposal_sim.py``: on the revision benchmark's drafts, token and word edits, 50%
    and 80% KEEP, 6-19% fewer passes at the default overhead, 4-12% less modelled time)."""
    for n in (3, 2, 1):
        if len(body) < n:
            continue
        tail = list(body[-n:])
        hits = [i + n for i in range(len(draft) - n + 1) if list(draft[i:i + n]) == tail]
        if n == 1:
            hits = [h for h in hits if abs(h - hint) <= NEAR]
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
# ~1.5 ms per position at full width (STACK.md), ~40 positions; benchmarks/revise_speed.py fitted
# 54-96 over the engine's passes (the best length changes little across that range). On a GPU a
# position costs next to nothing at the widths revision uses and a pass is mostly launches and
# weight reads: proposals as long as the draft.
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


def tag_rest(generated: Sequence[int], tag_lines: Sequence[Sequence[int]]) -> list[int]:
    """The rest of the first tag line that begins with the ``generated`` tokens (nothing when none
    does, or when one ends there)."""
    n = len(generated)
    for line in tag_lines:
        if len(line) > n and list(line[:n]) == list(generated):
            return list(line[n:])
    return []


@dataclass
class Row:
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

    def accept_rate(self, prior: float = 0.5) -> float:
        """The row's acceptance rate, shrunk towards ``prior`` (two tokens' worth of evidence)."""
        return (self.checked - self.rejected + 2 * prior) / (self.checked + 2)


@dataclass
class Acceptance:
    """Proposed tokens verified and rejected over every row so far (of a batch, or of a whole
    ``revise`` call): the prior of a row with little evidence of its own. Revisions copy most of
    their drafts or almost none of them, and a call's rows are alike: the pool says which."""
    checked: int = 0
    rejected: int = 0

    def add(self, checked: int, rejected: int) -> None:
        self.checked += checked
        self.rejected += rejected

    def rate(self) -> float:
        return (self.checked - self.rejected + 1) / (self.checked + 2)  # Laplace: 1/2 before any evidence


def share_window(rows: list[Row], props: list[list[int]], active: list[int], overhead: float,
                 pool: Acceptance | None = None) -> None:
    """Cut the draft proposals to the pass's best shared length, each row's acceptance rate shrunk
    towards the ``pool``'s; a pass that a whole-draft proposal (a row's first after its tag, when
    the draft is scored) makes wide anyway lets every row propose up to that."""
    whole = [k for k in active if rows[k].phase == "first" and rows[k].full_draft]
    cut = [k for k in active if rows[k].phase != "tag" and k not in whole]
    if not cut:
        return
    prior = pool.rate() if pool is not None else 0.5
    w = pass_window([rows[k].accept_rate(prior) if props[k] else 0.0 for k in cut], overhead,
                    max(len(props[k]) for k in cut))
    w = max(w, max((len(props[k]) for k in whole), default=0))
    for k in cut:
        props[k] = props[k][:w]


def propose(row: Row, eos_id: int, max_new_tokens: int, score_draft: bool, window: int | None = None,
            tag_lines: Sequence[Sequence[int]] = ()) -> list[int]:
    """The tokens proposed after the row's pending token: while the tag line is decoded, the rest
    of the first of ``tag_lines`` that its tokens so far begin; then the draft's (at most
    ``window``, default the row's own doubling window)."""
    out = row.out
    if row.phase == "tag":
        return tag_rest(out.tokens, tag_lines)
    whole = row.draft + [eos_id]  # a copied draft ends where the draft ends
    if row.phase == "first":
        row.start = 0
        if score_draft:
            # The whole draft and the end of turn, even past the budget (what is accepted is capped
            # there): the pass then also gives the draft's log-likelihood, for the likelihood decision.
            row.full_draft = True
            return whole
        return whole[:row.window if window is None else window]
    room = max_new_tokens - (len(out.tokens) - out.tag_len) - 1  # leave room for the model's own next token
    if room <= 0:
        return []
    start = align(row.draft, out.tokens[out.tag_len:], row.hint)
    if start is None:
        return []
    row.start = start
    return whole[start:start + min(row.window if window is None else window, room)]
