"""Tiny models built in-process for the training tests: nothing is downloaded."""
from __future__ import annotations

import os
import signal
import socket
import subprocess

import pytest

from tiny_models import _one_torch_thread, make_tiny_model_dir  # noqa: F401  (shared; autouse here)

LETTERS = "abcdefgh"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(scope="session")
def swap_examples():
    """A learnable toy mapping: 'x: ab' -> 'ba' over all 64 letter pairs."""
    return [{"prompt": f"x: {a}{b}", "completion": f"{b}{a}"} for a in LETTERS for b in LETTERS]


@pytest.fixture
def free_port():
    """A free TCP port on localhost (torchrun's "--master_port 0" hangs the workers)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def run_launcher():
    """``run_launcher(cmd, timeout=300, env=None)`` -> CompletedProcess with text stdout/stderr.

    The command runs in its own session, so a timeout kills the launcher AND every process it
    started (torchrun / accelerate workers would otherwise outlive the test)."""
    def run(cmd: list[str], *, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, env=env)
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
        return subprocess.CompletedProcess(cmd, proc.returncode, out, err)

    return run
