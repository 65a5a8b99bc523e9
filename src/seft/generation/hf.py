"""Hugging Face ``generate`` backend: batched, length-sorted, left-padded, seedable.

Sorting by prompt length before batching keeps padding (wasted compute) small; results are put
back in input order. Sampling is seeded per batch from ``params.seed`` and the batch's first
input index, so outputs do not depend on what else was generated before in the process.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Sequence

from ..models.chat import render_prompts, stop_token_ids
from .base import SamplingParams, length_batches

__all__ = ["HFGenerator"]


def _cut_at_stop(text: str, stops: Sequence[str]) -> str:
    cut = len(text)
    for s in stops:
        i = text.find(s)
        if s and i != -1:
            cut = min(cut, i)
    return text[:cut]


def _engine_text(tok, tokens: Sequence[int], stops: set[int], stop_strings: Sequence[str]) -> str:
    """The one-pass engine's tokens as text, as generate's are read: turn ends dropped, stop strings cut."""
    return _cut_at_stop(tok.decode([t for t in tokens if t not in stops], skip_special_tokens=True), stop_strings)


class HFGenerator:
    """Generate with a loaded ``transformers`` causal LM and its tokenizer."""

    def __init__(self, model, tokenizer, *, batch_size: int = 32, show_progress: bool | None = None,
                 greedy_engine: bool = True, max_padding: float = 0.5):
        from ..data.logs import progress_enabled
        from ..models.loading import contiguous_head_inputs

        contiguous_head_inputs(model)  # bf16 on a CPU: a prefill's head would otherwise cost seconds and GiBs
        self.model, self.tokenizer = model, tokenizer
        self.batch_size = batch_size
        self.max_padding = max_padding  # see length_batches: a few long prompts do not pad a whole batch
        # greedy generate() through the one-pass engine (the same tokens; set False for transformers' own)
        self.greedy_engine = greedy_engine
        self.show_progress = progress_enabled() if show_progress is None else show_progress

    @contextmanager
    def _inference(self, total: int, desc: str):
        """Eval mode and a progress bar for one call; a model that was training trains again after."""
        from tqdm.auto import tqdm

        was_training = self.model.training
        self.model.eval()
        bar = tqdm(total=total, desc=desc, unit="seq", disable=None if self.show_progress else True, leave=False)
        try:
            yield bar
        finally:
            bar.close()
            if was_training:
                self.model.train()

    def _batches(self, lengths: Sequence[int], extra: int = 0):
        """Index batches over inputs sorted by length (little padding); results go back by index."""
        return length_batches(lengths, self.batch_size, extra=extra, max_padding=self.max_padding)

    def _pad_id(self) -> int:
        tok = self.tokenizer
        return tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id

    def generate(self, prompts: Sequence, params: SamplingParams, *,
                 prefixes: Sequence[str] | None = None, desc: str = "generate", logits_processor=None) -> list[str]:
        import torch

        tok = self.tokenizer
        texts = render_prompts(tok, prompts, prefixes)
        # The chat template already holds any special start tokens.
        ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
        if params.temperature == 0 and logits_processor is None and self.greedy_engine:
            return self._greedy(ids, params, desc)
        out: list[str | None] = [None] * len(ids)
        pad_id = self._pad_id()
        stops = sorted(stop_token_ids(tok, self.model))  # the same turn ends that training teaches
        with self._inference(len(ids), desc) as bar:
            for batch in self._batches([len(x) for x in ids], params.max_new_tokens):
                width = max(len(ids[i]) for i in batch)
                input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):  # left padding: the new tokens line up on the right
                    input_ids[row, width - len(ids[i]):] = torch.tensor(ids[i])
                    mask[row, width - len(ids[i]):] = 1
                kwargs = dict(max_new_tokens=params.max_new_tokens, pad_token_id=pad_id, eos_token_id=stops)
                if logits_processor is not None:  # a transformers LogitsProcessorList (benchmarks script outputs)
                    kwargs["logits_processor"] = logits_processor
                if params.temperature > 0:
                    torch.manual_seed(params.seed * 1_000_003 + batch[0])
                    kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
                else:
                    kwargs.update(do_sample=False)
                with torch.no_grad():  # inputs go where the model is (a GPU when the factory put it there)
                    gen = self.model.generate(input_ids=input_ids.to(self.model.device),
                                              attention_mask=mask.to(self.model.device), **kwargs)
                for row, i in enumerate(batch):
                    text = tok.decode(gen[row, width:], skip_special_tokens=True)
                    out[i] = _cut_at_stop(text, params.stop)
                bar.update(len(batch))
        return [o if o is not None else "" for o in out]

    def _greedy(self, ids: list[list[int]], params: SamplingParams, desc: str) -> list[str]:
        """Greedy decoding through the one-pass engine with no tag and no draft: the batch's shared
        prompt prefix is computed once and finished rows leave the batch (``generate`` keeps
        decoding padding for them until the batch's longest answer ends)."""
        import torch

        from .speculative import greedy_revise

        tok = self.tokenizer
        stops = stop_token_ids(tok, self.model)
        out: list[str] = [""] * len(ids)
        with self._inference(len(ids), desc) as bar, torch.no_grad():
            for batch in self._batches([len(x) for x in ids], params.max_new_tokens):
                results = greedy_revise(self.model, [ids[i] for i in batch], [[] for _ in batch], pad_id=self._pad_id(),
                                        stop_ids=stops, eos_id=tok.eos_token_id, max_new_tokens=params.max_new_tokens,
                                        tag_budget=0, decide=lambda ids_, spent: True, score_draft=False)
                for i, r in zip(batch, results):
                    out[i] = _engine_text(tok, r.tokens, stops, params.stop)
                bar.update(len(batch))
        return out

    def revise(self, prompts: Sequence, drafts: Sequence[str], params: SamplingParams, *, tag_budget: int,
               decide, speculate: int = 8, score_draft: bool = True, desc: str = "revise",
               logits_hook=None, speculation: str = "adaptive", pass_overhead: float | None = None,
               pass_cost=None, tag_lines: Sequence[str] = ()) -> list[dict]:
        """Greedy revision, one prefill per prompt, the draft as the speculation
        (:mod:`.speculative`). ``decide(tag_text, budget_spent)`` -> None (tag line not finished),
        False (stop: KEEP, no tag) or True (revise). One dict per prompt: ``text`` (tag line and
        revision), ``draft_logprob`` (draft + end of turn after the tag line; None when not scored),
        ``revision_logprob`` (the generated revision, end of turn included; None when it did not
        end), and the row's ``passes``, ``proposed`` and ``accepted`` draft tokens.
        ``logits_hook(index, generated_ids, logits)``: see :func:`.speculative.greedy_revise`
        (``index`` is the prompt's index here). ``speculation``: ``adaptive`` (each pass's proposal
        length from the cost of a pass, ``pass_overhead`` positions' worth of fixed cost, None: the
        device's default, and each row's acceptance rate) or ``doubling`` (``speculate`` tokens,
        doubled while proposals are taken whole). ``pass_cost``: a :class:`.proposals.PassCost`
        that records every timed pass (how benchmarks measure ``pass_overhead``). ``tag_lines``: the
        tag lines (newline included) the reviser writes, the likeliest first: speculated as the tag."""
        import torch

        from .proposals import Acceptance, default_pass_overhead
        from .speculative import greedy_revise

        overhead = None if speculation == "doubling" else (
            default_pass_overhead(self.model.device.type) if pass_overhead is None else pass_overhead)

        if params.temperature > 0:
            raise ValueError("revise() decodes greedily; sampled revisions go through generate()")
        tok = self.tokenizer
        heads = [tok(t, add_special_tokens=False)["input_ids"] for t in render_prompts(tok, prompts)]
        tails = [tok(d, add_special_tokens=False)["input_ids"] for d in drafts]
        lines = [tok(t, add_special_tokens=False)["input_ids"] for t in tag_lines]
        stops = stop_token_ids(tok, self.model)
        out: list[dict | None] = [None] * len(heads)

        def decide_ids(ids: list[int], spent: bool):
            return decide(tok.decode(ids, skip_special_tokens=True), spent)

        pool = Acceptance()  # how well the call's drafts are copied: the prior of each batch's rows
        with self._inference(len(heads), desc) as bar, torch.no_grad():
            for batch in self._batches([len(h) for h in heads], params.max_new_tokens):
                results = greedy_revise(self.model, [heads[i] for i in batch], [tails[i] for i in batch],
                                        pad_id=self._pad_id(), stop_ids=stops, eos_id=tok.eos_token_id,
                                        max_new_tokens=params.max_new_tokens, tag_budget=tag_budget,
                                        decide=decide_ids, speculate=speculate, score_draft=score_draft,
                                        overhead=overhead, cost=pass_cost, tag_lines=lines, pool=pool,
                                        logits_hook=None if logits_hook is None else
                                        (lambda k, ids, lg, batch=batch: logits_hook(batch[k], ids, lg)))
                for i, r in zip(batch, results):
                    out[i] = {"text": _engine_text(tok, r.tokens, stops, params.stop), "draft_logprob": r.draft_logprob,
                              "revision_logprob": r.body_logprob if r.stopped and r.tag_len < len(r.tokens) else None,
                              "passes": r.passes, "proposed": r.proposed, "accepted": r.accepted}
                bar.update(len(batch))
        return out

    def continuation_logprobs(self, prompts: Sequence, continuations: Sequence[str], *,
                              prefixes: Sequence[str] | None = None, desc: str = "score") -> list[float]:
        """Sum of log-probabilities (nats) of each continuation, then the end of turn, after its
        chat-templated prompt (and forced prefix): one teacher-forced forward pass per batch.

        The end-of-turn token counts, so a continuation is scored as a complete answer: a draft
        that is a strict prefix of the model's answer is not favoured for stopping early."""
        import torch

        tok = self.tokenizer
        heads = [tok(t, add_special_tokens=False)["input_ids"] for t in render_prompts(tok, prompts, prefixes)]
        tails = [tok(c, add_special_tokens=False)["input_ids"] + [tok.eos_token_id] for c in continuations]
        out = [0.0] * len(heads)
        with self._inference(len(heads), desc) as bar:
            for batch in self._batches([len(h) + len(t) for h, t in zip(heads, tails)]):
                width = max(len(heads[i]) + len(tails[i]) for i in batch)
                ids = torch.full((len(batch), width), self._pad_id(), dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):  # right padding: positions count from 0 in every row
                    seq = heads[i] + tails[i]
                    ids[row, :len(seq)] = torch.tensor(seq)
                    mask[row, :len(seq)] = 1
                with torch.no_grad():
                    logits = self.model(input_ids=ids.to(self.model.device),
                                        attention_mask=mask.to(self.model.device)).logits
                for row, i in enumerate(batch):  # log-softmax only at the continuation's positions
                    lo, hi = len(heads[i]), len(heads[i]) + len(tails[i])
                    rows = logits[row, lo - 1:hi - 1].float()
                    target = ids[row, lo:hi].to(rows.device)
                    out[i] = float((rows.gather(-1, target[:, None])[:, 0] - torch.logsumexp(rows, -1)).sum())
                bar.update(len(batch))
        return out
