"""DPO and ORPO through TRL on a tiny in-process Llama: losses, reference model, LoRA, resume, cost."""
from __future__ import annotations

import hashlib
import json
import math

import pytest
from test_sft import _KillAt, _state_dict

from seft.config.common import TrainConfig
from seft.models.loading import load_model_and_tokenizer, quiet_library_noise
from seft.training import METRICS_FILE, train_sft
from seft.training.preference import build_preference_trainer, to_preference_conversational, train_preference

LETTERS = "abcdefgh"
LOG2 = math.log(2)
_SMALL = {"epochs": 2.0, "learning_rate": 3e-3, "batch_size": 8, "logging_steps": 1, "save_steps": 1000,
          "warmup_ratio": 0.0, "max_length": 64}


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**_SMALL, **kw})


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def toy_pairs():
    """A learnable preference: the swapped letters over a constant wrong answer, 64 prompts."""
    return [{"prompt": f"x: {a}{b}", "chosen": f"{b}{a}", "rejected": "zz"} for a in LETTERS for b in LETTERS]


def _logged(metrics_or_history, key):
    return [e[key] for e in metrics_or_history if key in e]


# ----------------------------------------------------------------------------- no training
def test_to_preference_conversational_forms():
    row = to_preference_conversational({"prompt": "hi", "chosen": "a", "rejected": "b", "gap": 1.0})
    assert row == {"prompt": [{"role": "user", "content": "hi"}],
                   "chosen": [{"role": "assistant", "content": "a"}],
                   "rejected": [{"role": "assistant", "content": "b"}]}
    with pytest.raises(KeyError, match="rejected"):
        to_preference_conversational({"prompt": "p", "chosen": "c"})
    with pytest.raises(TypeError):
        to_preference_conversational({"prompt": "p", "chosen": "c", "rejected": None})
    with pytest.raises(ValueError, match="method"):
        train_preference("kto", "unused", [{"prompt": "p", "chosen": "c", "rejected": "r"}], "unused", _cfg())
    with pytest.raises(ValueError, match="no preference pairs"):
        train_preference("dpo", "unused", [], "unused", _cfg())


def test_orpo_nll_covers_the_completion_only(tiny_model_dir, toy_pairs, tmp_path):
    """TRL's ORPO NLL would include the prompt; ours is the chosen response's, end-of-turn included."""
    import torch

    trainer = build_preference_trainer("orpo", tiny_model_dir, toy_pairs[:4], tmp_path / "o", _cfg())
    batch = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(4)]))
    tok = trainer.processing_class
    labels = batch["chosen_labels"]
    first = labels[0][labels[0] != -100]
    assert tok.decode(first) == toy_pairs[0]["chosen"] + tok.eos_token  # the response + its stop token
    with torch.no_grad():
        nll = trainer.concatenated_forward(trainer.model, batch)[4]
        completion_only = trainer.model(batch["chosen_input_ids"], attention_mask=batch["chosen_attention_mask"],
                                        labels=labels).loss
        with_prompt = trainer.model(batch["chosen_input_ids"], attention_mask=batch["chosen_attention_mask"],
                                    labels=batch["chosen_input_ids"].masked_fill(
                                        batch["chosen_attention_mask"] == 0, -100)).loss
    assert nll.item() == pytest.approx(completion_only.item(), rel=1e-5)
    assert abs(nll.item() - with_prompt.item()) > 1e-3


@pytest.mark.parametrize("lora", [False, True])
def test_orpo_projects_the_responses_only_with_the_same_loss_and_gradients(tiny_model_dir, toy_pairs, tmp_path, lora,
                                                                          monkeypatch):
    """The fused-head ORPO forward gives what TRL's full-logits forward (plus our completion NLL) gives."""
    import torch

    from seft.training import lm_head

    monkeypatch.setattr(lm_head, "MIN_SAVED_WORK", 0)  # length groups even for the tiny model

    cfg = _cfg(lora=lora, lora_r=4, lora_alpha=8, lora_dropout=0.0)
    pairs = toy_pairs[:3] + [{"prompt": "x: a much longer prompt than the others", "chosen": "ok", "rejected": "nope"}]
    trainer = build_preference_trainer("orpo", tiny_model_dir, pairs, tmp_path / "o", cfg, beta=0.5)
    assert trainer._fused_head
    batch = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(4)]))

    def run(fused):
        trainer._fused_head = fused
        trainer.model.zero_grad()
        loss, metrics = trainer.get_batch_loss_metrics(trainer.model, batch)
        loss.backward()
        out = trainer.concatenated_forward(trainer.model, batch)
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
        return loss, metrics, out, grads

    from seft.models.loading import unwrap_peft

    calls = []
    hook = unwrap_peft(trainer.model).base_model.register_forward_hook(lambda *a: calls.append(1))
    try:
        loss, metrics, out, grads = run(True)
    finally:
        hook.remove()
    assert len(calls) == 2 * 2  # twice (loss, then outputs) in two length groups: the long pair apart
    loss_t, metrics_t, out_t, grads_t = run(False)
    torch.testing.assert_close(loss, loss_t, rtol=1e-5, atol=1e-6)
    for i in (0, 1, 4):  # chosen and rejected mean log-probs, the chosen response's NLL
        torch.testing.assert_close(out[i], out_t[i], rtol=1e-5, atol=1e-6)
    for key in ("rewards/margins", "log_odds_ratio", "nll_loss"):
        assert metrics[key] == pytest.approx(metrics_t[key], rel=1e-5, abs=1e-6)
    assert grads.keys() == grads_t.keys() and grads
    for name in grads:
        torch.testing.assert_close(grads[name], grads_t[name], rtol=1e-4, atol=1e-6)
    # the "logits" it returns are one mean per response token, not (B, L, V)
    assert out[2].dim() == 1 and out[2].numel() == int((batch["chosen_labels"][:, 1:] != -100).sum())


def test_dpo_head_projects_the_responses_with_trls_values(tiny_model_dir, toy_pairs, tmp_path):
    """Policy and reference go through the labelled-positions head; loss, metrics and gradients match
    TRL's head (every field DPO reads, the WPO weight's log sum p^2 included)."""
    import torch
    from trl.trainer.utils import add_fused_lm_head

    trainer = build_preference_trainer("dpo", tiny_model_dir, toy_pairs[:4], tmp_path / "d", _cfg(), beta=0.5)
    for m in (trainer.model, trainer.ref_model):
        assert hasattr(m.forward.__func__, "trl_forward")  # wrapped
    batch = trainer._prepare_inputs(trainer.data_collator([trainer.train_dataset[i] for i in range(4)]))
    with torch.no_grad():  # one step, so that policy and reference differ
        for p in trainer.model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    policy = trainer.model
    ours = policy.forward

    def run(forward):
        policy.forward = forward
        policy.zero_grad()
        loss = trainer.compute_loss(policy, batch)
        loss.backward()
        logged = {k: v[-1] for k, v in trainer._metrics["train"].items()}
        return loss, logged, {n: p.grad.clone() for n, p in policy.named_parameters() if p.grad is not None}

    loss, logged, grads = run(ours)
    loss_t, logged_t, grads_t = run(ours.__func__.trl_forward)
    policy.forward = ours
    torch.testing.assert_close(loss, loss_t, rtol=1e-5, atol=1e-6)
    assert logged.keys() == logged_t.keys()
    for key in logged.keys() - {"num_tokens"}:  # num_tokens: a running total over both calls
        assert logged[key] == pytest.approx(logged_t[key], rel=1e-4, abs=1e-5), key
    for name in grads:
        torch.testing.assert_close(grads[name], grads_t[name], rtol=1e-4, atol=1e-6)

    # log sum p^2 (DPO's WPO weighting), against a TRL head that computes it
    from transformers import AutoModelForCausalLM

    from seft.training.lm_head import project_labelled_positions

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    add_fused_lm_head(model, outputs=("log_probs", "entropy", "log_sum_sq_probs", "mean_logits", "is_top1"))
    assert project_labelled_positions(model)
    args = {k: batch[k] for k in ("input_ids", "attention_mask")}
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    with torch.no_grad():
        a = model(**args, labels=labels, fused_lm_head=True)
        b = model.forward.__func__.trl_forward(**args, labels=labels, fused_lm_head=True)
    for field_ in ("log_probs", "entropy", "log_sum_sq_probs", "mean_logits"):
        torch.testing.assert_close(getattr(a, field_), getattr(b, field_), rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- DPO
def test_dpo_reference_is_a_frozen_copy_of_the_start(tiny_model_dir, toy_pairs, tmp_path):
    trainer = build_preference_trainer("dpo", tiny_model_dir, toy_pairs, tmp_path / "d", _cfg(max_steps=4), beta=0.5)
    ref, policy = trainer.ref_model, trainer.model
    assert ref is not None and ref is not policy and not any(p.requires_grad for p in ref.parameters())
    start = {k: v.clone() for k, v in ref.state_dict().items()}
    base = _state_dict(tiny_model_dir / "model.safetensors")
    assert all(start[k].equal(base[k]) for k in base)
    with quiet_library_noise():
        trainer.train()
    assert all(v.equal(start[k]) for k, v in ref.state_dict().items())  # reference unchanged
    assert any(not v.equal(start[k]) for k, v in policy.state_dict().items())  # policy trained
    # step 1 runs policy == reference: every log-ratio is 0, so the loss is exactly log 2
    assert _logged(trainer.state.log_history, "loss")[0] == pytest.approx(LOG2, abs=1e-4)


def test_dpo_learns_saves_reloads_and_counts_reference_passes(tiny_model_dir, toy_pairs, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "dpo"
    res = train_preference("dpo", tiny_model_dir, toy_pairs, out, _cfg(), beta=0.5)
    m = json.loads((out / METRICS_FILE).read_text())
    assert m == json.loads(json.dumps(res.metrics)) and res.path == out
    assert m["method"] == "dpo" and m["beta"] == 0.5 and m["optimizer_steps"] == 16
    losses = [loss for _, loss in m["loss_history"]]
    assert len(losses) == 16 and losses[0] == pytest.approx(LOG2, abs=1e-4) and max(losses[-4:]) < 0.3
    # 64 pairs x 2 epochs, each pair = chosen + rejected through the policy and again through the reference
    assert m["policy_forward_passes"] == m["reference_forward_passes"] == 2 * 64 * 2
    assert m["forward_passes"] == 4 * 64 * 2
    assert m["reference_tokens"] == m["policy_tokens"] > 0 and m["tokens"] == 2 * m["policy_tokens"]
    assert m["trainable_params"] == m["total_params"] and m["lora"] is False and m["train_examples"] == 64
    assert not (out / "checkpoints").exists() and (out / "tokenizer.json").is_file()
    before, after = _state_dict(tiny_model_dir / "model.safetensors"), _state_dict(out / "model.safetensors")
    assert any(not before[k].equal(after[k]) for k in before)
    AutoModelForCausalLM.from_pretrained(out)
    model, tok = load_model_and_tokenizer(out)
    assert model.config.vocab_size == len(tok)


def test_dpo_resume_matches_an_uninterrupted_run(tiny_model_dir, toy_pairs, tmp_path):
    cfg = _cfg(max_steps=6, save_steps=2)
    ref = train_preference("dpo", tiny_model_dir, toy_pairs, tmp_path / "ref", cfg, beta=0.5)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_preference("dpo", tiny_model_dir, toy_pairs, out, cfg, beta=0.5, callbacks=[_KillAt(3)])
    # another method on the same data and settings is another run: its checkpoint is not resumed
    orpo = train_preference("orpo", tiny_model_dir, toy_pairs, tmp_path / "orpo_probe", cfg, beta=0.5)
    assert orpo.metrics["resumed_from_step"] == 0
    res = train_preference("dpo", tiny_model_dir, toy_pairs, out, cfg, beta=0.5)
    m = res.metrics
    assert m["resumed_from_step"] == 2 and m["optimizer_steps"] == 6
    for key in ("forward_passes", "reference_forward_passes", "tokens", "reference_tokens"):
        assert m[key] == ref.metrics[key], key  # counters survive the restart
    # the reference after a resume is still the starting model, so the losses match the uninterrupted run
    assert [loss for _, loss in m["loss_history"]] == pytest.approx(
        [loss for _, loss in ref.metrics["loss_history"]], abs=1e-4)


def test_dpo_lora_uses_the_start_as_reference(tiny_model_dir, toy_pairs, tmp_path):
    base_hash = _sha(tiny_model_dir / "model.safetensors")
    lora = dict(lora=True, lora_r=8, lora_alpha=16, learning_rate=3e-2)
    # fresh adapter: TRL's reference is the adapter-disabled base, i.e. the starting policy
    fresh = train_preference("dpo", tiny_model_dir, toy_pairs, tmp_path / "fresh", _cfg(max_steps=4, **lora), beta=0.5)
    assert fresh.metrics["loss_history"][0][1] == pytest.approx(LOG2, abs=1e-4)
    assert fresh.metrics["lora"] and fresh.metrics["trainable_params"] < fresh.metrics["total_params"]
    assert fresh.metrics["reference_forward_passes"] == fresh.metrics["policy_forward_passes"] == 4 * 16
    assert (fresh.path / "adapter_model.safetensors").is_file() and not (fresh.path / "model.safetensors").exists()

    # continued adapter: the reference is a frozen copy of that adapter, not the bare base
    sft = train_sft(tiny_model_dir, [{"prompt": p["prompt"], "completion": p["chosen"]} for p in toy_pairs],
                    tmp_path / "sft", _cfg(max_steps=8, **lora))
    cont = train_preference("dpo", sft.path, toy_pairs, tmp_path / "cont", _cfg(max_steps=3, **lora), beta=0.5)
    assert cont.metrics["loss_history"][0][1] == pytest.approx(LOG2, abs=1e-4)
    assert not (cont.path / "ref").exists()  # TRL's reference copy is not saved
    adapter = _state_dict(cont.path / "adapter_model.safetensors")
    assert not any(".ref." in k for k in adapter)
    assert adapter.keys() == _state_dict(sft.path / "adapter_model.safetensors").keys()
    assert _sha(tiny_model_dir / "model.safetensors") == base_hash
    model, _ = load_model_and_tokenizer(cont.path)
    assert list(model.peft_config) == ["default"]


# ----------------------------------------------------------------------------- ORPO
def test_orpo_learns_saves_reloads_without_a_reference(tiny_model_dir, toy_pairs, tmp_path):
    out = tmp_path / "orpo"
    trainer_log = []

    from transformers import TrainerCallback

    class Keep(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            trainer_log.append(dict(logs or {}))

    res = train_preference("orpo", tiny_model_dir, toy_pairs, out, _cfg(learning_rate=1e-2), beta=0.5,
                           callbacks=[Keep()])
    m = res.metrics
    losses = [loss for _, loss in m["loss_history"]]
    assert len(losses) == 16 and losses[-1] < 0.6 * losses[0]
    margins = _logged(trainer_log, "rewards/margins")
    assert sum(margins[-4:]) / 4 > sum(margins[:4]) / 4 and margins[-1] > 0  # chosen pulls ahead of rejected
    assert m["forward_passes"] == m["policy_forward_passes"] == 2 * 64 * 2 and m["reference_forward_passes"] == 0
    assert m["tokens"] == m["policy_tokens"] > 0 and m["reference_tokens"] == 0 and m["method"] == "orpo"
    before, after = _state_dict(tiny_model_dir / "model.safetensors"), _state_dict(out / "model.safetensors")
    assert any(not before[k].equal(after[k]) for k in before)
    model, tok = load_model_and_tokenizer(out)
    ids = tok.apply_chat_template([{"role": "user", "content": "x: ab"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    assert model.generate(**ids, max_new_tokens=4, do_sample=False).shape[1] > ids["input_ids"].shape[1]
