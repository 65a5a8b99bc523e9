"""One switch for progress output: bars and per-step logs show only when ``seft`` logs at INFO
(the CLI's default; ``-q`` turns both off)."""
from __future__ import annotations

import logging

__all__ = ["progress_enabled"]


def progress_enabled() -> bool:
    return logging.getLogger("seft").isEnabledFor(logging.INFO)
