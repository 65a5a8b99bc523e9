"""Supervised fine-tuning with TRL's ``SFTTrainer``: the one training call every SEFT stage uses.

Examples are ``{"prompt": str | messages, "completion": str}``. They are handed to TRL in its
*conversational prompt/completion* form, so the model's own chat template renders them and the loss
covers the completion only (TRL's default for that format), ending with exactly one end-of-turn
token (``training.completions``): the model learns to stop. Checkpoints go to ``OUT/checkpoints`` (the
latest one only) so a killed run resumes where it stopped; they are deleted once the final model
is written to ``OUT``. How a run is driven, resumed and measured is shared with the preference
trainers (``common.run_training``).
"""
from __future__ import annotations

import functools
from pathlib import Path

from ..config.common import TrainConfig
from ..models.chat import check_stop_token, prompt_messages
from ..models.loading import local_or_hub, quiet_library_noise, unwrap_peft
from .common import (
    CHECKPOINT_DIR,
    METRICS_FILE,
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

__all__ = ["CHECKPOINT_DIR", "METRICS_FILE", "TrainResult", "build_sft_trainer", "to_conversational", "train_sft"]


def to_conversational(example: dict) -> dict:
    """One example in TRL's conversational prompt/completion form."""
    if "prompt" not in example or "completion" not in example:
        raise KeyError(f"an SFT example needs 'prompt' and 'completion', got keys {sorted(example)}")
    if not isinstance(example["completion"], str):
        raise TypeError(f"'completion' must be a string, got {type(example['completion']).__name__}")
    return {"prompt": prompt_messages(example["prompt"]),
            "completion": [{"role": "assistant", "content": example["completion"]}]}


def _sft_config(cfg: TrainConfig, ckpt_dir: Path):
    from trl import SFTConfig

    return SFTConfig(
        **trainer_arguments(cfg, ckpt_dir),
        max_length=cfg.max_length, packing=False,
        # lengths come from the tokenized `input_ids`; preference trainers' rows have none, so SFT only
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        completion_only_loss=True,  # explicit, though it is TRL's default for prompt/completion data
    )


@functools.cache
def _trainer_class():
    from trl import SFTTrainer

    class CountingSFTTrainer(ForwardCounting, SFTTrainer):
        """One forward pass per sequence (the default count)."""

    return CountingSFTTrainer


def build_sft_trainer(model_path: str | Path, examples: list[dict], out_dir: str | Path, cfg: TrainConfig, *,
                      eval_examples: list[dict] | None = None, callbacks: list | None = None):
    """The configured ``SFTTrainer`` that :func:`train_sft` runs (checkpoints to ``out_dir/checkpoints``),
    for callers that want to inspect its data or drive it themselves."""
    from datasets import Dataset

    if not examples:
        raise ValueError("no SFT examples given")
    rows = [to_conversational(e) for e in examples]
    eval_rows = [to_conversational(e) for e in eval_examples] if eval_examples else None
    model, tokenizer, peft_config = load_for_training(local_or_hub(model_path), cfg)
    stop_ids = check_stop_token(tokenizer, model)
    args = _sft_config(cfg, Path(out_dir).expanduser().resolve() / CHECKPOINT_DIR)
    with quiet_library_noise():
        trainer = _trainer_class()(
            model=model, args=args, train_dataset=Dataset.from_list(rows),
            eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None,
            processing_class=tokenizer, peft_config=peft_config,
            callbacks=[counting_callback(), *tracking_callbacks(cfg), *(callbacks or [])])
    end_completions_at_stop(trainer, stop_ids, cfg.max_length)  # one end of turn, nothing after it
    project_labelled_positions(unwrap_peft(trainer.model))  # off Triton devices, TRL's head projects every position
    finish_setup(trainer, len(rows), cfg.max_length)
    return trainer


def train_sft(model_path: str | Path, examples: list[dict], out_dir: str | Path, cfg: TrainConfig, *,
              eval_examples: list[dict] | None = None, resume: bool = True,
              callbacks: list | None = None) -> TrainResult:
    """Fine-tune ``model_path`` (full model or PEFT adapter folder) on ``examples``; write the final
    model (or adapter) + tokenizer and ``train_metrics.json`` to ``out_dir``.

    ``resume``: continue from the latest checkpoint in ``out_dir/checkpoints`` left by a killed
    call with the same model, data and settings. ``eval_examples``: scored once at the end
    (``eval_loss``). ``callbacks``: extra ``transformers.TrainerCallback`` objects.
    With ``cfg.launcher`` set, the call runs in the processes that command starts (``seft.training.launch``).
    """
    model_path = local_or_hub(model_path)
    out_dir = Path(out_dir).expanduser().resolve()
    from .launch import launch_training, should_launch  # here: `-m seft.training.launch` runs that module

    if should_launch(cfg):  # the same call, run by cfg.launcher's processes (multi-GPU)
        return launch_training("sft", model_path, examples, out_dir, cfg, eval_examples=eval_examples,
                               resume=resume, callbacks=callbacks)
    with quiet_library_noise():
        trainer = build_sft_trainer(model_path, examples, out_dir, cfg, eval_examples=eval_examples,
                                    callbacks=callbacks)
    return run_training(trainer, out_dir, fingerprint(model_path, examples, cfg), cfg, resume=resume,
                        evaluate=bool(eval_examples))
