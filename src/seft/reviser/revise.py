"""``seft revise``: turn (prompt, draft) records into (prompt, final response) with the reviser.

Two passes make revision adaptive in cost: pass 1 generates only the tag line for every draft
(a few tokens); pass 2 continues, with the tag line forced as a prefix, only for drafts whose tag
asks for a revision. A KEEP therefore costs the tag and nothing else, on any backend.

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

__all__ = ["check_likelihood_backend", "keeps_draft", "revise_drafts", "revision_stats", "run_revise"]

log = logging.getLogger(__name__)


def revise_drafts(generator: Generator, records: Sequence[dict], cfg: ReviseConfig, *,
                  tag_budget: int) -> list[dict]:
    """Revise ``records`` (each with ``prompt`` and ``draft``); one output record per input.

    ``tag_budget`` is the number of new tokens that always fits the longest tag line in the
    reviser's tokenizer.
    """
    tags = cfg.tags
    inputs = [reviser_messages(r["prompt"], r["draft"] if cfg.show_draft else "", cfg.template) for r in records]
    heads = generator.generate(inputs, sampling_params(cfg.generation, max_new_tokens=tag_budget, stop=["\n"]),
                               desc="revise: tags")
    levels = [parse_tag(h, tags) for h in heads]
    todo = [i for i, lvl in enumerate(levels) if lvl in ("MINOR", "MAJOR")]
    prefixes = tag_prefixes(tags)
    bodies = generator.generate([inputs[i] for i in todo], sampling_params(cfg.generation),
                                prefixes=[prefixes[levels[i]] for i in todo], desc="revise: revisions") if todo else []
    texts = {i: prefixes[levels[i]] + body for i, body in zip(todo, bodies)}
    out = []
    for i, rec in enumerate(records):
        # KEEP and tagless outputs never reach pass 2: the head alone decides them.
        parsed = parse_output(texts.get(i, heads[i]), tags, draft=rec["draft"], max_ratio=cfg.max_revision_ratio)
        out.append({"id": rec["id"], "prompt": rec["prompt"], "draft": rec["draft"], "level": parsed.level,
                    "final": parsed.final, "changed": parsed.changed, "fallback": parsed.fallback,
                    "meta": rec.get("meta", {})})
    if cfg.keep_margin is not None:
        _likelihood_decision(generator, inputs, out, [prefixes[lvl] if lvl else "" for lvl in levels], cfg.keep_margin)
    return out


def check_likelihood_backend(cfg: ReviseConfig) -> None:
    """Fail before any work when the likelihood decision is asked of a backend that cannot score text."""
    if cfg.keep_margin is not None and cfg.generation.backend != "hf":
        raise ConfigError(f"keep_margin: the likelihood decision needs the hf backend (revise.generation.backend "
                          f"is {cfg.generation.backend!r}); set keep_margin=null or backend=hf")


def keeps_draft(draft_logprob: float, revision_logprob: float, margin: float) -> bool:
    """The likelihood decision: the draft stands when the reviser finds it about as likely an answer
    as its own revision (within ``margin`` nats)."""
    return draft_logprob >= revision_logprob - margin


def _likelihood_decision(generator, inputs: list, out: list[dict], prefixes: list[str], margin: float) -> None:
    """For every changed revision, score the draft and the revision after the same tag line; where
    the draft is within ``margin``, it stands (the record says so: ``decision: likelihood``)."""
    todo = [i for i, r in enumerate(out) if r["changed"]]
    if not todo:
        return
    if not hasattr(generator, "continuation_logprobs"):
        raise ConfigError("keep_margin: the likelihood decision needs a backend that scores text (hf)")
    texts = [out[i]["draft"] for i in todo] + [out[i]["final"] for i in todo]
    lps = generator.continuation_logprobs([inputs[i] for i in todo] * 2, texts, prefixes=[prefixes[i] for i in todo] * 2,
                                          desc="revise: likelihood")
    for j, i in enumerate(todo):
        lp_draft, lp_rev = lps[j], lps[len(todo) + j]
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
