"""A model's chat side: prompts as messages, rendered with the model's own template, and the tokens
that end a turn. Generation stops at the turn ends that training teaches, because both ask here.
"""
from __future__ import annotations

import warnings
from typing import Sequence

__all__ = ["check_stop_token", "prompt_messages", "render_prompts", "stop_token_ids", "to_messages"]


def to_messages(prompt) -> list[dict]:
    """A prompt (plain string or message list) as a chat message list."""
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [dict(m) for m in prompt]


def prompt_messages(prompt) -> list[dict]:
    """A prompt (string or messages) as role/content messages, nothing else.

    Only role/content: Arrow stores messages as structs, and one message with an extra key would
    give every other message that key as None, which some chat templates then render."""
    return [{"role": str(m["role"]), "content": str(m["content"])} for m in to_messages(prompt)]


def check_stop_token(tokenizer, model) -> set[int]:
    """The ids that end a turn (:func:`stop_token_ids`); warns if the chat
    template leaves all of them out of a rendered assistant turn (training then appends eos to
    every completion, see :mod:`seft.training.completions`, but the template is probably not a chat one)."""
    if not tokenizer.chat_template:
        raise ValueError("the tokenizer has no chat template; training renders prompts with the model's own template")
    prompt = [{"role": "user", "content": "hi"}]
    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template(prompt + [{"role": "assistant", "content": "ok"}], tokenize=False)
    tail = full.removeprefix(head)
    stop_ids = stop_token_ids(tokenizer, model)
    if not stop_ids & set(tokenizer(tail, add_special_tokens=False)["input_ids"]):
        warnings.warn(f"the chat template's assistant turn ({tail!r}) holds no end-of-turn token "
                      f"({tokenizer.eos_token!r}); training appends it to every completion, without which the "
                      "model would not learn to stop", stacklevel=3)
    return stop_ids


def stop_token_ids(tokenizer, model=None) -> set[int]:
    """Every token that ends a turn: the tokenizer's eos and the model's generation-config eos
    ids (some chat models end an assistant turn with a token other than the tokenizer's eos,
    e.g. Gemma's ``<end_of_turn>``, Phi-3's ``<|end|>``). Generation stops at any of them, and
    training ends each completion at the first one (``seft.training.completions``)."""
    ids = {tokenizer.eos_token_id}
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(gen_eos) if isinstance(gen_eos, (list, tuple)) else {gen_eos}
    return {int(i) for i in ids if i is not None}


def render_prompts(tokenizer, prompts: Sequence, prefixes: Sequence[str] | None = None) -> list[str]:
    """Chat-template each prompt with the generation prompt, plus an optional forced prefix."""
    texts = [tokenizer.apply_chat_template(to_messages(p), tokenize=False, add_generation_prompt=True)
             for p in prompts]
    if prefixes is not None:
        texts = [t + pre for t, pre in zip(texts, prefixes)]
    return texts
