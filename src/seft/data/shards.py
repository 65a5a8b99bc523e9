"""Work in fixed shards whose outputs are written atomically, so a killed generation resumes at
the first missing shard instead of starting over.

Shard boundaries depend only on the item index, never on timing, so a resumed run produces
exactly the records an uninterrupted one would (sampling is seeded per batch of a shard).
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Callable, Sequence

from .io import write_jsonl

__all__ = ["map_sharded", "read_jsonl"]

log = logging.getLogger(__name__)


def read_jsonl(path: Path) -> list[dict]:
    """Read a JSONL artifact this project wrote itself (already validated when written)."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def map_sharded(out: Path, items: Sequence[dict], fn: Callable[[list[dict]], list[dict]], *,
                shard_size: int) -> list[dict]:
    """``fn`` over ``items`` shard by shard; the merged result is written to ``out`` atomically.

    ``out`` existing means the whole map is complete and it is simply read back.
    """
    if out.exists():
        return read_jsonl(out)
    shard_dir = out.with_name(f".{out.name}.shards")
    shard_dir.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    n_shards = max(1, -(-len(items) // shard_size))
    for k in range(n_shards):
        path = shard_dir / f"{k:05d}.jsonl"
        if path.exists():
            results += read_jsonl(path)
            continue
        chunk = list(items[k * shard_size:(k + 1) * shard_size])
        done = fn(chunk) if chunk else []
        write_jsonl(path, done)
        results += done
        if n_shards > 1:
            log.info("%s: shard %d/%d done", out.name, k + 1, n_shards)
    write_jsonl(out, results)
    shutil.rmtree(shard_dir, ignore_errors=True)
    return results
