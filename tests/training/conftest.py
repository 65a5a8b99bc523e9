"""Tiny models built in-process for the training tests: nothing is downloaded."""
from __future__ import annotations

import os
import signal
import socket
import string
import subprocess

import pytest

LETTERS = "abcdefgh"


def make_tiny_model_dir(path, *, seed: int = 0):
    """A 2-layer, hidden-32 Llama and the testbed's char-level chat tokenizer, saved to ``path``.

    initializer_range 0.2 (not 0.02): with frozen tiny embeddings (LoRA) the logits of a fresh model
    could not grow past ~0.1 and the loss would stall near log(vocab).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from seft.testbed.tokenizer import build_tokenizer

    tok = build_tokenizer([string.ascii_lowercase + ": "])
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                      tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      bos_token_id=None, initializer_range=0.2)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture(scope="session")
def swap_examples():
    """A learnable toy mapping: 'x: ab' -> 'ba' over all 64 letter pairs."""
    return [{"prompt": f"x: {a}{b}", "completion": f"{b}{a}"} for a in LETTERS for b in LETTERS]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # A hidden-32 model gains nothing from a second thread, and on a shared 2-core machine the
    # contention makes steps several times slower.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
