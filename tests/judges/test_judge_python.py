"""`judge.kind: python`: a scorer function as a judge, with clear errors for a bad one."""
from __future__ import annotations

import pytest

from seft.config.core import ConfigError
from seft.judges import get_judge, judge_label

RECS = [{"id": "a", "prompt": "add: 1+2", "meta": {"reference": "3"}},
        {"id": "b", "prompt": [{"role": "user", "content": "upper: ab"}], "meta": {"reference": "AB"}},
        {"id": "c", "prompt": "add: 2+2", "meta": {}}]


def judge(fn: str):
    return get_judge({"kind": "python", "function": fn})


def test_scores_compares_and_passes_none_through():
    j = judge("judge_functions:testbed_score")
    assert j.score(RECS, ["3", "AB", "4"]) == [1.0, 1.0, None]
    assert j.compare(RECS, ["3", "ab", "4"], ["4", "AB", "4"]) == [1.0, 0.0, None]
    assert j.compare(RECS[:1], ["3"], ["3"]) == [0.5]
    assert judge_label({"kind": "python", "function": "judge_functions:testbed_score"}) == \
        "python:judge_functions:testbed_score"


@pytest.mark.parametrize("spec, message", [
    ("no_such_module_xyz:f", "module 'no_such_module_xyz' not found"),
    ("judge_functions:nope", "has no attribute 'nope'"),
    ("judge_functions:NOT_CALLABLE", "is a int, not a function"),
    ("judge_functions", "expected 'package.module:name'"),
    ("a:b:c", "expected 'package.module:name'"),
])
def test_bad_function_is_a_config_error(spec, message):
    with pytest.raises(ConfigError, match=message):
        judge(spec)


@pytest.mark.parametrize("fn, shown", [("not_a_number", "'high'"), ("out_of_range", "1.5")])
def test_a_bad_return_value_names_the_function_and_record(fn, shown):
    with pytest.raises(ValueError, match=rf"judge judge_functions:{fn} returned {shown} for record 'a'"):
        judge(f"judge_functions:{fn}").score(RECS[:1], ["3"])


def test_function_is_required():
    with pytest.raises(ValueError, match="needs `function`"):
        get_judge({"kind": "python"})
