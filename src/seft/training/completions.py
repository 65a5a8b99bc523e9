"""Where a trained completion ends: exactly one end-of-turn token, and nothing after it.

Every trainer hands TRL its examples in TRL's conversational form, so the model's own chat
template renders prompt and completion and the loss covers the completion only. But the
completion TRL cuts out of a rendered conversation is everything after the prompt, and templates
put text after the end-of-turn token. ChatML (SmolLM2, Qwen) renders an assistant turn as
``content<|im_end|>\\n``; with SmolLM2's tokenizer TRL 1.16 labelled, for one example:

* SFT:  ``ok<|im_end|>\\n`` (the newline after the end of turn is trained);
* DPO:  ``ok<|im_end|>\\n`` in chosen and rejected (the same);
* ORPO: ``ok<|im_end|>\\n<|im_end|>``: its tokenizer appends eos whenever the last token is not eos,
  so every completion taught a second end of turn after the newline.

Generation stops at the first stop token, so nothing after it is ever produced or seen: each
trainer's tokenized data is cut right after the first stop token of each completion (exactly one,
at the end). A completion with no stop token at all (a template whose assistant turn has none)
gets eos appended, so the model still learns to stop, unless ``max_length`` truncated it.
"""
from __future__ import annotations

from collections.abc import Collection

__all__ = ["cut_after_stop", "end_completions_at_stop"]

IGNORE = -100  # the label of a token that gets no loss


def cut_after_stop(ids: list[int], start: int, stop_ids: Collection[int]) -> int | None:
    """The length that keeps ``ids`` up to and including the first stop token at or after
    ``start`` (where the completion begins), or None if the completion holds no stop token."""
    for i in range(start, len(ids)):
        if ids[i] in stop_ids:
            return i + 1
    return None


def _first_label(labels: list[int]) -> int | None:
    return next((i for i, v in enumerate(labels) if v != IGNORE), None)


def _end_sft(row: dict, stop_ids, eos: int, max_length: int | None) -> dict:
    """SFTTrainer rows: ``input_ids`` and ``labels`` (-100 on the prompt), plus any other
    token-aligned column."""
    start = _first_label(row["labels"])
    if start is None:
        return {}
    aligned = [k for k in ("input_ids", "labels", "attention_mask", "completion_mask") if k in row]
    n = cut_after_stop(row["input_ids"], start, stop_ids)
    if n is not None:
        return {k: row[k][:n] for k in aligned}
    if max_length is not None and len(row["input_ids"]) >= max_length:
        return {}  # truncated: the completion does not end here, so it must not learn to stop here
    extra = {"input_ids": eos, "labels": eos, "attention_mask": 1, "completion_mask": 1}
    return {k: row[k] + [extra[k]] for k in aligned}


def _end_dpo(row: dict, stop_ids, eos: int, max_length: int | None) -> dict:
    """DPOTrainer rows: ``prompt_ids`` and the completions ``chosen_ids`` / ``rejected_ids``
    (truncation to ``max_length`` comes later, in the collator)."""
    out = {}
    for key in ("chosen_ids", "rejected_ids"):
        n = cut_after_stop(row[key], 0, stop_ids)
        out[key] = row[key][:n] if n is not None else row[key] + [eos]
    return out


def _end_orpo(row: dict, stop_ids, eos: int, max_length: int | None) -> dict:
    """ORPOTrainer rows: ``{side}_input_ids`` / ``_attention_mask`` / ``_labels`` hold prompt +
    completion (labels -100 on the prompt), for side in chosen and rejected."""
    out = {}
    for side in ("chosen", "rejected"):
        sub = _end_sft({"input_ids": row[f"{side}_input_ids"], "labels": row[f"{side}_labels"],
                        "attention_mask": row[f"{side}_attention_mask"]}, stop_ids, eos, max_length)
        out.update({f"{side}_{k}": v for k, v in sub.items()})
    return out


def _layout(columns):
    """The row function for the columns of a TRL trainer's tokenized data."""
    if "chosen_labels" in columns:
        return _end_orpo
    if "chosen_ids" in columns:
        return _end_dpo
    if "labels" in columns and "input_ids" in columns:
        return _end_sft
    return None


def end_completions_at_stop(trainer, stop_ids: Collection[int], max_length: int | None) -> None:
    """Cut every completion of ``trainer``'s tokenized train and eval data after its first stop
    token (appending eos to a complete one that has none), whichever TRL trainer built it."""
    eos = trainer.processing_class.eos_token_id
    stop_ids = frozenset(int(i) for i in stop_ids)
    if eos is None or not stop_ids:
        raise ValueError("the tokenizer has no eos token: a completion could never end")

    def fix(dataset, name: str):
        if dataset is None or not hasattr(dataset, "column_names"):
            return dataset
        found = _layout(dataset.column_names)
        if found is None:
            raise ValueError(f"unknown tokenized layout of the {name} data: {dataset.column_names}")
        return dataset.map(found, fn_kwargs={"stop_ids": stop_ids, "eos": eos, "max_length": max_length},
                           desc=f"Ending {name} completions at the end-of-turn token")

    trainer.train_dataset = fix(trainer.train_dataset, "train")
    if isinstance(trainer.eval_dataset, dict):
        trainer.eval_dataset = {k: fix(v, f"eval/{k}") for k, v in trainer.eval_dataset.items()}
    else:
        trainer.eval_dataset = fix(trainer.eval_dataset, "eval")

