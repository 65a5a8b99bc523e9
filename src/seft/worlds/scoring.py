"""The IF world's scorers, for ``judge.kind: python``: the share of a prompt's instructions a
response follows, checked by ``if-verifiable`` (IFEval's and IFBench's own checkers).

A record carries what to check in ``meta``: ``instruction_id_list``, ``kwargs`` (one argument
object per instruction) and ``registry`` (``ifeval``, the default, or ``ifbench``). ``strict``
checks the response as it is; ``loose`` also accepts it with the first or last line, or markdown
asterisks, removed (IFEval's loose accuracy). Both give partial credit (IFEval's
instruction-level accuracy, per prompt); ``strict_all`` is the prompt-level 0/1.

Offline, some checkers cannot run: IFBench's import asks NLTK to download punkt, punkt_tab, a
POS tagger and the stopword list, which are not pip packages. The download is refused (no
network call is made), and an instruction whose checker then needs that data is left out of its
prompt's score; a prompt with no checkable instruction scores None (no judgment), so the set's
mean covers the prompts that can be checked. ``unavailable_types`` says which types those are.
"""
from __future__ import annotations

import functools

__all__ = ["check", "loose", "strict", "strict_all", "unavailable_types"]

_UNAVAILABLE: set[str] = set()


@functools.lru_cache(maxsize=None)
def _registry(name: str) -> dict:
    import langdetect
    import nltk

    langdetect.DetectorFactory.seed = 0  # langdetect samples: without a seed a score could change between calls
    if name == "ifeval":
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
        return INSTRUCTION_DICT
    if name != "ifbench":
        raise ValueError(f"meta.registry: {name!r} is not a checker registry; expected ifeval or ifbench")
    download = nltk.download
    nltk.download = lambda *args, **kwargs: False  # importing IFBench's checkers would fetch NLTK data
    try:
        from if_verifiable.ifbench.instructions_registry import INSTRUCTION_DICT
    finally:
        nltk.download = download
    return INSTRUCTION_DICT


def _spec(record: dict) -> tuple[str, list[str], list[dict]]:
    meta = record.get("meta") or {}
    ids, kwargs = meta.get("instruction_id_list"), meta.get("kwargs")
    if not isinstance(ids, list) or not isinstance(kwargs, list) or len(ids) != len(kwargs):
        raise ValueError(f"record {record.get('id')!r}: meta needs instruction_id_list and kwargs of the same length "
                         "(an IF-world or IFBench record)")
    return meta.get("registry", "ifeval"), ids, kwargs


def check(record: dict, response: str) -> list[tuple[str, bool, bool]]:
    """``(instruction_id, strict_pass, loose_pass)`` per checkable instruction of the record."""
    from if_verifiable.common import evaluate_instructions

    name, ids, kwargs = _spec(record)
    registry = _registry(name)
    out = []
    for iid, kw in zip(ids, kwargs):
        if iid not in registry:
            raise ValueError(f"record {record.get('id')!r}: {iid!r} is not an instruction of the {name} checkers")
        try:
            results, _ = evaluate_instructions(response, [iid], [kw or {}], record.get("prompt", ""), registry)
        except LookupError:  # the checker needs NLTK data that is not installed (see the module doc)
            _UNAVAILABLE.add(iid)
            continue
        # An empty response yields no results (the library's rule): it fails every instruction.
        passed = results[0] if results else None
        out.append((iid, bool(passed and passed.strict_pass), bool(passed and passed.loose_pass)))
    return out


def _share(results: list[tuple[str, bool, bool]], column: int) -> float | None:
    return sum(r[column] for r in results) / len(results) if results else None


def strict(record: dict, response: str) -> float | None:
    """Share of the record's instructions the response follows as it is (None: none checkable)."""
    return _share(check(record, response), 1)


def loose(record: dict, response: str) -> float | None:
    """Share followed by the response or one of IFEval's loose variants of it."""
    return _share(check(record, response), 2)


def strict_all(record: dict, response: str) -> float | None:
    """1.0 when every checkable instruction is followed strictly (IFEval's prompt-level accuracy)."""
    results = check(record, response)
    return float(all(r[1] for r in results)) if results else None


def unavailable_types() -> list[str]:
    """Instruction types skipped so far in this process because their checker lacks NLTK data."""
    return sorted(_UNAVAILABLE)
