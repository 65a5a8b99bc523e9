"""The training losses' LM head, projected at the labelled positions only where TRL's kernel cannot be.

TRL 1.16's ``SFTTrainer`` patches the model with a fused LM head (``add_fused_lm_head``): the
backbone runs, then the head projects hidden states in tiles and folds them into log-probabilities,
entropy and top-1 flags without building the ``(batch, seq, vocab)`` logits. With Triton (CUDA,
XPU) it projects only the positions that carry a label. Everywhere else it projects **every**
position (so that tile shapes stay fixed for compilers), folds each tile with a dozen torch ops and
projects everything again in the backward pass. On SmolLM2 (vocabulary 49,152) with completion-only
labels on ~30% of the positions, that head took about half of every CPU training step. TRL's
``DPOTrainer`` uses the same head (policy and reference), and seft's ORPO is routed through it
(:mod:`.preference`), so all three losses get the projection below.

:func:`project_labelled_positions` wraps TRL's patched forward. Off Triton devices it gathers the
labelled positions, projects them once through the head, and takes the log-softmax there; entropy,
the top-1 flag, the mean logit and log sum p^2 come from the same logits without gradient. It
returns TRL's own output type with the same fields, zeros where the label is ``-100``, so TRL's
losses and their logged metrics are unchanged (a test checks values and gradients against TRL's
head). It hands the call back to TRL's head for what it does not cover: Triton devices,
pre-shifted labels (context parallelism), MoE router losses, scaled or soft-capped logits, and a
batch whose labelled logits would exceed :data:`MAX_LOGITS` values. It assumes the head's
temperature is 1, which is how every seft trainer installs it.

It also runs the backbone over less padding. A batch of 8 reviser examples (80-320 tokens) is a
quarter padding; sorted by length and cut into two or three groups, each padded to its own longest
row (:func:`length_chunks`), it is 6-12%. With right padding a row's hidden states do not depend on
the padding after it, so the states, the loss and the gradients are those of the whole batch; the
batch itself (which examples train together, the loss's normalisation) is unchanged.
"""
from __future__ import annotations

import types

__all__ = ["MAX_LOGITS", "length_chunks", "project_labelled_positions"]

# Labelled positions x vocabulary above which the full-logits path would hold too much memory
# (~1 GiB of fp32 logits, plus the log-softmax autograd keeps); TRL's tiled head takes over.
MAX_LOGITS = 1 << 28

# A batch's rows are run through the backbone in at most MAX_CHUNKS groups of similar length when
# each further group saves MIN_GAIN of the padded area (`length_chunks`): the same states, less padding.
MAX_CHUNKS = 3
MIN_GAIN = 0.05
# ... and saves at least this many parameter x positions (~2 GFLOP of forward pass, milliseconds on
# any CPU): SmolLM2 (135M) groups when it saves 8 positions; the testbed's 0.8M model, whose passes
# cost more in dispatch than in arithmetic, needs 1,250 (the demo's batches stay whole).
MIN_SAVED_WORK = 1e9

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


def length_chunks(lengths: list[int], *, max_chunks: int = MAX_CHUNKS, min_gain: float = MIN_GAIN,
                  min_saved: float = 0) -> list[list[int]]:
    """Rows of one batch in groups of similar length, each group padded only to its own longest row.

    Rows sorted by length are cut into at most ``max_chunks`` runs with the least padded area (sum
    over groups of rows x the group's longest row). One more group is taken only while it saves at
    least ``min_gain`` of the unsplit batch's area and at least ``min_saved`` positions, since every
    group costs a pass of its own. Returns the groups as lists of row indices, longest group first;
    one group (the rows in their order) means "do not split".
    """
    n = len(lengths)
    area = max(lengths, default=0) * n
    if area - sum(lengths) < max(min_gain * area, min_saved, 1):  # all the padding is less than one cut must save
        return [list(range(n))]
    order = sorted(range(n), key=lambda i: (-lengths[i], i))
    desc = [lengths[i] for i in order]
    # best[c][j]: least area of the first j rows (longest first) in c groups; cut[c][j]: where the last group starts
    inf = float("inf")
    best = [[inf] * (n + 1) for _ in range(max_chunks + 1)]
    cut = [[0] * (n + 1) for _ in range(max_chunks + 1)]
    best[0][0] = 0
    for c in range(1, max_chunks + 1):
        for j in range(1, n + 1):
            for i in range(j):  # the last group is rows i..j-1; its longest row is desc[i]
                split = best[c - 1][i] + desc[i] * (j - i)
                if split < best[c][j]:
                    best[c][j], cut[c][j] = split, i
    chosen = 1
    for c in range(2, min(max_chunks, n) + 1):
        if best[chosen][n] - best[c][n] < max(min_gain * best[1][n], min_saved):
            break
        chosen = c
    if chosen == 1:
        return [list(range(n))]
    groups, j = [], n
    for c in range(chosen, 0, -1):
        i = cut[c][j]
        groups.append(order[i:j])
        j = i
    return groups[::-1]


def _right_padded(attention_mask) -> bool:
    # Every row's ones come first: cutting columns off the right then changes no position.
    return bool((attention_mask[:, 1:] <= attention_mask[:, :-1]).all())


def _backbone(model, args, kwargs):
    """The backbone's last hidden states for the batch, computed in length groups when its rows
    differ in length (right padding, plain inputs only); padded back to the batch's shape. Causal
    attention never looks right, so a row's states do not depend on the padding after it."""
    import torch

    mask = kwargs.get("attention_mask")
    # PEFT passes inputs_embeds, output_attentions, ... as None: only what is set counts.
    given = {k for k, v in kwargs.items() if v is not None and v is not False}
    plain = not args and given <= {"input_ids", "attention_mask", "position_ids", "use_cache", "return_dict"}
    if not plain or mask is None or mask.dim() != 2 or "input_ids" not in kwargs or not _right_padded(mask):
        return model.base_model(*args, **kwargs).last_hidden_state
    groups = length_chunks(mask.sum(-1).tolist(), max_chunks=MAX_CHUNKS, min_gain=MIN_GAIN,
                           min_saved=MIN_SAVED_WORK / model.num_parameters())
    if len(groups) == 1:
        return model.base_model(**kwargs).last_hidden_state
    parts = []
    for rows in groups:
        index = torch.tensor(rows, device=mask.device)
        width = int(mask[index].sum(-1).max())
        part = {k: (v.index_select(0, index)[:, :width] if torch.is_tensor(v) else v) for k, v in kwargs.items()}
        states = model.base_model(**part).last_hidden_state
        parts.append(torch.nn.functional.pad(states, (0, 0, 0, mask.shape[1] - width)))
    # The groups' rows back in the batch's order: position p of the concatenation holds row order[p].
    order = torch.tensor([i for rows in groups for i in rows], device=mask.device)
    return torch.cat(parts).index_select(0, torch.argsort(order))


def _labelled_forward(model, args, kwargs, target, mask, num_items_in_batch):
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    kwargs["use_cache"] = False
    # The backbone is looked up on each call: PEFT and FSDP replace modules after patching.
    hidden = _backbone(model, args, kwargs)[:, :-1]
    head = model.get_output_embeddings()
    labelled = target[mask].to(head.weight.device)
    logits = head(hidden[mask].to(head.weight.device)).float()
    log_softmax = torch.log_softmax(logits, dim=-1)
    chosen = log_softmax.gather(1, labelled[:, None]).squeeze(1)
    with torch.no_grad():  # the fields TRL's trainers log or weight with; none carries a gradient
        entropy = -(log_softmax.exp() * log_softmax).sum(-1)
        is_top1 = logits.argmax(-1) == labelled  # the first maximum, like TRL's kernel
        mean_logits = logits.mean(-1)
        log_sum_sq_probs = torch.logsumexp(2 * log_softmax, dim=-1)  # log sum_v p_v^2 (DPO's WPO weights)
    mask = mask.to(head.weight.device)

    def spread(values):  # back to (batch, seq - 1), zero where the label is -100
        return values.new_zeros(mask.shape).masked_scatter(mask, values)

    log_probs = spread(chosen)
    count = mask.sum().clamp(min=1) if num_items_in_batch is None else num_items_in_batch
    return FusedCausalLMOutput(loss=-log_probs.sum() / count, log_probs=log_probs, entropy=spread(entropy),
                               log_sum_sq_probs=spread(log_sum_sq_probs), mean_logits=spread(mean_logits),
                               is_top1=spread(is_top1), label_mask=mask)
