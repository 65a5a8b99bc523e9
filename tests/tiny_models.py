"""Tiny models built in-process, shared by every test that trains or generates: nothing is downloaded.

Test modules outside tests/training import from here (tests/ is on sys.path through the root
conftest); importing ``_one_torch_thread`` into a module makes that autouse fixture apply there.
"""
from __future__ import annotations

import string

import pytest


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


@pytest.fixture(autouse=True)
def _one_torch_thread():
    # A hidden-32 model gains nothing from a second thread, and on a shared 2-core machine the
    # contention makes steps several times slower.
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
