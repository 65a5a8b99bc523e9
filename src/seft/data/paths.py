"""Where seft keeps its caches (built testbeds, judge replies)."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_path"]

_DEFAULT_ROOT = "~/.cache/seft"


def cache_path(path: str) -> Path:
    """Expand ``~``; the env var SEFT_CACHE replaces a leading ``~/.cache/seft``, so CI and
    shared machines can move every cache at once."""
    if os.environ.get("SEFT_CACHE") and path.startswith(_DEFAULT_ROOT):
        path = os.environ["SEFT_CACHE"] + path[len(_DEFAULT_ROOT):]
    return Path(path).expanduser()
