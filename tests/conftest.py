"""Shared fixtures: a tiny testbed built once per test session (seconds, not minutes)."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

TINY_TESTBED = [
    "n_preferences=24", "n_prompts=64", "n_external=32", "n_eval=24", "n_eval_ood=12", "n_dev=12",
    "pretrain_examples=512", "pretrain_steps=30", "pretrain_batch=16",
    "model.hidden=32", "model.layers=2", "model.heads=2", "model.max_len=256",
]


def tiny_testbed_config(tmp, **extra):
    from seft.config import load_config
    from seft.config.testbed import TestbedConfig

    overrides = TINY_TESTBED + [f"cache_dir={tmp / 'cache'}"] + [f"{k}={v}" for k, v in extra.items()]
    return load_config(TestbedConfig, None, overrides)


@pytest.fixture(scope="session")
def tiny_testbed_settings():
    """The tiny testbed's overrides as ``key=value`` strings."""
    return list(TINY_TESTBED)


@pytest.fixture(scope="session")
def tiny_testbed_cfg():
    """``tiny_testbed_cfg(tmp, **overrides)`` -> a TestbedConfig of the tiny testbed."""
    return tiny_testbed_config


@pytest.fixture(scope="session")
def tiny_testbed(tmp_path_factory):
    """A built tiny testbed folder (shared, read-only for tests)."""
    from seft.testbed.build import run_testbed_build

    tmp = tmp_path_factory.mktemp("testbed")
    return run_testbed_build(tiny_testbed_config(tmp))
