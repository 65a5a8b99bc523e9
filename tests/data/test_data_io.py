"""Atomic writes and the raw JSONL reader."""
from __future__ import annotations

import json
import os

import pytest

from seft.data import (
    DataError,
    PromptRecord,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    iter_jsonl_raw,
    write_jsonl,
)


def test_atomic_write_text_creates_parents_and_writes(tmp_path):
    target = tmp_path / "a" / "b" / "out.txt"
    assert atomic_write_text(target, "héllo\n") == target
    assert target.read_bytes() == "héllo\n".encode()
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


def test_atomic_write_gives_the_mode_a_plain_open_would(tmp_path):
    atomic_write_text(tmp_path / "a.txt", "x")
    (tmp_path / "b.txt").write_text("x")
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == (tmp_path / "b.txt").stat().st_mode & 0o777


def test_atomic_write_json_format(tmp_path):
    target = tmp_path / "state.json"
    atomic_write_json(target, {"z": 1, "a": [1, 2], "é": "ü"})
    # indent=2, key order kept (not sorted), non-ASCII kept, trailing newline
    assert target.read_text("utf-8") == '{\n  "z": 1,\n  "a": [\n    1,\n    2\n  ],\n  "é": "ü"\n}\n'


def test_atomic_write_json_accepts_records(tmp_path):
    atomic_write_json(tmp_path / "r.json", PromptRecord(id="x", prompt="p"))
    assert json.loads((tmp_path / "r.json").read_text()) == {"id": "x", "prompt": "p", "meta": {}}


def test_write_jsonl_dicts_and_records(tmp_path):
    target = tmp_path / "out.jsonl"
    write_jsonl(target, [{"a": "é\nline"}, PromptRecord(id="1", prompt="q", meta={"k": 1})])
    lines = target.read_text("utf-8").splitlines()
    assert lines == ['{"a": "é\\nline"}', '{"id": "1", "prompt": "q", "meta": {"k": 1}}']
    assert target.read_text("utf-8").endswith("\n")


def test_write_jsonl_empty(tmp_path):
    write_jsonl(tmp_path / "e.jsonl", [])
    assert (tmp_path / "e.jsonl").read_bytes() == b""


def test_failed_replace_leaves_target_untouched_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "data.jsonl"
    target.write_text("old\n")

    def boom(src, dst):
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk on fire"):
        write_jsonl(target, [{"new": 1}])
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["data.jsonl"]


def test_failed_write_midway_leaves_no_file(tmp_path, monkeypatch):
    target = tmp_path / "new.bin"

    def boom(fd):
        raise OSError("fsync failed")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="fsync failed"):
        atomic_write_bytes(target, b"x" * 100)
    assert list(tmp_path.iterdir()) == []


def test_overwrite_replaces_content(tmp_path):
    target = tmp_path / "f.txt"
    atomic_write_text(target, "one")
    atomic_write_text(target, "two")
    assert target.read_text() == "two"


def test_iter_jsonl_raw_skips_blank_lines_and_numbers_lines(tmp_path):
    p = tmp_path / "x.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"a": 1}\n\n   \n{"b": 2}\n')
    assert list(iter_jsonl_raw(p)) == [(1, {"a": 1}), (4, {"b": 2})]


@pytest.mark.parametrize("content, line, needle", [
    (b'{"a": 1}\n{"a": \n', 2, "invalid JSON"),
    (b'{"a": 1}\n{"a": "\xff"}\n', 2, "invalid UTF-8"),
    (b'{"a": 1}\n\n[1, 2]\n', 3, "expected a JSON object, got array"),
    (b'"just a string"\n', 1, "got string"),
])
def test_iter_jsonl_raw_errors_name_file_and_line(tmp_path, content, line, needle):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    with pytest.raises(DataError) as info:
        list(iter_jsonl_raw(p))
    assert info.value.path == str(p) and info.value.line == line
    assert str(info.value).startswith(f"{p}:{line}: ")
    assert needle in str(info.value)


def test_iter_jsonl_raw_missing_file(tmp_path):
    with pytest.raises(DataError, match="cannot read"):
        list(iter_jsonl_raw(tmp_path / "nope.jsonl"))
