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


def _cached(fn: str, tmp_path, **extra):
    return get_judge({"kind": "python", "function": fn, "cache_dir": str(tmp_path / "judgments"), **extra})


def test_scores_are_cached_per_item_and_a_rerun_calls_nothing(tmp_path):
    import judge_functions as jf

    jf.CALLS.clear()
    j = _cached("judge_functions:counted_length", tmp_path)
    assert j.score(RECS, ["abc", "", "abcdefghijkl"]) == [0.3, 0.0, 1.0]
    assert len(jf.CALLS) == 3
    again = _cached("judge_functions:counted_length", tmp_path)  # a new process would read the same file
    assert again.score(RECS, ["abc", "", "abcdefghijkl"]) == [0.3, 0.0, 1.0]
    assert len(jf.CALLS) == 3 and again.calls == 0
    # A changed response or record is a new item; the rest still come from the cache.
    changed = [dict(RECS[0], meta={"reference": "4"}), RECS[1], RECS[2]]
    assert again.score(changed, ["abc", "a", "abcdefghijkl"]) == [0.3, 0.1, 1.0]
    assert again.calls == 2
    off = _cached("judge_functions:counted_length", tmp_path, use_cache=False)
    off.score(RECS, ["abc", "", "abcdefghijkl"])
    assert off.calls == 3


def test_the_cache_key_holds_the_function_and_its_source(tmp_path):
    a = _cached("judge_functions:counted_length", tmp_path)
    b = _cached("judge_functions:batched_length", tmp_path)
    assert a.key["source"] and a.key["source"] == b.key["source"]  # same module file
    assert a.cache.path != b.cache.path                          # different function: another shard


def test_a_batched_function_gets_lists(tmp_path):
    import judge_functions as jf

    jf.CALLS.clear()
    j = _cached("judge_functions:batched_length", tmp_path, use_cache=False)
    j.batch_size = 2
    assert j.batched
    assert j.score(RECS, ["abc", "", "abcdefghijkl"]) == [0.3, 0.0, 1.0]
    assert jf.CALLS == [2, 1]
    with pytest.raises(ValueError, match="batched but returned list of length 1 for 3 items"):
        _cached("judge_functions:batched_wrong_length", tmp_path, use_cache=False).score(RECS, ["a", "b", "c"])
