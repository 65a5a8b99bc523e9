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


def test_length_chunks_by_hand():
    from seft.training.lm_head import length_chunks

    # unsplit: 4 rows x 10 = 40. Two groups {10, 9} + {3, 2}: 20 + 6 = 26, saves 14 >= 5% of 40.
    # A third group saves 1 more (25): under 2, not taken.
    assert length_chunks([10, 2, 9, 3]) == [[0, 2], [3, 1]]
    assert length_chunks([10, 2, 9, 3], max_chunks=1) == [[0, 1, 2, 3]]
    assert length_chunks([10, 2, 9, 3], min_gain=0.0) == [[0], [2], [3, 1]]  # 25 < 26: any gain counts
    assert length_chunks([10, 2, 9, 3], min_saved=15) == [[0, 1, 2, 3]]  # 14 saved: under 15
    assert length_chunks([10, 2, 9, 3], min_saved=14) == [[0, 2], [3, 1]]
    assert length_chunks([5, 5, 5]) == [[0, 1, 2]]  # nothing to save
    assert length_chunks([7]) == [[0]]
    # 8 rows, one long: it goes alone (100 + 7 x 12 = 184 against 800)
    assert length_chunks([12, 100, 11, 12, 10, 12, 9, 12]) == [[1], [0, 3, 5, 7, 2, 4, 6]]


def test_length_groups_give_the_whole_batchs_states(tiny_model_dir, tmp_path, monkeypatch):
    """The backbone runs once per length group, and loss, log-probs and gradients are those of one
    pass over the whole padded batch."""
    import torch

    from seft.training import lm_head

    examples = EXAMPLES + [{"prompt": "x: " + "abcdefgh" * 4, "completion": "h" * 20}]
    cfg = TrainConfig(max_steps=1, batch_size=4, max_length=96, lora=True, lora_r=4, lora_alpha=8,
                      lora_dropout=0.0, save_steps=100)
    trainer = build_sft_trainer(tiny_model_dir, examples, tmp_path / "out", cfg)
    peft_model = trainer.model
    base = peft_model.get_base_model()
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(examples))])
    batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels")}
    lengths = batch["attention_mask"].sum(-1).tolist()
    assert len(lm_head.length_chunks(lengths)) > 1  # the long row makes it split
    calls = []
    hook = base.base_model.register_forward_hook(lambda *a: calls.append(1))
    _fields(peft_model, batch)
    assert len(calls) == 1  # but a pass of this tiny model saves less than a split costs: one pass
    monkeypatch.setattr(lm_head, "MIN_SAVED_WORK", 0)  # as if the model were large
    hook.remove()

    calls = []
    hook = base.base_model.register_forward_hook(lambda *a: calls.append(1))
    try:
        grouped, grouped_grads = _fields(peft_model, batch)
    finally:
        hook.remove()
    assert len(calls) == len(lm_head.length_chunks(lengths))
    monkeypatch.setattr(lm_head, "length_chunks", lambda lengths, **kw: [list(range(len(lengths)))])
    whole, whole_grads = _fields(peft_model, batch)
    torch.testing.assert_close(grouped.loss, whole.loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grouped.log_probs, whole.log_probs, rtol=1e-5, atol=1e-6)
    assert grouped_grads.keys() == whole_grads.keys() and grouped_grads
    for name in grouped_grads:
        torch.testing.assert_close(grouped_grads[name], whole_grads[name], rtol=1e-4, atol=1e-6)
