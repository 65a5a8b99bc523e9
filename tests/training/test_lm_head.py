"""The labelled-positions LM head gives TRL's fused head's loss, metrics and gradients."""
from __future__ import annotations

import pytest

from seft.config.common import TrainConfig
from seft.training import build_sft_trainer
from seft.training.lm_head import project_labelled_positions

EXAMPLES = [{"prompt": "x: ab", "completion": "ba"},
            {"prompt": "x: abcdefg", "completion": "gfedcba"},
            {"prompt": [{"role": "system", "content": "swap"}, {"role": "user", "content": "x: cd"}],
             "completion": "dc"}]


def _fields(model, batch, num_items=None):
    """(loss, per-token fields, gradients) of one fused-head call on ``batch``."""
    model.zero_grad()
    out = model(**batch, fused_lm_head=True, num_items_in_batch=num_items)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    return out, grads


@pytest.mark.parametrize("lora", [False, True])
def test_labelled_positions_match_trls_head(tiny_model_dir, tmp_path, lora):
    import torch

    cfg = TrainConfig(max_steps=1, batch_size=4, max_length=64, lora=lora, lora_r=4, lora_alpha=8,
                      lora_dropout=0.0, save_steps=100)
    trainer = build_sft_trainer(tiny_model_dir, EXAMPLES, tmp_path / "out", cfg)
    peft_model = trainer.model
    base = peft_model.get_base_model() if hasattr(peft_model, "get_base_model") else peft_model
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(EXAMPLES))])
    batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")}
    assert (batch["labels"] == -100).float().mean() > 0.3  # the prompts are masked: the case this is for

    ours_forward = base.forward
    trl_forward = ours_forward.__func__.trl_forward  # build_sft_trainer wrapped TRL's head

    for num_items in (None, 11):
        base.forward = ours_forward
        ours, ours_grads = _fields(peft_model, batch, num_items)
        base.forward = trl_forward
        theirs, their_grads = _fields(peft_model, batch, num_items)
        assert torch.equal(ours.label_mask, theirs.label_mask)
        torch.testing.assert_close(ours.loss, theirs.loss, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ours.log_probs, theirs.log_probs, rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ours.entropy, theirs.entropy, rtol=1e-5, atol=1e-5)
        assert torch.equal(ours.is_top1.bool(), theirs.is_top1.bool())
        assert ours_grads.keys() == their_grads.keys() and ours_grads
        for name in ours_grads:
            torch.testing.assert_close(ours_grads[name], their_grads[name], rtol=1e-4, atol=1e-6)
    base.forward = ours_forward
    # A plain forward (generation, evaluation) still returns logits.
    plain = peft_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    assert plain.logits.shape[-1] == base.config.vocab_size


def test_heads_it_does_not_cover_are_left_to_trl(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert not project_labelled_positions(model)  # no TRL head installed: nothing to wrap
    model.forward = model.forward  # an instance attribute, as TRL leaves it
    model.config.final_logit_softcapping = 30.0  # a transform after the matmul: TRL's head applies it
    assert not project_labelled_positions(model)


def test_a_batch_too_large_for_full_logits_goes_to_trls_tiled_head(tiny_model_dir, tmp_path, monkeypatch):
    from seft.training import lm_head

    cfg = TrainConfig(max_steps=1, batch_size=4, max_length=64, save_steps=100)
    trainer = build_sft_trainer(tiny_model_dir, EXAMPLES, tmp_path / "out", cfg)
    model = trainer.model
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(EXAMPLES))])
    batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")}
    calls = []
    trl_forward = model.forward.__func__.trl_forward
    monkeypatch.setattr(lm_head, "_labelled_forward", lambda *a, **k: calls.append("ours") or trl_forward(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"],
        fused_lm_head=True))
    model(**batch, fused_lm_head=True)
    assert calls == ["ours"]
    monkeypatch.setattr(lm_head, "MAX_LOGITS", 0)  # any labelled position is now too many
    model(**batch, fused_lm_head=True)
    assert calls == ["ours"]  # TRL's head answered the second call
