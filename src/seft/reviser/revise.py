"""``seft revise``: turn (prompt, draft) records into (prompt, final response) with the reviser.

Revision is adaptive in cost: a KEEP costs its tag line and nothing else. On the hf backend with
greedy decoding (the default), each draft takes one pass (:mod:`seft.generation.speculative`):
the prompt is prefilled once, the tag decoded, a KEEP stops there, and a revision continues from
the same cache with the draft as the speculation, so copying the draft's unchanged parts costs a
verifying pass instead of a decoding step per token. Elsewhere (vLLM, sampling, ``engine:
two_pass``) two passes: the tag line for every draft, then, with the tag forced as a prefix, the
revisions of the drafts whose tag asks for one.

Then the likelihood decision (``keep_margin``) makes revision adaptive in outcome: every changed
revision and its draft are scored by the reviser in one teacher-forced pass after the same tag
line, and the draft stands when the reviser finds it about as likely as its own revision. The
tag alone proved a poor judge of good drafts (README: the adaptive reviser).
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Sequence

from ..config.core import ConfigError
from ..config.reviser import ReviseCommandConfig, ReviseConfig
from ..generation.base import Generator, sampling_params
from ..generation.factory import check_backend
from .format import parse_output, parse_tag, reviser_messages, tag_prefixes

__all__ = ["check_likelihood_backend", "keeps_draft", "one_pass", "revise_drafts", "revision_stats", "run_revise",
           "tag_verdict"]

log = logging.getLogger(__name__)


def revise_drafts(generator: Generator, records: Sequence[dict], cfg: ReviseConfig, *,
                  tag_budget: int) -> list[dict]:
    """Revise ``records`` (each with ``prompt`` and ``draft``); one output record per input.

    ``tag_budget`` is the number of new tokens that always fits the longest tag line in the
    reviser's tokenizer.
    """
    tags = cfg.tags
    inputs = [reviser_messages(r["prompt"], r["draft"] if cfg.show_draft else "", cfg.template) for r in records]
    prefixes = tag_prefixes(tags)
    if one_pass(generator, cfg):
        # The draft is the speculation even when the reviser does not see it (show_draft false): it
        # only decides how many tokens a pass verifies, never what is generated.
        res = generator.revise(inputs, [r["draft"] for r in records], sampling_params(cfg.generation),
                               tag_budget=tag_budget, decide=lambda text, spent: tag_verdict(text, spent, tags),
                               speculate=cfg.speculate, speculation=cfg.speculation, pass_overhead=cfg.pass_overhead,
                               score_draft=cfg.keep_margin is not None, desc="revise",
                               tag_lines=list(prefixes.values()))  # KEEP first: a KEEP then ends in the prefill
        out = [_record(rec, parse_output(r["text"], tags, draft=rec["draft"], max_ratio=cfg.max_revision_ratio))
               for rec, r in zip(records, res)]
        if cfg.keep_margin is not None:
            scored = {i: (r["draft_logprob"], r["revision_logprob"]) for i, r in enumerate(res)
                      if r["draft_logprob"] is not None and r["revision_logprob"] is not None}
            levels = [o["level"] for o in out]
            _likelihood_decision(generator, inputs, out, [prefixes[lv] if lv else "" for lv in levels], cfg.keep_margin,
                                 scored=scored)
        return out
    heads = generator.generate(inputs, sampling_params(cfg.generation, max_new_tokens=tag_budget, stop=["\n"]),
                               desc="revise: tags")
    levels = [parse_tag(h, tags) for h in heads]
    todo = [i for i, lvl in enumerate(levels) if lvl in ("MINOR", "MAJOR")]
    bodies = generator.generate([inputs[i] for i in todo], sampling_params(cfg.generation),
                                prefixes=[prefixes[levels[i]] for i in todo], desc="revise: revisions") if todo else []
    texts = {i: prefixes[levels[i]] + body for i, body in zip(todo, bodies)}
    # KEEP and tagless outputs never reach pass 2: the head alone decides them.
    out = [_record(rec, parse_output(texts.get(i, heads[i]), tags, draft=rec["draft"], max_ratio=cfg.max_revision_ratio))
           for i, rec in enumerate(records)]
    if cfg.keep_margin is not None:
        _likelihood_decision(generator, inputs, out, [prefixes[lvl] if lvl else "" for lvl in levels], cfg.keep_margin)
    return out


def _record(rec: dict, parsed) -> dict:
    return {"id": rec["id"], "prompt": rec["prompt"], "draft": rec["draft"], "level": parsed.level,
            "final": parsed.final, "changed": parsed.changed, "fallback": parsed.fallback, "meta": rec.get("meta", {})}


def one_pass(generator, cfg: ReviseConfig) -> bool:
    """Whether revision runs as one greedy pass per draft (the hf engine) or in two passes."""
    return cfg.engine == "auto" and cfg.generation.temperature == 0 and hasattr(generator, "revise")


def tag_verdict(text: str, budget_spent: bool, tags: dict) -> bool | None:
    """The one-pass engine's question after each tag token: None while the tag line goes on, else
    whether a revision follows (MINOR, MAJOR) or the row stops here (KEEP, no tag). The line ends
    at a newline or when the tag budget is spent, as pass 1 of the two-pass scheme stops."""
    if "\n" not in text and not budget_spent:
        return None
    return parse_tag(text.split("\n", 1)[0], tags) in ("MINOR", "MAJOR")


def check_likelihood_backend(cfg: ReviseConfig) -> None:
    """Fail before any work when the likelihood decision is asked of a backend that cannot score text."""
    if cfg.keep_margin is not None and cfg.generation.backend != "hf":
        raise ConfigError(f"keep_margin: the likelihood decision needs the hf backend (revise.generation.backend "
                          f"is {cfg.generation.backend!r}); set keep_margin=null or backend=hf")


def keeps_draft(draft_logprob: float, revision_logprob: float, margin: float) -> bool:
    """The likelihood decision: the draft stands when the reviser finds it about as likely an answer
    as its own revision (within ``margin`` nats)."""
    return draft_logprob >= revision_logprob - margin


def _likelihood_decision(generator, inputs: list, out: list[dict], prefixes: list[str], margin: float, *,
                         scored: dict[int, tuple[float, float]] | None = None) -> None:
    """For every changed revision, score the draft and the revision after the same tag line; where
    the draft is within ``margin``, it stands (the record says so: ``decision: likelihood``).
    ``scored``: (draft, revision) log-likelihoods the one-pass engine already has (its verifying
    pass over the draft, its decoding of the revision); the rest are scored here in one pass."""
    todo = [i for i, r in enumerate(out) if r["changed"]]
    if not todo:
        return
    scored = dict(scored or {})
    rest = [i for i in todo if i not in scored]
    if rest:
        if not hasattr(generator, "continuation_logprobs"):
            raise ConfigError("keep_margin: the likelihood decision needs a backend that scores text (hf)")
        texts = [out[i]["draft"] for i in rest] + [out[i]["final"] for i in rest]
        lps = generator.continuation_logprobs([inputs[i] for i in rest] * 2, texts,
                                              prefixes=[prefixes[i] for i in rest] * 2, desc="revise: likelihood")
        scored.update({i: (lps[j], lps[len(rest) + j]) for j, i in enumerate(rest)})
    for i in todo:
        lp_draft, lp_rev = scored[i]
        out[i]["logprob_draft"], out[i]["logprob_revision"] = round(lp_draft, 4), round(lp_rev, 4)
        if keeps_draft(lp_draft, lp_rev, margin):
            # the revision the decision overruled stays in the record, for the audit and the report
            out[i].update(revision=out[i]["final"], final=out[i]["draft"], changed=False, decision="likelihood")


def revision_stats(revisions: Sequence[dict]) -> dict:
    """Level distribution, change rate and fallback counts of a batch of revisions."""
    n = len(revisions)
    levels = Counter(r["level"] or "none" for r in revisions)
    fallbacks = Counter(r["fallback"] for r in revisions if r["fallback"])
    changed = sum(r["changed"] for r in revisions)
    out = {"n": n, "levels": dict(sorted(levels.items())), "changed": changed,
           "changed_share": round(changed / n, 4) if n else 0.0, "fallbacks": dict(sorted(fallbacks.items()))}
    kept = sum(r.get("decision") == "likelihood" for r in revisions)
    if kept:  # revisions the likelihood decision turned back into the draft
        out["kept_by_likelihood"] = kept
    return out


def tag_token_budget(tokenizer, tags: dict) -> int:
    """New tokens that always fit a tag line (+1 for the newline, +1 for tokenizer merges)."""
    return max(len(tokenizer(t + "\n", add_special_tokens=False)["input_ids"]) for t in tags.values()) + 1


def run_revise(cfg: ReviseCommandConfig) -> Path:
    """Revise a JSONL file of (prompt, draft) records with a trained reviser; with ``judge`` set,
    also audit the revisions (``OUT`` with the suffix ``.audit.json``, rows in ``.audit.jsonl``)."""
    from ..data.io import atomic_write_json, write_jsonl
    from ..data.readers import load_records
    from ..generation.factory import build_generator

    for key in ("reviser", "input", "out"):
        if getattr(cfg, key) is None:
            raise ConfigError(f"{key}: required for `seft revise` (e.g. --set {key}=PATH)")
    check_backend(cfg.generation)
    check_likelihood_backend(cfg)
    drafts = [{"id": r.id, "prompt": r.prompt, "draft": r.response, "meta": r.meta}
              for r in load_records(cfg.input, "external", format=cfg.input_format).records]
    gen = build_generator(cfg.reviser, cfg.generation)
    try:
        revisions = revise_drafts(gen, drafts, cfg, tag_budget=tag_token_budget(gen.tokenizer, cfg.tags))
    finally:
        getattr(gen, "close", lambda: None)()  # a vLLM engine's GPU memory
    out = write_jsonl(Path(cfg.out), revisions)
    log.info("revised %d drafts: %s", len(revisions), revision_stats(revisions))
    if getattr(cfg, "judge", None) is not None:
        from ..evaluation.audit import audit_revisions
        from ..judges import get_judge

        a = cfg.audit
        rows, summary = audit_revisions(get_judge(cfg.judge), revisions, revisions, mode=a.mode, sample=a.sample,
                                        seed=a.seed, top_score=a.top_score)
        write_jsonl(out.with_suffix(".audit.jsonl"), rows)
        atomic_write_json(out.with_suffix(".audit.json"), summary)
        log.info("revision audit: %s", summary["overall"])
    return out
