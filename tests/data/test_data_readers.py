"""load_records / iter_records over every source type, bad-record policy and errors."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from seft.data import (
    DataError,
    LoadResult,
    PromptRecord,
    ScoredList,
    ScoredResponse,
    iter_records,
    load_records,
    write_jsonl,
)

SCORED = [
    ScoredList(id="s1", prompt="2+2?", scale=(1, 10), meta={"task": "add"},
               responses=[ScoredResponse("4", 10.0, 1, "a"), ScoredResponse("5", 2.0, 2, "b")]),
    ScoredList(id="s2", prompt="3+3?", scale=(1, 10), meta={"task": "add"},
               responses=[ScoredResponse("6", 9.0, 1, "a"), ScoredResponse("", None, None, None)]),
]
PROMPTS = [PromptRecord(id=f"p{i}", prompt=f"question {i}", meta={"n": i}) for i in range(3)]


def test_jsonl_round_trip(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", SCORED)
    result = load_records(tmp_path / "s.jsonl", "scored")
    assert isinstance(result, LoadResult)
    assert result.records == SCORED
    assert (result.skipped, result.skipped_examples) == (0, [])
    assert result.source == str(tmp_path / "s.jsonl")
    assert list(result) == SCORED and len(result) == 2


@pytest.mark.parametrize("wrap", [False, True])
def test_json_array_and_data_key(tmp_path, wrap):
    rows = [r.to_dict() for r in PROMPTS]
    (tmp_path / "p.json").write_text(json.dumps({"data": rows} if wrap else rows))
    assert load_records(str(tmp_path / "p.json"), "prompts").records == PROMPTS


def test_json_errors_are_located(tmp_path):
    p = tmp_path / "p.json"
    p.write_text('[\n{"prompt": "a"},\n{"prompt": }\n]')
    with pytest.raises(DataError) as info:
        load_records(p, "prompts")
    assert info.value.line == 3 and "invalid JSON" in str(info.value)
    p.write_text('{"rows": []}')
    with pytest.raises(DataError, match="expected a JSON array"):
        load_records(p, "prompts")
    p.write_text('[{"prompt": "a"}, {"prompt": 1}]')
    with pytest.raises(DataError) as info:
        load_records(p, "prompts")
    assert str(info.value).startswith(f"{p}[row 1]: field 'prompt': ")


def test_parquet_round_trip(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([r.to_dict() for r in SCORED]), tmp_path / "s.parquet")
    assert load_records(tmp_path / "s.parquet", "scored").records == SCORED


def test_parquet_bad_row_names_row(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist([{"prompt": "ok"}, {"prompt": ""}]), tmp_path / "p.parquet")
    with pytest.raises(DataError) as info:
        load_records(tmp_path / "p.parquet", "prompts")
    assert str(info.value).startswith(f"{tmp_path / 'p.parquet'}[row 1]: field 'prompt': ")


def test_corrupt_parquet(tmp_path):
    (tmp_path / "x.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="cannot read parquet"):
        load_records(tmp_path / "x.parquet", "prompts")


def test_save_to_disk_dataset(tmp_path):
    import datasets

    datasets.Dataset.from_list([r.to_dict() for r in SCORED]).save_to_disk(str(tmp_path / "ds"))
    assert load_records(tmp_path / "ds", "scored").records == SCORED


def test_save_to_disk_dataset_dict_and_split(tmp_path):
    import datasets

    dd = datasets.DatasetDict({
        "train": datasets.Dataset.from_list([r.to_dict() for r in PROMPTS[:2]]),
        "test": datasets.Dataset.from_list([r.to_dict() for r in PROMPTS[2:]])})
    dd.save_to_disk(str(tmp_path / "dd"))
    assert load_records(tmp_path / "dd", "prompts").records == PROMPTS[:2]
    assert load_records(tmp_path / "dd", "prompts", split="test").records == PROMPTS[2:]
    with pytest.raises(DataError, match="no split 'dev'; available: train, test"):
        load_records(tmp_path / "dd", "prompts", split="dev")


def test_save_to_disk_with_adapter(tmp_path):
    import datasets

    rows = [{"instruction": "Say hi.", "input": "", "output": "hi"}]
    datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "alp"))
    rec = load_records(tmp_path / "alp", "prompts", format="alpaca").records[0]
    assert (rec.prompt, rec.meta) == ("Say hi.", {"reference": "hi"})


def test_directory_that_is_not_a_dataset(tmp_path):
    with pytest.raises(DataError, match="save_to_disk"):
        load_records(tmp_path, "prompts")


def test_hub_failure_becomes_data_error(monkeypatch):
    import datasets

    calls = []

    def fake_load_dataset(name, split=None):
        calls.append((name, split))
        raise ConnectionError("offline")

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    with pytest.raises(DataError) as info:
        load_records("someone/no-such-dataset", "pairs", format="hh_rlhf")
    assert calls == [("someone/no-such-dataset", "train")]
    assert str(info.value).startswith("someone/no-such-dataset: not found locally and hub "
                                      "access failed")


def test_hub_success_goes_through_adapter(monkeypatch):
    import datasets

    rows = [{"chosen": "\n\nHuman: Hi\n\nAssistant: Hello!", "rejected": "\n\nHuman: Hi\n\nAssistant: No."}]
    monkeypatch.setattr(datasets, "load_dataset",
                        lambda name, split=None: datasets.Dataset.from_list(rows))
    rec = load_records("Anthropic/hh-rlhf", "pairs", format="hh_rlhf", split="test").records[0]
    assert (rec.chosen, rec.rejected) == ("Hello!", "No.")


def test_missing_file_does_not_try_the_hub(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("hub called"))
    for missing in (tmp_path / "gone.jsonl", "data/gone.jsonl", "./gone"):
        with pytest.raises(DataError, match="no such file"):
            load_records(missing, "prompts")


def test_unsupported_suffix(tmp_path):
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(DataError, match="unsupported file type"):
        load_records(tmp_path / "x.csv", "prompts")


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_is_an_error(tmp_path, content):
    p = tmp_path / "empty.jsonl"
    p.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_records(p, "prompts", on_bad_record="skip")
    assert str(info.value) == f"{p}: no valid records"


def test_empty_json_array_is_an_error(tmp_path):
    (tmp_path / "e.json").write_text("[]")
    with pytest.raises(DataError, match="no valid records"):
        load_records(tmp_path / "e.json", "prompts")


BAD_LINES = (b'{"prompt": "good one"}\n'
             b'{"prompt": \n'                        # 2: invalid JSON
             b'{"prompt": "caf\xe9"}\n'              # 3: latin-1 byte
             b'{"promt": "typo"}\n'                  # 4: unknown field
             b'\n'
             b'[1]\n'                                # 6: not an object
             b'{"prompt": "another good one"}\n'
             b'{"prompt": 42}\n'                     # 8: wrong type
             b'{"meta": {}}\n')                      # 9: missing field


def test_bad_records_raise_at_first_by_default(tmp_path):
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(BAD_LINES)
    with pytest.raises(DataError) as info:
        load_records(p, "prompts")
    assert info.value.line == 2 and str(info.value).startswith(f"{p}:2: invalid JSON")


def test_on_bad_record_skip_counts(tmp_path):
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(BAD_LINES)
    result = load_records(p, "prompts", on_bad_record="skip")
    assert [r.prompt for r in result.records] == ["good one", "another good one"]
    assert result.skipped == 6
    assert len(result.skipped_examples) == 5  # only the first few are kept
    ex = result.skipped_examples
    assert ex[0].startswith(f"{p}:2: invalid JSON")
    assert ex[1].startswith(f"{p}:3: invalid UTF-8")
    assert ex[2] == f"{p}:4: field 'promt': unknown field (did you mean 'prompt'?)"
    assert ex[3].startswith(f"{p}:6: expected a JSON object")
    assert ex[4].startswith(f"{p}:8: field 'prompt': ")


def test_all_bad_with_skip_is_an_error(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b'{"prompt": 1}\n{"x": 2}\n')
    with pytest.raises(DataError) as info:
        load_records(p, "prompts", on_bad_record="skip")
    assert str(info.value).startswith(f"{p}: no valid records (2 bad record(s) skipped; first: ")


def test_iter_records_streams_and_skips(tmp_path, caplog):
    p = tmp_path / "mixed.jsonl"
    p.write_bytes(BAD_LINES)
    it = iter_records(p, "prompts", on_bad_record="skip")
    assert next(it).prompt == "good one"
    assert [r.prompt for r in it] == ["another good one"]
    assert "skipped 6 bad record(s)" in caplog.text
    with pytest.raises(DataError, match=":2: invalid JSON"):
        list(iter_records(p, "prompts"))


@pytest.mark.parametrize("kwargs, match", [
    ({"kind": "nope"}, "unknown kind"),
    ({"kind": "prompts", "format": "nope"}, "unknown format"),
    ({"kind": "pairs", "format": "nectar"}, "holds 'scored' records, which cannot be read as 'pairs'"),
    ({"kind": "prompts", "on_bad_record": "ignore"}, "on_bad_record"),
])
def test_usage_errors(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_records(tmp_path / "x.jsonl", **kwargs)


def test_import_is_cheap():
    src = Path(__file__).resolve().parents[2] / "src"
    code = ("import sys; import seft.data; "
            "heavy = [m for m in ('datasets', 'pyarrow', 'pandas', 'torch') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(src)})


def test_iter_records_checks_arguments_at_call_time(tmp_path):
    with pytest.raises(ValueError, match="unknown kind"):
        iter_records(tmp_path / "x.jsonl", "nope")
