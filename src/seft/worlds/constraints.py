"""IFEval constraints for the IF world: drawn with the checker library's own arguments and wording,
and the programmatic edits that make a response satisfy or violate them.

The checkers (what counts as satisfied) are ``if-verifiable``'s; nothing here re-implements one.
What is ours is (1) how a prompt's constraints are drawn (the library's argument sampler under a
seeded ``random``, a word limit a short answer can meet, no two conflicting types) and (2) the
edits: ``satisfy`` rewrites a response so that every constraint holds (the "stronger writer" and
the preference set's best response), ``violate`` so that none does. The edits are deliberately
mechanical (lowercase the text, append the required ending, cut it to N words, wrap it in quotes):
they are the revisions a reviser should learn to make, and the scorer, not the edit, decides how
good the result is.
"""
from __future__ import annotations

import json
import random
import re
from typing import Any

__all__ = ["Constraint", "describe", "render_prompt", "sample_constraints", "satisfy", "violate", "word_count"]

Constraint = dict  # {"id": "change_case:english_lowercase", "kwargs": {...}}

# At most one of these per prompt: each lays the whole text out its own way.
_LAYOUT = {"detectable_format:number_bullet_lists", "length_constraints:number_paragraphs",
           "detectable_format:multiple_sections", "detectable_format:json_format"}
# Pairs whose edits undo each other, beyond IFEval's own conflict table.
_EXTRA_CONFLICTS = {
    "detectable_format:json_format": {"startend:quotation", "startend:end_checker", "change_case:english_capital",
                                      "detectable_content:postscript"},
    "startend:quotation": {"detectable_format:number_bullet_lists"},
    # "SECTION 1" in a lowercase answer, "Section 1" in a capitalised one; highlight marks pair up
    # with a bullet's star and stop counting.
    "detectable_format:multiple_sections": {"change_case:english_lowercase", "change_case:english_capital"},
    "detectable_format:number_highlighted_sections": {"detectable_format:number_bullet_lists"},
    "keywords:existence": {"keywords:forbidden_words"},
}


def _registry():
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_CONFLICTS, INSTRUCTION_DICT
    return INSTRUCTION_DICT, INSTRUCTION_CONFLICTS


def _conflicts(a: str, b: str) -> bool:
    _, table = _registry()
    return (a == b or b in table.get(a, ()) or a in table.get(b, ()) or (a in _LAYOUT and b in _LAYOUT)
            or b in _EXTRA_CONFLICTS.get(a, ()) or a in _EXTRA_CONFLICTS.get(b, ()))


def describe(c: Constraint) -> str:
    """The constraint in the library's own words (``build_description`` with its arguments)."""
    checker = _registry()[0][c["id"]](c["id"])
    return checker.build_description(**c["kwargs"])


def _library_args(cid: str, rng: random.Random) -> dict[str, Any]:
    """The library's own argument draw for ``cid``, made reproducible: its sampler uses the global
    ``random``, so it runs under a seed from ``rng`` and the caller's global state is restored."""
    state = random.getstate()
    random.seed(rng.getrandbits(64))
    try:
        checker = _registry()[0][cid](cid)
        checker.build_description()
        return dict(checker.get_instruction_args() or {})
    finally:
        random.setstate(state)


def sample_constraints(rng: random.Random, types: list[str], k_min: int, k_max: int, max_words: int) -> list[Constraint]:
    """``k`` in [k_min, k_max] pairwise compatible constraints with their arguments."""
    k = rng.randint(k_min, k_max)
    chosen: list[Constraint] = []
    for cid in rng.sample(types, len(types)):
        if len(chosen) == k:
            break
        if any(_conflicts(cid, c["id"]) for c in chosen):
            continue
        kwargs = _library_args(cid, rng)
        if cid == "length_constraints:number_words":  # IFEval's 100-500 is beyond a short answer
            kwargs = {"num_words": rng.randint(max(2, max_words // 3), max_words), "relation": "less than"}
        chosen.append({"id": cid, "kwargs": kwargs})
    return sorted(chosen, key=lambda c: types.index(c["id"]))


def render_prompt(instruction: str, constraints: list[Constraint]) -> str:
    """The instruction, then each constraint's description (IFEval's prompts read the same way)."""
    return " ".join([instruction.strip(), *(describe(c) for c in constraints)])


# ----------------------------------------------------------------------------- the edits
_WORD = re.compile(r"\w+")


def word_count(text: str) -> int:
    """Words as IFEval's ``count_words`` counts them (runs of ``\\w``)."""
    return len(_WORD.findall(text))


_PLACEHOLDERS = ("name", "address", "date", "phone")  # one word each: a layout never splits one
_FILLER = "This is the main point to keep in mind.".split()


def _chunks(text: str, n: int) -> list[str]:
    words = text.split()
    while len(words) < n:
        words += _FILLER
    size, extra = divmod(len(words), n)
    out, i = [], 0
    for j in range(n):
        step = size + (j < extra)
        out.append(" ".join(words[i:i + step]))
        i += step
    return out


def _title(instruction: str) -> str:
    words = _WORD.findall(instruction)[:4] or ["Answer"]
    return " ".join(w.capitalize() for w in words)


def _layout(body: str, c: Constraint) -> str:
    cid, kw = c["id"], c["kwargs"]
    if cid == "detectable_format:number_bullet_lists":
        return "\n".join("* " + chunk for chunk in _chunks(body, kw["num_bullets"]))
    if cid == "length_constraints:number_paragraphs":
        return "\n\n***\n\n".join(_chunks(body, kw["num_paragraphs"]))
    if cid == "detectable_format:multiple_sections":
        spl = kw["section_spliter"]
        return "\n\n".join(f"{spl} {i}\n{chunk}" for i, chunk in enumerate(_chunks(body, kw["num_sections"]), 1))
    return body


def _highlight(body: str, n: int) -> str:
    """Mark the first ``n`` words (runs with a letter, so never a code fence or a bullet) *like this*."""
    tokens, done = re.split(r"(\s+)", body), 0
    for i, tok in enumerate(tokens):
        if done == n:
            break
        if re.search(r"[A-Za-z]", tok) and "*" not in tok:
            tokens[i], done = f"*{tok}*", done + 1
    text = "".join(tokens)
    return text + "".join(" *note*" for _ in range(n - done))


def _assemble(body: str, cs: dict[str, dict], instruction: str) -> str:
    """Apply every constraint's edit to ``body`` in an order where no edit undoes another."""
    if not body.strip():  # an empty answer fails every checker, whatever is added to it
        body = "Here is my answer to your question."
    if "keywords:forbidden_words" in cs:
        for w in cs["keywords:forbidden_words"]["forbidden_words"]:
            body = re.sub(r"\b" + re.escape(w) + r"\b", "", body, flags=re.IGNORECASE)
        body = re.sub(r"[ \t]{2,}", " ", body)
    if "keywords:existence" in cs:
        body = body.rstrip() + " It comes down to " + " and ".join(cs["keywords:existence"]["keywords"]) + "."
    if "detectable_content:number_placeholders" in cs:
        n = cs["detectable_content:number_placeholders"]["num_placeholders"]
        body = body.rstrip() + " " + " ".join(f"[{_PLACEHOLDERS[i % 4]}{i // 4 or ''}]" for i in range(n))
    if "detectable_format:number_highlighted_sections" in cs:
        body = _highlight(body, cs["detectable_format:number_highlighted_sections"]["num_highlights"])
    for cid, kw in cs.items():
        if cid in _LAYOUT:
            body = _layout(body, {"id": cid, "kwargs": kw})
    text = body.strip()
    if "detectable_format:title" in cs:
        text = f"<<{_title(instruction)}>>\n\n{text}"
    if "detectable_content:postscript" in cs:
        text += f"\n\n{cs['detectable_content:postscript']['postscript_marker']} I hope this helps."
    if "startend:end_checker" in cs:
        text += "\n" + cs["startend:end_checker"]["end_phrase"]
    if "change_case:english_lowercase" in cs:
        text = text.lower()
    if "change_case:english_capital" in cs:
        text = text.upper()
    if "punctuation:no_comma" in cs:
        text = text.replace(",", "")
    if "startend:quotation" in cs:
        text = '"' + text.strip('"') + '"'
    if "detectable_format:json_format" in cs:
        text = json.dumps({"response": text})
    return text


def satisfy(text: str, constraints: list[Constraint], instruction: str = "") -> str:
    """``text`` edited so that every constraint holds (the scorer has the last word). A word limit
    trims the original words until the edited whole fits, so the other edits' words still fit."""
    cs = {c["id"]: c["kwargs"] for c in constraints}
    out = _assemble(text, cs, instruction)
    limit = cs.get("length_constraints:number_words", {}).get("num_words")
    if limit is not None:
        words = text.split()
        while len(words) > 1 and word_count(out) >= limit:
            words = words[:-max(1, len(words) // 8)]
            out = _assemble(" ".join(words), cs, instruction)
    return out


def violate(text: str, constraints: list[Constraint]) -> str:
    """``text`` edited so that no constraint holds (each edit a small, visible defect)."""
    for c in constraints:
        cid, kw = c["id"], c["kwargs"]
        if cid == "change_case:english_lowercase":
            text = "Note: " + text
        elif cid == "change_case:english_capital":
            text = "note: " + text.lower()
        elif cid == "punctuation:no_comma":
            text = "Well, " + text
        elif cid == "startend:end_checker":
            text = re.sub(re.escape(kw["end_phrase"]), "", text, flags=re.IGNORECASE).rstrip() + "\nThat is all."
        elif cid == "startend:quotation":
            text = text.strip().strip('"') + " (end)"
        elif cid == "detectable_content:postscript":
            text = re.sub(r"(?im)^\s*p\.\s?(p\.\s?)?s\.?.*$", "", text)
        elif cid == "detectable_content:number_placeholders":
            text = re.sub(r"\[.*?\]", "", text)
        elif cid == "detectable_format:title":
            text = re.sub(r"<<[^\n]*?>>", "", text)
        elif cid == "detectable_format:number_highlighted_sections":
            text = text.replace("*", "")
        elif cid == "detectable_format:number_bullet_lists":
            text = re.sub(r"(?m)^\s*[*-]\s?", "", text)  # no bullets; IFEval asks for 1 to 5
        elif cid == "detectable_format:multiple_sections":
            text = re.sub(re.escape(kw["section_spliter"]) + r"\s?\d+", "", text)
        elif cid == "detectable_format:json_format":
            text = "Answer: " + text
        elif cid == "keywords:existence":
            for w in kw["keywords"]:
                text = re.sub(re.escape(w), "", text, flags=re.IGNORECASE)
        elif cid == "keywords:forbidden_words":
            text = text.rstrip() + " " + " ".join(kw["forbidden_words"]) + "."
        elif cid == "length_constraints:number_words":
            while word_count(text) < kw["num_words"]:
                text = (text + " " + text) if word_count(text) else "word " * kw["num_words"]
        elif cid == "length_constraints:number_paragraphs":
            text = re.sub(r"\s?\*\*\*\s?", "\n\n", text) + ("\n\n***\n\nOne more." if kw["num_paragraphs"] == 1 else "")
    return text
