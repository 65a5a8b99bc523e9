"""The reviser's input and output format (METHOD.md section 3).

Input: ONE user message holding the instruction (every turn of a multi-turn prompt, as plain
text) and the draft. One message, not a replayed conversation, because some chat templates
reject system messages or two user turns in a row, and the reviser must work with any template.
The wording is short plain ASCII: the testbed's tiny character-level model reads every char.

Output: one tag line, then, unless the tag is KEEP, the revised response. A KEEP costs only the
tag's few tokens, which is what makes revision adaptive in cost. Anything that does not parse
falls back to the draft with a named reason, so callers can count fallbacks instead of silently
losing drafts.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..config.reviser import DEFAULT_TEMPLATE, LEVELS
from ..models.chat import to_messages

__all__ = [
    "FALLBACKS",
    "REVISER_TEMPLATE",
    "ParsedRevision",
    "parse_output",
    "parse_tag",
    "render_instruction",
    "render_target",
    "reviser_messages",
    "tag_prefixes",
]

REVISER_TEMPLATE = DEFAULT_TEMPLATE  # one default, defined with the configs
FALLBACKS = ("no_tag", "empty_revision", "runaway", "unknown_tag")
RUNAWAY_SLACK = 32  # chars always allowed on top of max_ratio * len(draft): short drafts grow


def render_instruction(prompt) -> str:
    """A prompt as plain text: a lone user turn is its content; anything else (multi-turn, or
    with a system message) is one ``Role: content`` line per message."""
    messages = to_messages(prompt)
    if len(messages) == 1 and messages[0].get("role") == "user":
        return messages[0]["content"]
    return "\n".join(f"{str(m['role']).capitalize()}: {m['content']}" for m in messages)


def reviser_messages(prompt, draft: str, template: str = REVISER_TEMPLATE) -> list[dict]:
    """The reviser's chat input for ``draft`` answering ``prompt`` (string or message list)."""
    text = template.format(instruction=render_instruction(prompt), draft=draft)
    return [{"role": "user", "content": text}]


def render_target(level: str, revision: str | None, tags: Mapping[str, str]) -> str:
    """What the reviser learns to emit: KEEP -> the tag alone; MINOR/MAJOR -> tag, newline,
    revision (stripped: the parser strips it too, so training and parsing agree)."""
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {list(LEVELS)}")
    if level == LEVELS[0]:
        return tags[level]
    body = (revision or "").strip()
    if not body:
        # An empty target would teach the reviser to emit empty revisions.
        raise ValueError(f"a {level} target needs a non-empty revision")
    return f"{tags[level]}\n{body}"


def tag_prefixes(tags: Mapping[str, str]) -> dict[str, str]:
    """Level -> the tag line as a forced prefix (tag + newline) for two-pass generation: first
    generate only the tag line, then, for MINOR/MAJOR, continue after this prefix."""
    return {level: f"{tags[level]}\n" for level in LEVELS}


def _common_affixes(tags: Mapping[str, str]) -> tuple[str, str]:
    values = [tags[level] for level in LEVELS]
    pre = values[0]
    for v in values[1:]:
        while not v.startswith(pre):
            pre = pre[:-1]
    suf = values[0]
    for v in values[1:]:
        while not v.endswith(suf):
            suf = suf[1:]
    return pre, suf


def _split_tag(text: str, tags: Mapping[str, str]) -> tuple[str | None, str, str | None]:
    """(level, rest, problem) for a raw output. The first line must be a tag; a line that
    starts with a known tag (``[MINOR] text``) is accepted, the line's tail joining the rest,
    because small models often skip the newline. Longest tag first, so no tag shadows another."""
    body = text.lstrip()
    first, _, rest = body.partition("\n")
    line = first.strip()
    for level in sorted(LEVELS, key=lambda lv: -len(tags[lv])):
        tag = tags[level]
        if line == tag:
            return level, rest, None
        if line.startswith(tag):
            return level, line[len(tag):] + "\n" + rest, None
    pre, suf = _common_affixes(tags)
    # "[FOO]" when the tags are "[KEEP]"...: a tag-shaped line, worth telling apart from prose.
    if (pre or suf) and len(line) > len(pre) + len(suf) and line.startswith(pre) \
            and line.endswith(suf) and " " not in line:
        return None, rest, "unknown_tag"
    return None, body, "no_tag"


def parse_tag(text: str, tags: Mapping[str, str]) -> str | None:
    """The level named by the first line of ``text`` (leading whitespace tolerated), or None."""
    return _split_tag(text, tags)[0]


@dataclass(frozen=True)
class ParsedRevision:
    """A reviser output read back. ``final`` is the response to use (the draft on a fallback);
    ``level`` is the parsed tag (kept on empty/runaway revisions, for the level statistics)."""
    level: str | None
    final: str
    changed: bool
    fallback: str | None  # None or one of FALLBACKS


def parse_output(text: str, tags: Mapping[str, str], *, draft: str,
                 max_ratio: float = 4.0) -> ParsedRevision:
    """Read a reviser output: KEEP -> the draft (anything after the tag ignored); MINOR/MAJOR ->
    the text after the tag line, stripped. Falls back to the draft on no tag, an unknown tag,
    an empty revision, or a revision longer than ``max_ratio * len(draft) + 32`` chars (a model
    that does not stop would otherwise replace a draft with a wall of repetition)."""
    level, rest, problem = _split_tag(text, tags)
    if level is None:
        return ParsedRevision(None, draft, False, problem)
    if level == LEVELS[0]:
        return ParsedRevision(level, draft, False, None)
    revision = rest.strip()
    if not revision:
        return ParsedRevision(level, draft, False, "empty_revision")
    if len(revision) > max_ratio * len(draft) + RUNAWAY_SLACK:
        return ParsedRevision(level, draft, False, "runaway")
    return ParsedRevision(level, revision, revision != draft, None)
