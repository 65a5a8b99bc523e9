"""Judges: one interface (score, compare) over verifiable scorers, reward models and LLM APIs.

Heavy modules (torch/transformers for the reward model, the HTTP client) are imported only when
their judge is built, so importing ``seft.judges`` stays cheap.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import Judge

if TYPE_CHECKING:
    from ..config.common import JudgeConfig

__all__ = ["Judge", "get_judge", "judge_label"]

KINDS = ("testbed", "reward_model", "openai", "python")


def judge_label(cfg_or_name: "str | JudgeConfig | dict[str, Any]") -> str:
    """A short name for reports: ``testbed``, ``reward_model:PATH``, ``openai:MODEL`` or ``python:FUNCTION``."""
    if isinstance(cfg_or_name, str):
        return cfg_or_name
    get = cfg_or_name.get if isinstance(cfg_or_name, dict) else lambda k: getattr(cfg_or_name, k, None)
    kind, model = get("kind"), get("function") if get("kind") == "python" else get("model")
    return f"{kind}:{model}" if model else str(kind)


def get_judge(cfg_or_name: "str | JudgeConfig | dict[str, Any]") -> Judge:
    """A judge from a :class:`~seft.config.stages.JudgeConfig`, a mapping of its settings, or a
    bare kind name (``"testbed"``; the other kinds need a ``model`` and so a config)."""
    from ..config.common import JudgeConfig
    from ..config.core import from_dict

    if isinstance(cfg_or_name, str):
        if cfg_or_name not in KINDS:
            raise ValueError(f"unknown judge '{cfg_or_name}'; available: {', '.join(KINDS)}")
        if cfg_or_name != "testbed":
            raise ValueError(f"judge '{cfg_or_name}' needs settings (at least `model`): pass a JudgeConfig")
        cfg = JudgeConfig(kind=cfg_or_name)
    elif isinstance(cfg_or_name, dict):
        cfg = from_dict(JudgeConfig, cfg_or_name, prefix="judge")
    else:
        cfg = cfg_or_name
    if cfg.kind == "testbed":
        from .verifiable import TestbedJudge
        return TestbedJudge()
    if cfg.kind == "reward_model":
        from .reward_model import RewardModelJudge
        return RewardModelJudge(cfg.model, batch_size=cfg.batch_size, max_length=cfg.max_length)
    if cfg.kind == "python":
        from .python import PythonJudge
        return PythonJudge(cfg.function, cache_dir=cfg.cache_dir, use_cache=cfg.use_cache)
    if cfg.kind == "openai":
        from .openai_compatible import OpenAIJudge
        return OpenAIJudge(cfg)
    raise ValueError(f"unknown judge kind '{cfg.kind}'; available: {', '.join(KINDS)}")
