"""One record kind read as another: the prompts of a preference set, the best answer of a scored
list as an external response, an Alpaca row's output as a response.

Users hold data in the shapes of published datasets, and a stage asks for one kind of record
(prompts to evolve on, external responses, eval prompts). An adapter turns a row into its
dataset's *native* kind; :func:`derive` then reads that record as the kind the stage wants,
whenever the native kind carries it:

=============  ===========================================================================
wanted         from
=============  ===========================================================================
prompts        any kind; a known good answer goes to ``meta.reference`` (never trained on)
external       external; a pair's chosen response; a scored list's best response (highest
               score, else rank 1); a prompt record's ``meta.reference`` (an Alpaca
               ``output``, a ShareGPT final ``gpt`` turn)
scored, pairs  only themselves (the reviser's and the baselines' loaders pick the kind)
=============  ===========================================================================

Ids are kept, so a prompt read from a preference file has the same id in every stage.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from .errors import DataError
from .schema import ExternalResponse, PreferencePair, PromptRecord, ScoredList

__all__ = ["DERIVABLE", "best_response", "derive", "derivable"]

# wanted kind -> native kinds it can be read from
DERIVABLE: dict[str, tuple[str, ...]] = {
    "prompts": ("prompts", "scored", "pairs", "external"),
    "external": ("external", "pairs", "scored", "prompts"),
    "scored": ("scored",),
    "pairs": ("pairs",),
}


def derivable(native: str, wanted: str) -> bool:
    return native in DERIVABLE.get(wanted, ())


def best_response(record: ScoredList) -> tuple[int, Any] | None:
    """``(index, response)`` of the best response of a scored list: the highest score, else the
    lowest rank (1 = best); the first one wins a tie. None when nothing is scored or ranked."""
    scored = [(i, r) for i, r in enumerate(record.responses) if r.score is not None]
    if scored:
        return max(scored, key=lambda ir: (ir[1].score, -ir[0]))
    ranked = [(i, r) for i, r in enumerate(record.responses) if r.rank is not None]
    if ranked:
        return min(ranked, key=lambda ir: (ir[1].rank, ir[0]))
    return None


def _reference(record: Any) -> str | None:
    """A known good answer of a record of any kind (for prompts' ``meta.reference``)."""
    if isinstance(record, PreferencePair):
        return record.chosen
    if isinstance(record, ScoredList):
        best = best_response(record)
        return best[1].text if best else None
    if isinstance(record, ExternalResponse):
        return record.response
    ref = record.meta.get("reference")
    return ref if isinstance(ref, str) else None


def derive(record: Any, wanted: str) -> Any:
    """``record`` (any kind) read as a record of kind ``wanted``; :class:`DataError` (field
    named, location added by the reader) when this row does not carry it."""
    native = _kind_of(record)
    if native == wanted:
        return record
    if not derivable(native, wanted):
        raise ValueError(f"{native} records cannot be read as {wanted}")
    if wanted == "prompts":
        meta = dict(record.meta)
        ref = _reference(record)
        if ref is not None:
            meta.setdefault("reference", ref)
        return PromptRecord(id=record.id, prompt=record.prompt, meta=meta)
    # wanted == "external"
    if isinstance(record, PreferencePair):
        return ExternalResponse(id=record.id, prompt=record.prompt, response=record.chosen,
                                source="chosen", meta=dict(record.meta))
    if isinstance(record, ScoredList):
        best = best_response(record)
        if best is None:
            raise DataError("no response has a score or a rank, so none is the best one to use "
                            "as the external response", field="responses")
        return ExternalResponse(id=record.id, prompt=record.prompt, response=best[1].text,
                                source=best[1].source, meta=dict(record.meta))
    ref = record.meta.get("reference")
    if not isinstance(ref, str):
        raise DataError("this row has no answer to use as the external response (an Alpaca "
                        "'output', or a ShareGPT conversation ending in a 'gpt' turn)",
                        field="meta.reference")
    meta = {k: v for k, v in record.meta.items() if k != "reference"}
    return ExternalResponse(id=record.id, prompt=record.prompt, response=ref, meta=meta)


_KIND_OF = {PromptRecord: "prompts", ScoredList: "scored", PreferencePair: "pairs",
            ExternalResponse: "external"}


def _kind_of(record: Any) -> str:
    if not dataclasses.is_dataclass(record) or type(record) not in _KIND_OF:
        raise TypeError(f"not a seft record: {type(record).__name__}")
    return _KIND_OF[type(record)]
