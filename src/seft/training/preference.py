"""Preference optimisation with TRL: DPO (``DPOTrainer``) and ORPO (``trl.experimental.orpo``).

Pairs are ``{"prompt": str | messages, "chosen": str, "rejected": str}``, handed to TRL in its
*conversational* form, so the model's own chat template renders them exactly as SFT renders its
examples. Loading, checkpoints/resume, ``train_metrics.json`` and the cost counters are the SFT
ones (``common.run_training``): the methods differ by loss and data only.

Reference model (DPO):
- full fine-tune: a deep copy of the loaded policy, frozen (TRL 1.16 with ``ref_model=None``
  would reload the model from its config path, losing in-memory changes such as a merged adapter);
- fresh LoRA: ``ref_model=None`` and TRL computes reference log-probs with the adapter disabled,
  i.e. the base model, which is exactly the starting policy (LoRA's B starts at zero);
- continuing a LoRA adapter: ``ref_model=None`` and TRL copies the starting adapter into a frozen
  ``ref`` adapter; that copy is removed before saving, so ``OUT`` holds one adapter.

Cost: each training batch of B pairs is 2B sequences. DPO runs them through the policy (forward +
backward) and again through the reference (forward, no grad): 4B forward passes. ORPO has no
reference: 2B. Tokens count the same way (the reference sees the policy's tokens again). Both
losses go through the LM head of :mod:`.lm_head` (only the response positions projected off Triton,
the backbone in length groups), as SFT does: TRL's own DPO head projects every position on CPU, and
TRL's ORPO builds the logits of every position.
"""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path

from ..config.common import TrainConfig
from ..models.chat import check_stop_token, prompt_messages
from ..models.loading import local_or_hub, quiet_library_noise, unwrap_peft
from .common import (
    CHECKPOINT_DIR,
    ForwardCounting,
    TrainResult,
    counting_callback,
    fingerprint,
    finish_setup,
    load_for_training,
    run_training,
    tracking_callbacks,
    trainer_arguments,
)
from .completions import end_completions_at_stop
from .lm_head import project_labelled_positions

__all__ = ["METHODS", "build_preference_trainer", "to_preference_conversational", "train_preference"]

METHODS = ("dpo", "orpo")


def to_preference_conversational(pair: dict) -> dict:
    """One pair in TRL's conversational preference form (prompt messages, one-message completions)."""
    missing = [k for k in ("prompt", "chosen", "rejected") if k not in pair]
    if missing:
        raise KeyError(f"a preference pair needs 'prompt', 'chosen' and 'rejected'; missing {missing}")
    for k in ("chosen", "rejected"):
        if not isinstance(pair[k], str):
            raise TypeError(f"'{k}' must be a string, got {type(pair[k]).__name__}")
    return {"prompt": prompt_messages(pair["prompt"]),
            "chosen": [{"role": "assistant", "content": pair["chosen"]}],
            "rejected": [{"role": "assistant", "content": pair["rejected"]}]}


# ----------------------------------------------------------------------------- DPO
@functools.cache
def _dpo_class():
    from trl import DPOTrainer

    class CountingDPOTrainer(ForwardCounting, DPOTrainer):
        def forward_counts(self, inputs):
            # input_ids stacks [chosen; rejected]. Unless reference log-probs were precomputed, the
            # same rows go through the reference (a frozen copy, or the policy with its adapter
            # switched) in every step: as many forward passes again, on the same tokens.
            rows = int(inputs["input_ids"].shape[0])
            if self.precompute_ref_logps:
                return rows, 0, 0
            mask = inputs.get("attention_mask")
            tokens = int(mask.sum()) if mask is not None else int(inputs["input_ids"].numel())
            return rows, rows, tokens

    return CountingDPOTrainer


def _dpo_trainer(model, tokenizer, peft_config, dataset, cfg: TrainConfig, ckpt_dir: Path, beta: float, callbacks):
    from peft import PeftModel
    from trl import DPOConfig

    args = DPOConfig(**trainer_arguments(cfg, ckpt_dir), max_length=cfg.max_length, beta=beta,
                     loss_type=["sigmoid"], precompute_ref_log_probs=False,
                     remove_unused_columns=False)  # the preference collator needs the raw columns
    ref_model = None
    if peft_config is None and not isinstance(model, PeftModel):
        ref_model = copy.deepcopy(model)  # the starting policy, frozen
        ref_model.requires_grad_(False)
        ref_model.eval()
    trainer = _dpo_class()(model=model, ref_model=ref_model, args=args, train_dataset=dataset,
                           processing_class=tokenizer, peft_config=peft_config, callbacks=callbacks)
    # TRL put its fused head on the policy and the reference; off Triton it projects every position.
    for m in (trainer.model, trainer.ref_model):
        if m is not None:
            project_labelled_positions(unwrap_peft(m))
    return trainer


# ----------------------------------------------------------------------------- ORPO
@functools.cache
def _orpo_class():
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch
    import torch.nn.functional as F
    from trl.experimental.orpo import ORPOTrainer

    class CountingORPOTrainer(ForwardCounting, ORPOTrainer):
        def forward_counts(self, inputs):
            # chosen and rejected are concatenated into one batch: one forward pass each, no reference.
            return int(inputs["chosen_input_ids"].shape[0] + inputs["rejected_input_ids"].shape[0]), 0, 0

        def _track_num_input_tokens(self, inputs):
            # Trainer counts tokens of `input_ids`, which ORPO batches do not have (chosen_/rejected_ keys).
            if self.args.include_num_input_tokens_seen == "no":
                return
            n = inputs["chosen_attention_mask"].sum() + inputs["rejected_attention_mask"].sum()
            n = torch.as_tensor(n, device=self.args.device, dtype=torch.int64)
            self.state.num_input_tokens_seen += self.accelerator.gather(n).sum().item()

        def concatenated_forward(self, model, batch):
            # TRL's ORPO puts its NLL term on the prompt tokens as well as the chosen response. The
            # paper's L_SFT is the response's likelihood (the reference code's disable_prompt_loss),
            # and our SFT baseline trains the response only: the NLL is over the completion labels
            # (prompt and padding are -100 there).
            if getattr(self, "_fused_head", False) and not (self.aux_loss_enabled or self.is_encoder_decoder):
                return self._labelled_forward(model, batch)
            out = super().concatenated_forward(model, batch)
            chosen_logits = out[2]                       # (B, L-1, V): predictions for positions 1..L-1
            labels = batch["chosen_labels"][:, 1:]       # (B, Lc-1), Lc <= L
            labels = F.pad(labels, (0, chosen_logits.shape[1] - labels.shape[1]), value=-100)
            nll = F.cross_entropy(chosen_logits.reshape(-1, chosen_logits.shape[-1]),
                                  labels.reshape(-1).to(chosen_logits.device), ignore_index=-100)
            return (*out[:4], nll, *out[5:])

        def _labelled_forward(self, model, batch):
            # TRL's ORPO builds the (2B, L, V) logits of every position and reads them three times
            # (its NLL, the log-probs, the NLL again above). Through the fused head (`_orpo_trainer`)
            # only the response positions are projected: the same log-probs and NLL, at the cost of
            # the response tokens. The returned "logits" feed only TRL's `logits/chosen|rejected`
            # metrics; here they are the mean logit at each response position.
            cat = self.concatenated_inputs(batch, is_encoder_decoder=False, padding_value=self.padding_value,
                                           device=self.accelerator.device)
            n = batch["chosen_labels"].shape[0]
            out = model(input_ids=cat["concatenated_input_ids"], attention_mask=cat["concatenated_attention_mask"],
                        labels=cat["concatenated_labels"], fused_lm_head=True, use_cache=False)
            counts = out.label_mask.sum(-1)
            mean_logps = out.log_probs.sum(-1) / counts  # TRL's average_log_prob=True
            nll = -out.log_probs[:n].sum() / counts[:n].sum().clamp(min=1)
            mask = out.label_mask.bool()
            return (mean_logps[:n], mean_logps[n:], out.mean_logits[:n][mask[:n]], out.mean_logits[n:][mask[n:]], nll)

    return CountingORPOTrainer


def _orpo_trainer(model, tokenizer, peft_config, dataset, cfg: TrainConfig, ckpt_dir: Path, beta: float, callbacks):
    _orpo_class()  # sets TRL_EXPERIMENTAL_SILENCE before trl.experimental is imported
    from trl.experimental.orpo import ORPOConfig

    args = ORPOConfig(**trainer_arguments(cfg, ckpt_dir), max_length=cfg.max_length, beta=beta,
                      remove_unused_columns=False)
    trainer = _orpo_class()(model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
                            peft_config=peft_config, callbacks=callbacks)
    # The fused head DPO and SFT use (TRL's, then ours off Triton): ORPO's forward then projects
    # only the response positions (CountingORPOTrainer._labelled_forward).
    causal = unwrap_peft(trainer.model)
    if not hasattr(causal, "get_output_embeddings") or causal.get_output_embeddings() is None:
        return trainer
    from trl.trainer.utils import add_fused_lm_head

    add_fused_lm_head(causal, outputs=("log_probs", "mean_logits"))
    project_labelled_positions(causal)
    trainer._fused_head = True
    return trainer


# ----------------------------------------------------------------------------- shared
def build_preference_trainer(method: str, model_path: str | Path, pairs: list[dict], out_dir: str | Path,
                             cfg: TrainConfig, *, beta: float = 0.1, callbacks: list | None = None):
    """The configured DPO or ORPO trainer that :func:`train_preference` runs."""
    from datasets import Dataset

    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not pairs:
        raise ValueError("no preference pairs given")
    rows = [to_preference_conversational(p) for p in pairs]
    model, tokenizer, peft_config = load_for_training(local_or_hub(model_path), cfg)
    stop_ids = check_stop_token(tokenizer, model)
    ckpt_dir = Path(out_dir).expanduser().resolve() / CHECKPOINT_DIR
    build = _dpo_trainer if method == "dpo" else _orpo_trainer
    with quiet_library_noise():
        trainer = build(model, tokenizer, peft_config, Dataset.from_list(rows), cfg, ckpt_dir, beta,
                        [counting_callback(), *tracking_callbacks(cfg), *(callbacks or [])])
    end_completions_at_stop(trainer, stop_ids, cfg.max_length)  # one end of turn, nothing after it
    finish_setup(trainer, len(rows), cfg.max_length, what="pairs")
    return trainer


def _drop_reference_adapter(trainer) -> None:
    # TRL's frozen copy of a continued adapter would otherwise be saved as OUT/ref/.
    model = trainer.accelerator.unwrap_model(trainer.model)
    if "ref" in getattr(model, "peft_config", {}):
        model.delete_adapter("ref")


def train_preference(method: str, model_path: str | Path, pairs: list[dict], out_dir: str | Path,
                     cfg: TrainConfig, *, beta: float = 0.1, resume: bool = True,
                     callbacks: list | None = None) -> TrainResult:
    """Train ``model_path`` (full model or PEFT adapter folder) with DPO or ORPO on ``pairs``;
    write the final model (or adapter) + tokenizer and ``train_metrics.json`` to ``out_dir``.

    ``beta``: DPO's KL strength beta, or ORPO's odds-ratio weight lambda. ``resume``: continue from
    the latest checkpoint a killed call with the same method, model, data and settings left.
    """
    model_path = local_or_hub(model_path)
    out_dir = Path(out_dir).expanduser().resolve()
    from .launch import launch_training, should_launch  # here: `-m seft.training.launch` runs that module

    if should_launch(cfg):  # the same call, run by cfg.launcher's processes (multi-GPU)
        return launch_training(method, model_path, pairs, out_dir, cfg, beta=beta, resume=resume, callbacks=callbacks)
    with quiet_library_noise():
        trainer = build_preference_trainer(method, model_path, pairs, out_dir, cfg, beta=beta, callbacks=callbacks)
    fp = fingerprint(model_path, pairs, cfg, extra={"method": method, "beta": beta})
    return run_training(trainer, out_dir, fp, cfg, resume=resume, before_save=_drop_reference_adapter,
                        extra_metrics={"method": method, "beta": beta})
