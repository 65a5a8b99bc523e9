"""A judge from a Python function: any verifier (unit tests for code, an answer checker for math,
instruction-constraint checkers) becomes a judge without a server.

``judge.kind: python`` with ``judge.function: "package.module:name"``, where
``name(record, response) -> float in [0, 1] | None`` (None: no judgment for this item, counted as
missing like a failed API call). ``record`` is the prompt record as a dict (``id``, ``prompt``,
``meta``): the place for a reference answer or the constraints to check.

Batched: a function with the attribute ``batched = True`` is called once per batch as
``name(records, responses) -> list`` (one model call for many items, say); any other is called
per item. Cached like the API judges: each score is stored under a hash of the function's name,
its module's source file, the record (id, prompt, meta) and the response, so a rerun or a resumed
round pays only for what it has not scored, and editing the function's module starts afresh.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import math
import os
import sys
from typing import Any, Callable, Sequence

from ..config.core import ConfigError
from ..data.paths import cache_path
from .cache import JudgmentCache, request_key

__all__ = ["PythonJudge", "load_function"]


def load_function(spec: str) -> Callable[[dict, str], Any]:
    """``"package.module:name"`` -> the callable; ConfigError naming what is wrong."""
    if not isinstance(spec, str) or spec.count(":") != 1 or not all(spec.split(":")):
        raise ConfigError(f"judge.function: expected 'package.module:name', got {spec!r}")
    module_name, attr = spec.split(":")
    if os.getcwd() not in sys.path:  # the `seft` script's own folder is on the path, not the user's
        sys.path.append(os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        raise ConfigError(f"judge.function: module {module_name!r} not found ({err}); is it installed or on "
                          "PYTHONPATH?") from None
    fn = module
    for part in attr.split("."):  # "module:Class.method" works too
        if not hasattr(fn, part):
            raise ConfigError(f"judge.function: {module_name!r} has no attribute {attr!r}")
        fn = getattr(fn, part)
    if not callable(fn):
        raise ConfigError(f"judge.function: {spec} is a {type(fn).__name__}, not a function")
    return fn


def _source_digest(fn: Callable) -> str:
    """sha256 of the file that defines ``fn`` ("" when there is none, e.g. a builtin)."""
    try:
        path = inspect.getsourcefile(inspect.unwrap(fn))
    except TypeError:
        path = None
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


class PythonJudge:
    """Scores with ``fn(record, response)``; compare() prefers the higher score (0.5 on a tie)."""

    def __init__(self, spec: str, *, cache_dir: str | None = None, use_cache: bool = True, batch_size: int = 256):
        self.spec = spec
        self.name = f"python:{spec}"
        self._fn = load_function(spec)
        self.batched = bool(getattr(self._fn, "batched", False))
        self.batch_size = batch_size
        self.key = {"kind": "python", "function": spec, "source": _source_digest(self._fn)}
        self.cache = JudgmentCache(cache_path(cache_dir), self.key) if use_cache and cache_dir else None
        self.calls = 0  # items the function scored (cache hits excluded)

    def score(self, records: Sequence[dict], responses: Sequence[str]) -> list[float | None]:
        if len(records) != len(responses):
            raise ValueError(f"judge {self.spec}: {len(records)} records but {len(responses)} responses")
        keys = [self._key(r, resp) for r, resp in zip(records, responses)] if self.cache is not None \
            else [None] * len(records)
        out: list[float | None] = [None] * len(records)
        todo = []
        for i, key in enumerate(keys):
            hit = self.cache.get(key) if key else None
            if hit is not None:
                out[i] = json.loads(hit)
            else:
                todo.append(i)
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            values = self._call([records[i] for i in chunk], [responses[i] for i in chunk])
            for i, value in zip(chunk, values):
                out[i] = self._check(value, records[i])
                if keys[i]:
                    self.cache.put(keys[i], json.dumps(out[i]))
        return out

    def _call(self, records: list[dict], responses: list[str]) -> list[Any]:
        self.calls += len(records)
        if not self.batched:
            return [self._fn(r, resp) for r, resp in zip(records, responses)]
        values = self._fn(records, responses)
        if not isinstance(values, (list, tuple)) or len(values) != len(records):
            raise ValueError(f"judge {self.spec} is batched but returned {type(values).__name__} "
                             f"{'of length ' + str(len(values)) if isinstance(values, (list, tuple)) else ''} "
                             f"for {len(records)} items; expected a list with one score per item")
        return list(values)

    def _key(self, record: dict, response: str) -> str:
        item = {"id": record.get("id"), "prompt": record.get("prompt"), "meta": record.get("meta")}
        return request_key(self.key, [{"record": item, "response": response}])

    def compare(self, records: Sequence[dict], a: Sequence[str], b: Sequence[str]) -> list[float | None]:
        sa, sb = self.score(records, a), self.score(records, b)
        return [None if x is None or y is None else 0.5 if x == y else float(x > y) for x, y in zip(sa, sb)]

    def _check(self, value: Any, record: dict) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)) \
                or not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"judge {self.spec} returned {value!r} for record {record.get('id')!r}; expected a "
                             "number in [0, 1] or None")
        return float(value)
