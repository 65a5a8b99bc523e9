"""A judge from a Python function: any verifier (unit tests for code, an answer checker for math,
instruction-constraint checkers) becomes a judge without a server.

``judge.kind: python`` with ``judge.function: "package.module:name"``, where
``name(record, response) -> float in [0, 1] | None`` (None: no judgment for this item, counted as
missing like a failed API call). ``record`` is the prompt record as a dict (``id``, ``prompt``,
``meta``): the place for a reference answer or the constraints to check.
"""
from __future__ import annotations

import importlib
import math
import os
import sys
from typing import Any, Callable, Sequence

from ..config.core import ConfigError

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


class PythonJudge:
    """Scores with ``fn(record, response)``; compare() prefers the higher score (0.5 on a tie)."""

    def __init__(self, spec: str):
        self.spec = spec
        self.name = f"python:{spec}"
        self._fn = load_function(spec)

    def score(self, records: Sequence[dict], responses: Sequence[str]) -> list[float | None]:
        return [self._check(self._fn(r, resp), r) for r, resp in zip(records, responses, strict=True)]

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
