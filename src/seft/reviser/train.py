"""``seft reviser train``: SFT of the reviser on its examples, loss on the reviser's output only."""
from __future__ import annotations

import logging
from pathlib import Path

from ..config.core import ConfigError
from ..config.reviser import ReviserTrainConfig
from ..data.shards import read_jsonl

__all__ = ["run_reviser_train"]

log = logging.getLogger(__name__)


def run_reviser_train(cfg: ReviserTrainConfig) -> Path:
    from ..training.sft import train_sft

    for key in ("data", "base_model", "out"):
        if getattr(cfg, key) is None:
            raise ConfigError(f"{key}: required for `seft reviser train` (e.g. --set {key}=PATH)")
    if not Path(cfg.data).is_file():
        raise FileNotFoundError(f"data: {cfg.data} does not exist; build it with `seft reviser data`")
    # prompt = the reviser's input messages, completion = tag (+ revision): the prompt/completion
    # shape makes the trainer put the loss on the completion only.
    examples = [{"prompt": e["prompt"], "completion": e["completion"]} for e in read_jsonl(Path(cfg.data))]
    result = train_sft(cfg.base_model, examples, Path(cfg.out), cfg.train)
    log.info("reviser trained on %d examples in %.0f s -> %s", len(examples),
             result.metrics.get("wall_seconds", 0.0), result.path)
    return Path(result.path)
