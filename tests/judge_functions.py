"""Scorers for `judge.kind: python` in tests (importable as ``judge_functions:NAME``: pytest puts
this folder on sys.path)."""
from __future__ import annotations

from seft.testbed.tasks import score_response


def _text(prompt) -> str:
    return prompt if isinstance(prompt, str) else [m["content"] for m in prompt if m["role"] == "user"][-1]


def testbed_score(record: dict, response: str) -> float | None:
    """The testbed's scorer for a record that lost ``meta.task`` on its way through a published
    shape: the task is the prompt's first word ("add: 1+2", "count b: abba"); None without a reference."""
    reference = (record.get("meta") or {}).get("reference")
    if reference is None:
        return None
    return score_response(_text(record["prompt"]).split(":", 1)[0].split()[0], reference, response)


def not_a_number(record: dict, response: str):
    return "high"


def out_of_range(record: dict, response: str):
    return 1.5


NOT_CALLABLE = 3


CALLS: list[int] = []  # how many items each call of `counted_length` and `batched_length` scored


def counted_length(record: dict, response: str) -> float:
    CALLS.append(1)
    return min(len(response), 10) / 10


def batched_length(records: list, responses: list) -> list:
    CALLS.append(len(records))
    return [min(len(r), 10) / 10 for r in responses]


batched_length.batched = True


def batched_wrong_length(records: list, responses: list) -> list:
    return [0.5]


batched_wrong_length.batched = True
