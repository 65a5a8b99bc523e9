"""What every trainer shares: arguments, resumable checkpoints, cost counters, metrics.

Every training call (SFT, DPO, ORPO) runs through :func:`run_training`: the same resumable
checkpoints in ``OUT/checkpoints``, the same ``train_metrics.json`` and the same cost counters, so
methods differ only in their loss and data, never in how they are run or measured.
Loading a model folder lives in :mod:`seft.models.loading`; nothing here imports
torch/transformers/peft at module import time.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..config.common import TrainConfig
from ..data.logs import progress_enabled
from ..models.loading import count_parameters, is_adapter_dir, load_model_and_tokenizer, quiet_library_noise, resolve_precision

__all__ = [
    "CHECKPOINT_DIR",
    "METRICS_FILE",
    "ForwardCounting",
    "TrainResult",
    "counting_callback",
    "tracking_callbacks",
    "finish_setup",
    "fingerprint",
    "has_accelerator",
    "load_for_training",
    "run_training",
    "trainer_arguments",
]

logger = logging.getLogger(__name__)

# ============================================================================= shared by every trainer
METRICS_FILE = "train_metrics.json"
CHECKPOINT_DIR = "checkpoints"
_FINGERPRINT = "run_fingerprint.json"


@dataclass
class TrainResult:
    path: Path                      # the final model (full model or adapter) + tokenizer
    metrics: dict[str, Any] = field(default_factory=dict)  # also written to PATH/train_metrics.json


# Settings that say how long to train or how often to log/save may change between a killed run and
# its resumption (e.g. extending max_steps); everything else must match, or the checkpoint is stale.
# `launcher` says only which processes run the call (a launched job trains with launcher=None).
_RESUMABLE_CHANGES = ("epochs", "max_steps", "save_steps", "logging_steps", "launcher")


def fingerprint(model_path: Path | str, examples: list[dict], cfg: TrainConfig, extra: dict | None = None) -> str:
    """Hash of what a checkpoint depends on: model, data, settings (and method-specific ``extra``)."""
    settings = {k: v for k, v in asdict(cfg).items() if k not in _RESUMABLE_CHANGES}
    head = [str(model_path), settings] + ([extra] if extra else [])
    h = hashlib.sha256(json.dumps(head, sort_keys=True, default=str).encode())
    for e in examples:
        h.update(json.dumps(e, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _resume_checkpoint(ckpt_dir: Path, fp: str, resume: bool, *, may_delete: bool) -> str | None:
    """The checkpoint to resume from, if any; stale checkpoints (another run's) are removed."""
    from transformers.trainer_utils import get_last_checkpoint

    if not ckpt_dir.is_dir():
        return None
    fp_file = ckpt_dir / _FINGERPRINT
    same_run = fp_file.is_file() and json.loads(fp_file.read_text()).get("fingerprint") == fp
    last = get_last_checkpoint(str(ckpt_dir))
    if resume and same_run and last is not None:
        return last
    if may_delete:
        if last is not None:
            why = "resume=False" if not resume else "they belong to a run with other data or settings"
            logger.warning("Removing old checkpoints in %s (%s)", ckpt_dir, why)
        shutil.rmtree(ckpt_dir)
    return None


def has_accelerator() -> bool:
    """Whether torch sees an accelerator (CUDA, MPS, XPU, ...): the Trainer then runs on it."""
    import torch

    acc = getattr(torch, "accelerator", None)  # torch >= 2.6: CUDA, MPS, XPU, ...
    return bool(acc.is_available()) if acc is not None else torch.cuda.is_available()


def trainer_arguments(cfg: TrainConfig, ckpt_dir: Path) -> dict:
    """Keyword arguments every TRL config (SFTConfig, DPOConfig, ORPOConfig) gets from a TrainConfig:
    schedule, precision, checkpointing and the CPU-safe settings. Method-specific ones are added by
    the caller."""
    import torch

    precision = resolve_precision(cfg.precision)
    return dict(
        output_dir=str(ckpt_dir),
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps,
        learning_rate=cfg.learning_rate, lr_scheduler_type=cfg.lr_scheduler,
        # transformers 5 folded warmup_ratio into warmup_steps: a value < 1 is a share of the steps.
        warmup_steps=min(cfg.warmup_ratio, 0.999), weight_decay=cfg.weight_decay,
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, seed=cfg.seed, logging_steps=cfg.logging_steps,
        # TRL defaults bf16=True and checkpointing on; here precision is the config's (auto: fp32 on CPU).
        bf16=precision == "bf16", fp16=precision == "fp16",
        activation_checkpointing=cfg.gradient_checkpointing,  # TRL's `gradient_checkpointing` is a deprecated alias
        save_strategy="steps", save_steps=cfg.save_steps, save_total_limit=1,
        restore_callback_states_from_checkpoint=True,  # our forward-pass counter survives a resume
        include_num_input_tokens_seen="non_padding",
        eval_strategy="no", dataloader_pin_memory=torch.cuda.is_available(),
        # Without an accelerator, say so: `torchrun`/`accelerate launch` on CPU then runs DDP over gloo
        # instead of N independent copies of the same run.
        use_cpu=not has_accelerator(),
        ddp_find_unused_parameters=False,  # every weight of a causal LM takes part in each forward
        report_to="none", disable_tqdm=None if progress_enabled() else True,
    )


@functools.cache
def _counter_callback_class():
    from transformers.trainer_callback import ExportableState, TrainerCallback

    class ExampleCounter(TrainerCallback, ExportableState):
        """Forward passes in training, saved in checkpoints. One forward pass = one sequence run
        through the network once: ``examples`` through the trained policy (with a backward pass),
        ``reference`` through a frozen reference (no backward), ``reference_tokens`` its non-pad tokens."""

        def __init__(self, examples: int = 0, reference: int = 0, reference_tokens: int = 0):
            self.examples = examples
            self.reference = reference
            self.reference_tokens = reference_tokens

        def state(self) -> dict:
            return {"args": {"examples": self.examples, "reference": self.reference,
                             "reference_tokens": self.reference_tokens}, "attributes": {}}

    return ExampleCounter


class ForwardCounting:
    """Mixin for a ``transformers.Trainer`` subclass (put it first): counts forward passes per
    micro-batch, across processes. Trainers override :meth:`forward_counts` for their batch layout."""

    def forward_counts(self, inputs) -> tuple[int, int, int]:
        """(policy sequences, reference sequences, reference non-pad tokens) of one micro-batch."""
        return int(inputs["input_ids"].shape[0]), 0, 0

    def training_step(self, model, inputs, num_items_in_batch=None):
        import torch

        # Looked up each time: resuming swaps in a restored instance.
        counter = next(cb for cb in self.callback_handler.callbacks if isinstance(cb, _counter_callback_class()))
        counts = torch.tensor(self.forward_counts(inputs), device=self.args.device)
        policy, reference, ref_tokens = (int(v) for v in self.accelerator.gather(counts).view(-1, 3).sum(0))
        counter.examples += policy
        counter.reference += reference
        counter.reference_tokens += ref_tokens
        return super().training_step(model, inputs, num_items_in_batch)


def load_for_training(model_path: Path | str, cfg: TrainConfig):
    """(model, tokenizer, peft_config). An adapter folder continues training as an adapter when
    ``cfg.lora``; without ``cfg.lora`` it is merged into its base and every weight is trained."""
    if is_adapter_dir(model_path):
        if cfg.lora:
            model, tok = load_model_and_tokenizer(model_path, trainable=True)
        else:
            logger.info("%s is a LoRA adapter and lora=False: merging it and training all weights", model_path)
            model, tok = load_model_and_tokenizer(model_path, trainable=True, merge_adapter=True)
            model.requires_grad_(True)
        return model, tok, None
    model, tok = load_model_and_tokenizer(model_path, trainable=True)
    model.requires_grad_(True)
    if not cfg.lora:
        return model, tok, None
    from peft import LoraConfig

    return model, tok, LoraConfig(r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=cfg.lora_dropout,
                                  target_modules=cfg.lora_target_modules, task_type="CAUSAL_LM")


@functools.cache
def _tracking_callback_class():
    from transformers.trainer_callback import TrainerCallback

    class TrackingCallback(TrainerCallback):
        """Forwards the trainer's logs to the run's tracker as ``<stage>/train/<key>`` (rank 0
        only), opened when training starts and closed when it ends."""

        def __init__(self, cfg):
            self.cfg, self.tracker = cfg, None

        def on_train_begin(self, args, state, control, **kwargs):
            from ..tracking import open_tracker

            if state.is_world_process_zero:
                self.tracker = open_tracker(self.cfg)

        def on_log(self, args, state, control, logs=None, **kwargs):
            from ..tracking import scalar_metrics

            if self.tracker is not None and logs:
                self.tracker.log(scalar_metrics(logs, f"{self.cfg.stage or 'train'}/train"), state.global_step)

        def on_train_end(self, args, state, control, **kwargs):
            if self.tracker is not None:
                self.tracker.close()
                self.tracker = None

    return TrackingCallback


def tracking_callbacks(cfg: TrainConfig) -> list:
    """``[callback]`` that logs this training call to ``cfg.tracking``; ``[]`` when it is off."""
    return [] if cfg.tracking.backend == "none" else [_tracking_callback_class()(cfg.tracking)]


def counting_callback():
    """A fresh forward-pass counter, to pass in a trainer's ``callbacks``."""
    return _counter_callback_class()()


def finish_setup(trainer, n_rows: int, max_length: int, what: str = "examples") -> None:
    """Shared after-construction steps: -q hides per-step log dicts; dropped rows are reported."""
    if not progress_enabled():
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    dropped = n_rows - len(trainer.train_dataset)
    if dropped:
        logger.warning("%d of %d %s had no completion token left within max_length=%d and were dropped",
                       dropped, n_rows, what, max_length)


def run_training(trainer, out_dir: Path, fp: str, cfg: TrainConfig, *, resume: bool = True,
                 evaluate: bool = False, before_save=None, extra_metrics: dict | None = None) -> TrainResult:
    """Train ``trainer`` (resuming from ``out_dir/checkpoints`` when ``fp`` matches), write the final
    model + tokenizer and ``train_metrics.json`` to ``out_dir``, then delete the checkpoints.
    ``before_save(trainer)`` runs on every process after training, before the model is written;
    ``extra_metrics`` are added to the metrics (e.g. the method's name)."""
    ckpt_dir = out_dir / CHECKPOINT_DIR
    with quiet_library_noise():
        # Every rank decides from the same files; only the main process deletes stale ones.
        checkpoint = _resume_checkpoint(ckpt_dir, fp, resume, may_delete=trainer.args.should_save)
        if trainer.is_world_process_zero():
            ckpt_dir.mkdir(parents=True, exist_ok=True)
            (ckpt_dir / _FINGERPRINT).write_text(json.dumps({"fingerprint": fp}))

        start = _checkpoint_state(checkpoint)
        t0 = time.perf_counter()
        out = trainer.train(resume_from_checkpoint=checkpoint)
        wall = time.perf_counter() - t0
        eval_metrics = trainer.evaluate() if evaluate else {}
        if before_save is not None:
            before_save(trainer)
        trainer.save_model(str(out_dir))  # main process only; adapter-only for PEFT models; + tokenizer
    trainer.accelerator.wait_for_everyone()

    metrics = _metrics(trainer, out, wall, start, cfg)
    if evaluate:
        metrics["eval_loss"] = eval_metrics.get("eval_loss")
    metrics.update(extra_metrics or {})
    if trainer.is_world_process_zero():
        (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    return TrainResult(out_dir, metrics)


def _metrics(trainer, out, wall: float, start: dict, cfg: TrainConfig) -> dict:
    state = trainer.state
    counter = next(cb for cb in trainer.callback_handler.callbacks if type(cb).__name__ == "ExampleCounter")
    history = [[e["step"], e["loss"]] for e in state.log_history if "loss" in e]
    trainable, total = count_parameters(trainer.model)
    # tokens/forward passes count every sequence run through a network, the policy's and a frozen
    # reference's alike (DPO runs both on each batch); the policy_/reference_ split says which.
    tokens = state.num_input_tokens_seen + counter.reference_tokens
    return {
        "wall_seconds": round(wall, 3),  # this call only (a resumed run counts from the resume)
        "optimizer_steps": state.global_step,
        "resumed_from_step": start["global_step"],
        "epochs": state.epoch,
        "tokens": tokens,  # non-pad tokens, all processes, since step 0
        "tokens_per_second": round((tokens - start["tokens"]) / max(wall, 1e-9), 1),
        "forward_passes": counter.examples + counter.reference,  # sequences, since step 0
        "policy_tokens": state.num_input_tokens_seen,
        "reference_tokens": counter.reference_tokens,
        "policy_forward_passes": counter.examples,  # each also has a backward pass
        "reference_forward_passes": counter.reference,
        "final_loss": history[-1][1] if history else out.training_loss,
        "mean_loss": out.training_loss,  # over this call's steps
        "loss_history": history,
        "trainable_params": trainable,
        "total_params": total,
        "lora": hasattr(trainer.model, "peft_config"),
        "precision": resolve_precision(cfg.precision),
        "train_examples": len(trainer.train_dataset),
    }


def _checkpoint_state(checkpoint: str | None) -> dict:
    if checkpoint is None:
        return {"global_step": 0, "tokens": 0}
    st = json.loads((Path(checkpoint) / "trainer_state.json").read_text())
    counter = (st.get("stateful_callbacks") or {}).get("ExampleCounter") or {}
    counter = counter[0] if isinstance(counter, list) else counter  # one entry per instance when several
    ref_tokens = (counter.get("args") or {}).get("reference_tokens", 0)
    return {"global_step": st.get("global_step", 0), "tokens": st.get("num_input_tokens_seen", 0) + ref_tokens}
