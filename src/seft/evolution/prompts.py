"""Sources of unannotated prompts: a file, or a built world's unlimited stream (testbed or IF world).

A source hands out consecutive slices, so round k takes prompts nobody used before (unless the
config says to reuse them).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..config.core import ConfigError
from ..data.errors import DataError

__all__ = ["PromptSource", "judge_records", "open_prompt_source"]


class PromptSource:
    def __init__(self, records=None, stream=None, name: str = ""):
        self._records, self._stream, self.name = records, stream, name

    def slice(self, start: int, n: int, round_k: int | None = None) -> list[dict]:
        if self._stream is not None:
            return [r.to_dict() for r in self._stream(start, n)]
        chunk = self._records[start:start + n]
        if not chunk:
            who = f"round {round_k}" if round_k is not None else "the round"
            raise DataError(f"the prompt source is exhausted: it holds {len(self._records)} prompts and {who} "
                            f"needs prompts from #{start}; add prompts, lower prompts_per_round, or set "
                            "reuse_prompts=true", path=self.name)
        return chunk


def open_prompt_source(spec: str, format: str = "seft") -> PromptSource:
    """``testbed:DIR`` for the testbed's stream, else any file/folder/hub name of prompt records in
    ``format`` (seft, or a published prompt shape such as alpaca or sharegpt)."""
    if spec.startswith("testbed:"):
        return _testbed_stream(Path(spec[len("testbed:"):]))
    from ..data.readers import load_records

    return PromptSource(records=[r.to_dict() for r in load_records(spec, "prompts", format=format).records], name=spec)


def _testbed_manifest(root: Path) -> dict:
    if not (root / "manifest.json").exists():
        raise ConfigError(f"prompts: {root} is not a built testbed (no manifest.json)")
    return json.loads((root / "manifest.json").read_text())


def _if_world(root: Path, manifest: dict) -> dict | None:
    """The IF world's draw settings when ``root`` is one (None: the testbed)."""
    from ..worlds import ifworld

    return ifworld.load_world(root) if manifest.get("world") == "if" else None


def _testbed_stream(root: Path) -> PromptSource:
    import itertools

    from ..data.shards import read_jsonl
    from ..testbed.splits import prompt_stream
    from ..worlds import ifworld

    manifest = _testbed_manifest(root)
    held_out = frozenset(r["prompt"] for name in ("eval.jsonl", "eval_ood.jsonl") for r in read_jsonl(root / name))
    world = _if_world(root, manifest)

    def stream(start: int, n: int):
        # Skip by position in the filtered stream, so slices tile it exactly.
        it = ifworld.prompt_stream(world, exclude=held_out) if world is not None else \
            prompt_stream(manifest["seed"], manifest["tasks"], exclude=held_out)
        return itertools.islice(it, start, start + n)

    return PromptSource(stream=stream, name=str(root))


def judge_records(spec: str | None, records: list[dict]) -> list[dict]:
    """What the judge sees of each record (the revision audit): the record itself, plus, for a
    world's prompts and external responses, what its scorer needs rebuilt from the id (the
    testbed's reference answer, the IF world's constraints). The reviser and the policy never get
    these copies."""
    if not spec or not spec.startswith("testbed:"):
        return records
    from ..testbed.splits import reference_of
    from ..worlds import ifworld

    root = Path(spec[len("testbed:"):])
    manifest = _testbed_manifest(root)
    world = _if_world(root, manifest)
    out = []
    for r in records:
        meta = dict(r.get("meta") or {})
        if world is not None:
            meta.update(ifworld.judge_meta(world, r["id"], r["prompt"]) or {})
        else:
            ref = reference_of(manifest["seed"], manifest["tasks"], r["id"], r["prompt"])
            if ref is not None:
                meta["reference"] = ref
        out.append({"id": r["id"], "prompt": r["prompt"], "meta": meta})
    return out
