"""The SFT loss's LM head, projected at the labelled positions only where TRL's kernel cannot be.

TRL 1.16's ``SFTTrainer`` patches the model with a fused LM head (``add_fused_lm_head``): the
backbone runs, then the head projects hidden states in tiles and folds them into log-probabilities,
entropy and top-1 flags without building the ``(batch, seq, vocab)`` logits. With Triton (CUDA,
XPU) it projects only the positions that carry a label. Everywhere else it projects **every**
position (so that tile shapes stay fixed for compilers), folds each tile with a dozen torch ops and
projects everything again in the backward pass. On SmolLM2 (vocabulary 49,152) with completion-only
labels on ~30% of the positions, that head took about half of every CPU training step.

:func:`project_labelled_positions` wraps TRL's patched forward. Off Triton devices it gathers the
labelled positions, projects them once through the head, and takes the log-softmax there; entropy
and the top-1 flag come from the same logits without gradient. It returns TRL's own output type
with the same fields, zeros where the label is ``-100``, so TRL's loss and its logged
``entropy``/``mean_token_accuracy`` are unchanged (a test checks values and gradients against
TRL's head). It hands the call back to TRL's head for what it does not cover: Triton devices,
pre-shifted labels (context parallelism), MoE router losses, scaled or soft-capped logits, and a
batch whose labelled logits would exceed :data:`MAX_LOGITS` values.
"""
from __future__ import annotations

import types

__all__ = ["MAX_LOGITS", "project_labelled_positions"]

# Labelled positions x vocabulary above which the full-logits path would hold too much memory
# (~1 GiB of fp32 logits, plus the log-softmax autograd keeps); TRL's tiled head takes over.
MAX_LOGITS = 1 << 28

# Config fields that change the logits after the head's matmul; TRL's head applies them, ours does not.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier",
                     "logits_scaling")


def _plain_head(model) -> bool:
    cfg = model.config.get_text_config()
    if cfg is not model.config:  # vision-language wrappers keep their backbone elsewhere
        return False
    if getattr(cfg, "output_router_logits", False):
        return False
    return all(getattr(cfg, name, None) is None for name in _LOGIT_TRANSFORMS)


def project_labelled_positions(model) -> bool:
    """Wrap the fused-head forward TRL installed on ``model`` (the base model, under any PEFT
    wrapper); returns False, changing nothing, when the model has no TRL head or its head is not plain."""
    trl_forward = model.__dict__.get("forward")  # TRL sets it on the instance; the class's is the original
    if trl_forward is None or not _plain_head(model):
        return False

    def forward(self, *args, fused_lm_head=False, labels=None, shift_labels=None, num_items_in_batch=None,
                **kwargs):
        if (not fused_lm_head or labels is None or shift_labels is not None
                or labels.device.type in ("cuda", "xpu")):  # Triton projects the labelled positions itself
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, shift_labels=shift_labels,
                               num_items_in_batch=num_items_in_batch, **kwargs)
        target = labels[:, 1:]
        mask = target != -100
        if int(mask.sum()) * self.get_output_embeddings().weight.shape[0] > MAX_LOGITS:
            return trl_forward(*args, fused_lm_head=True, labels=labels, num_items_in_batch=num_items_in_batch,
                               **kwargs)
        return _labelled_forward(self, args, kwargs, target, mask, num_items_in_batch)

    forward.trl_forward = trl_forward  # kept reachable, to compare the two heads
    model.forward = types.MethodType(forward, model)
    return True


def _labelled_forward(model, args, kwargs, target, mask, num_items_in_batch):
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    kwargs["use_cache"] = False
    # The backbone is looked up on each call: PEFT and FSDP replace modules after patching.
    hidden = model.base_model(*args, **kwargs).last_hidden_state[:, :-1]
    head = model.get_output_embeddings()
    labelled = target[mask].to(head.weight.device)
    logits = head(hidden[mask].to(head.weight.device)).float()
    log_softmax = torch.log_softmax(logits, dim=-1)
    chosen = log_softmax.gather(1, labelled[:, None]).squeeze(1)
    with torch.no_grad():
        entropy = -(log_softmax.exp() * log_softmax).sum(-1)
        is_top1 = logits.argmax(-1) == labelled  # the first maximum, like TRL's kernel
    mask = mask.to(head.weight.device)

    def spread(values):  # back to (batch, seq - 1), zero where the label is -100
        return values.new_zeros(mask.shape).masked_scatter(mask, values)

    log_probs = spread(chosen)
    count = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
    return FusedCausalLMOutput(loss=-log_probs.sum() / count, log_probs=log_probs, entropy=spread(entropy),
                               is_top1=spread(is_top1), label_mask=mask)
