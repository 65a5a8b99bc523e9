"""``seft testbed build``: files, determinism, caching, disjoint splits, a loadable base policy."""
from __future__ import annotations

import json
import time

import pytest

from seft.testbed.build import DATA_FILES, config_hash, run_testbed_build
from seft.testbed.splits import prompt_stream, take


def _lines(path):
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_build_writes_every_artifact(tiny_testbed):
    for name in DATA_FILES + ["manifest.json", "base_policy/config.json", "base_policy/tokenizer.json"]:
        assert (tiny_testbed / name).is_file(), name
    m = json.loads((tiny_testbed / "manifest.json").read_text())
    assert m["sizes"] == {"preferences.jsonl": 24, "prompts.jsonl": 64, "external.jsonl": 32,
                          "eval.jsonl": 24, "eval_ood.jsonl": 12, "dev.jsonl": 12}
    assert 0.0 <= m["base_policy_score"] <= 1.0 and set(m["base_policy_score_per_task"]) == set(m["tasks"])
    prefs = _lines(tiny_testbed / "preferences.jsonl")
    assert all(len(p["responses"]) >= 4 and p["scale"] == [0.0, 1.0] for p in prefs)
    # every preference list has a perfect response scored 1 and an empty one scored 0
    assert all(max(r["score"] for r in p["responses"]) == 1.0 for p in prefs)
    assert all(min(r["score"] for r in p["responses"]) == 0.0 for p in prefs)


def test_held_out_prompts_never_appear_in_training_splits(tiny_testbed):
    held = {r["prompt"] for n in ("eval.jsonl", "eval_ood.jsonl") for r in _lines(tiny_testbed / n)}
    for name in ("preferences.jsonl", "prompts.jsonl", "external.jsonl"):
        assert not held & {r["prompt"] for r in _lines(tiny_testbed / name)}, name
    # training prompts carry no answer; held-out ones do
    assert all("reference" not in r["meta"] for r in _lines(tiny_testbed / "prompts.jsonl"))
    assert all("reference" in r["meta"] for r in _lines(tiny_testbed / "eval.jsonl"))


def test_ood_inputs_are_longer(tiny_testbed):
    mean = lambda rows: sum(len(r["prompt"]) for r in rows) / len(rows)  # noqa: E731
    assert mean(_lines(tiny_testbed / "eval_ood.jsonl")) > mean(_lines(tiny_testbed / "eval.jsonl")) + 5


def test_stream_continues_the_prompt_file(tiny_testbed):
    m = json.loads((tiny_testbed / "manifest.json").read_text())
    held = frozenset(r["prompt"] for n in ("eval.jsonl", "eval_ood.jsonl") for r in _lines(tiny_testbed / n))
    stream = take(prompt_stream(m["seed"], m["tasks"], exclude=held), 100)
    assert [r.to_dict() for r in stream[:64]] == _lines(tiny_testbed / "prompts.jsonl")
    assert len({r.prompt for r in stream}) > 90  # the stream goes on with new prompts


def test_same_seed_same_files_and_cache_hit(tmp_path, tiny_testbed, tiny_testbed_cfg):
    tiny_testbed_config = tiny_testbed_cfg
    cfg = tiny_testbed_config(tmp_path, out=str(tmp_path / "a"))
    a = run_testbed_build(cfg)
    for name in DATA_FILES:  # byte-identical to the session build with the same settings
        assert (a / name).read_bytes() == (tiny_testbed / name).read_bytes(), name
    built_at = json.loads((a / "manifest.json").read_text())["built_at"]
    t0 = time.time()
    assert run_testbed_build(cfg) == a
    assert time.time() - t0 < 2 and json.loads((a / "manifest.json").read_text())["built_at"] == built_at
    other = run_testbed_build(tiny_testbed_config(tmp_path, out=str(tmp_path / "b"), seed=1))
    assert (other / "eval.jsonl").read_bytes() != (a / "eval.jsonl").read_bytes()


def test_hash_ignores_output_location_only(tmp_path, tiny_testbed_cfg):
    tiny_testbed_config = tiny_testbed_cfg
    a = tiny_testbed_config(tmp_path)
    assert config_hash(a) == config_hash(tiny_testbed_config(tmp_path, out="/elsewhere", force=True))
    assert config_hash(a) != config_hash(tiny_testbed_config(tmp_path, pretrain_steps=31))


def test_refuses_to_overwrite_a_foreign_folder(tmp_path, tiny_testbed_cfg):
    tiny_testbed_config = tiny_testbed_cfg
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a world built from this config"):
        run_testbed_build(tiny_testbed_config(tmp_path, out=str(tmp_path / "x")))
    assert (tmp_path / "x" / "mine.txt").read_text() == "keep me"


def test_base_policy_loads_and_generates(tiny_testbed):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from seft.testbed.policy import greedy_answers

    model = AutoModelForCausalLM.from_pretrained(tiny_testbed / "base_policy")
    tok = AutoTokenizer.from_pretrained(tiny_testbed / "base_policy")
    assert tok.chat_template and tok.eos_token == "<|end|>"
    answers = greedy_answers(model, tok, ["add: 12+34", "reverse: abc"], max_new_tokens=8)
    assert len(answers) == 2 and all(isinstance(a, str) for a in answers)
    assert sum(p.numel() for p in model.parameters()) > 10_000
