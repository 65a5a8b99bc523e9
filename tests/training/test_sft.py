"""SFT through TRL on a tiny in-process Llama: loss, saved artifacts, LoRA, resume, label masks."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from seft.config.common import TrainConfig
from seft.models.loading import load_model_and_tokenizer
from seft.training import METRICS_FILE, build_sft_trainer, to_conversational, train_sft

_SMALL = {"epochs": 1.0, "learning_rate": 3e-3, "batch_size": 8, "logging_steps": 1, "save_steps": 1000,
          "warmup_ratio": 0.0, "max_length": 64}


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(**{**_SMALL, **kw})


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _state_dict(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def _greedy(model, tok, prompt: str, n: int = 6) -> str:
    ids = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=n, do_sample=False)
    return tok.decode(out[0, ids["input_ids"].shape[1]:])


class _KillAt:
    """Stands in for a killed process: raises once training reaches ``step``."""

    def __new__(cls, step: int):
        from transformers import TrainerCallback

        class Kill(TrainerCallback):
            def on_step_begin(self, args, state, control, **kw):
                if state.global_step == step:
                    raise KeyboardInterrupt(f"killed at step {step}")

        return Kill()


# ----------------------------------------------------------------------------- no training
def test_import_does_not_load_trl_or_torch():
    code = "import sys, seft.training; print(sorted(m for m in ('trl', 'torch', 'transformers', 'peft') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_to_conversational_forms():
    row = to_conversational({"prompt": "hi", "completion": "yo"})
    assert row == {"prompt": [{"role": "user", "content": "hi"}],
                   "completion": [{"role": "assistant", "content": "yo"}]}
    msgs = [{"role": "system", "content": "s", "name": "x"}, {"role": "user", "content": "u"}]
    assert to_conversational({"prompt": msgs, "completion": "c"})["prompt"] == [
        {"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    with pytest.raises(KeyError):
        to_conversational({"prompt": "p", "response": "r"})
    with pytest.raises(ValueError):
        train_sft("unused", [], "unused", _cfg())


def test_labels_mask_the_prompt_and_train_the_end_of_turn(tiny_model_dir, tmp_path):
    examples = [{"prompt": "x: ab", "completion": "ba"},
                {"prompt": [{"role": "system", "content": "swap"}, {"role": "user", "content": "x: abcd"}],
                 "completion": "dcba"}]
    trainer = build_sft_trainer(tiny_model_dir, examples, tmp_path / "out", _cfg())
    tok = trainer.processing_class
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(examples))])
    for row, ex in enumerate(examples):
        msgs = to_conversational(ex)["prompt"]
        prompt_len = len(tok(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
                             add_special_tokens=False)["input_ids"])
        ids, labels, mask = batch["input_ids"][row], batch["labels"][row], batch["attention_mask"][row]
        n = int(mask.sum())
        assert (labels[:prompt_len] == -100).all()           # no loss on the prompt
        assert (labels[n:] == -100).all()                    # nor on padding
        trained = labels[prompt_len:n]
        assert (trained == ids[prompt_len:n]).all()
        assert tok.decode(trained) == ex["completion"] + tok.eos_token  # the stop token is trained
        assert int(trained[-1]) == tok.eos_token_id


def test_missing_stop_token_in_template_warns(tiny_model_dir, tmp_path):
    from seft.models.chat import check_stop_token as _check_stop_token

    model, tok = load_model_and_tokenizer(tiny_model_dir)
    tok.chat_template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
                         "{% if add_generation_prompt %}<|assistant|>{% endif %}")
    with pytest.warns(UserWarning, match="would not learn to stop"):
        _check_stop_token(tok, model)
    tok.chat_template = None
    with pytest.raises(ValueError, match="no chat template"):
        _check_stop_token(tok, model)


# ----------------------------------------------------------------------------- full fine-tune
def test_full_finetune_learns_saves_and_reloads(tiny_model_dir, swap_examples, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "full"
    res = train_sft(tiny_model_dir, swap_examples, out, _cfg(epochs=20.0, logging_steps=8, save_steps=40),
                    eval_examples=swap_examples[:16])
    m = json.loads((out / METRICS_FILE).read_text())
    assert m == json.loads(json.dumps(res.metrics)) and res.path == out
    losses = [loss for _, loss in m["loss_history"]]
    assert len(losses) == 20 and losses[-1] < 0.6 * losses[0]
    assert m["optimizer_steps"] == 160 and m["forward_passes"] == 20 * 64 and m["resumed_from_step"] == 0
    assert m["tokens"] > 20 * 64 * 10 and m["wall_seconds"] > 0 and m["tokens_per_second"] > 0
    assert m["trainable_params"] == m["total_params"] > 0 and m["lora"] is False and m["precision"] == "fp32"
    assert m["eval_loss"] < losses[0]
    assert not (out / "checkpoints").exists()  # deleted after a successful finish
    assert (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file()

    before, after = _state_dict(tiny_model_dir / "model.safetensors"), _state_dict(out / "model.safetensors")
    assert before.keys() == after.keys()
    assert all(not before[k].equal(after[k]) for k in before)  # every weight trained

    model = AutoModelForCausalLM.from_pretrained(out)
    _, tok = load_model_and_tokenizer(out)
    for prompt in ("x: ab", "x: hc"):
        text = _greedy(model, tok, prompt)
        # it learned the format and, since <|end|> was in the loss, to stop after two letters
        assert len(text) == 2 + len(tok.eos_token) and text.endswith(tok.eos_token), text


# ----------------------------------------------------------------------------- LoRA
def test_lora_saves_only_the_adapter_and_continues_from_it(tiny_model_dir, swap_examples, tmp_path):
    base_hash = _sha(tiny_model_dir / "model.safetensors")
    cfg = _cfg(lora=True, lora_r=8, lora_alpha=16, lora_dropout=0.0, epochs=4.0, learning_rate=3e-2)
    first = train_sft(tiny_model_dir, swap_examples, tmp_path / "round1", cfg)
    out1 = first.path
    assert (out1 / "adapter_model.safetensors").is_file() and (out1 / "adapter_config.json").is_file()
    assert not (out1 / "model.safetensors").exists()
    assert _sha(tiny_model_dir / "model.safetensors") == base_hash  # base untouched
    assert first.metrics["lora"] and 0 < first.metrics["trainable_params"] < first.metrics["total_params"]
    assert json.loads((out1 / "adapter_config.json").read_text())["base_model_name_or_path"] == str(
        tiny_model_dir.resolve())
    adapter1 = _state_dict(out1 / "adapter_model.safetensors")
    assert any("lora_B" in k and v.abs().sum() > 0 for k, v in adapter1.items())  # B starts at zero

    # round 2 starts from round 1's adapter: its first loss (logged before any update) is near
    # where round 1 ended, not where it began
    second = train_sft(out1, swap_examples, tmp_path / "round2", cfg)
    l1, l2 = first.metrics["loss_history"], second.metrics["loss_history"]
    gain = l1[0][1] - l1[-1][1]
    assert gain > 1.0 and l2[0][1] < l1[-1][1] + 0.25 * gain
    adapter2 = _state_dict(second.path / "adapter_model.safetensors")
    assert adapter2.keys() == adapter1.keys() and any(not adapter1[k].equal(adapter2[k]) for k in adapter1)
    assert _sha(tiny_model_dir / "model.safetensors") == base_hash

    model, tok = load_model_and_tokenizer(second.path)  # base + adapter, for inference
    assert not any(p.requires_grad for p in model.parameters())
    assert _greedy(model, tok, "x: ab")

    # lora=False on an adapter folder: merged into its base, then every weight trains
    merged = train_sft(out1, swap_examples, tmp_path / "merged", _cfg(max_steps=2))
    assert merged.metrics["lora"] is False and merged.metrics["trainable_params"] == merged.metrics["total_params"]
    assert (merged.path / "model.safetensors").is_file() and not (merged.path / "adapter_config.json").exists()


# ----------------------------------------------------------------------------- resume
def test_resume_continues_from_the_checkpoint(tiny_model_dir, swap_examples, tmp_path):
    cfg = _cfg(max_steps=8, save_steps=2)
    ref = train_sft(tiny_model_dir, swap_examples, tmp_path / "ref", cfg)  # never interrupted

    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_sft(tiny_model_dir, swap_examples, out, cfg, callbacks=[_KillAt(5)])
    assert sorted(p.name for p in (out / "checkpoints").glob("checkpoint-*")) == ["checkpoint-4"]  # limit 1

    res = train_sft(tiny_model_dir, swap_examples, out, cfg)
    m = res.metrics
    assert m["resumed_from_step"] == 4 and m["optimizer_steps"] == 8
    assert m["forward_passes"] == 8 * 8 == ref.metrics["forward_passes"]  # counter survives the restart
    assert m["tokens"] == ref.metrics["tokens"]
    assert [s for s, _ in m["loss_history"]] == list(range(1, 9))  # history from before the kill is kept
    # same data order, optimizer and schedule as the uninterrupted run: the losses after step 4 match
    assert [loss for _, loss in m["loss_history"]] == pytest.approx(
        [loss for _, loss in ref.metrics["loss_history"]], abs=1e-4)
    assert not (out / "checkpoints").exists()
    ref_w, run_w = _state_dict(ref.path / "model.safetensors"), _state_dict(out / "model.safetensors")
    assert all((ref_w[k] - run_w[k]).abs().max() < 1e-4 for k in ref_w)


def test_stale_or_unwanted_checkpoints_are_not_resumed(tiny_model_dir, swap_examples, tmp_path):
    cfg = _cfg(max_steps=4, save_steps=2)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_sft(tiny_model_dir, swap_examples, out, cfg, callbacks=[_KillAt(3)])
    # other data: the checkpoint belongs to another run
    res = train_sft(tiny_model_dir, swap_examples[:32], out, cfg)
    assert res.metrics["resumed_from_step"] == 0 and res.metrics["forward_passes"] == 4 * 8

    with pytest.raises(KeyboardInterrupt):
        train_sft(tiny_model_dir, swap_examples, out, cfg, callbacks=[_KillAt(3)])
    assert train_sft(tiny_model_dir, swap_examples, out, cfg, resume=False).metrics["resumed_from_step"] == 0


# ----------------------------------------------------------------------------- distributed
_DDP_SCRIPT = """
import json, sys
from seft.config.common import TrainConfig
from seft.training import train_sft
base, out = sys.argv[1], sys.argv[2]
ex = [{"prompt": f"x: {a}{b}", "completion": f"{b}{a}"} for a in "abcdefgh" for b in "abcdefgh"]
res = train_sft(base, ex, out, TrainConfig(epochs=2.0, learning_rate=3e-3, batch_size=8, logging_steps=1,
                                           save_steps=3, lora="lora" in sys.argv))
"""


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True])
def test_two_processes_share_the_work_and_only_rank0_writes(tiny_model_dir, tmp_path, lora, free_port, run_launcher):
    script = tmp_path / "ddp.py"
    script.write_text(_DDP_SCRIPT)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port),
           str(script), str(tiny_model_dir), str(out), *(["lora"] if lora else [])]
    proc = run_launcher(cmd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads((out / METRICS_FILE).read_text())
    # 64 examples x 2 epochs over 2 ranks x batch 8: 8 optimizer steps, every example counted once
    assert m["optimizer_steps"] == 8 and m["forward_passes"] == 128 and m["lora"] is lora
    assert not (out / "checkpoints").exists()
    assert (out / ("adapter_model.safetensors" if lora else "model.safetensors")).is_file()
    model, tok = load_model_and_tokenizer(out)
    assert _greedy(model, tok, "x: ab")
