"""The judgment cache: keys, persistence, torn lines after a crash."""
from __future__ import annotations

import json

from seft.data.paths import cache_path
from seft.judges.cache import JudgmentCache, judge_key, request_key

JK = judge_key("openai", "m", "http://127.0.0.1:1/v1/", "single", "v1", {"temperature": 0.0, "max_tokens": 8})
MSGS = [{"role": "user", "content": "hi"}]


def test_keys_are_stable_and_sensitive():
    k = request_key(JK, MSGS)
    assert k == request_key(dict(reversed(list(JK.items()))), [dict(m) for m in MSGS])  # order-free
    assert len(k) == 64
    assert judge_key("openai", "m", "http://127.0.0.1:1/v1", "single", "v1", {"temperature": 0.0, "max_tokens": 8}) == JK
    others = [
        judge_key("openai", "m2", "http://127.0.0.1:1/v1", "single", "v1", {"temperature": 0.0, "max_tokens": 8}),
        judge_key("openai", "m", "http://127.0.0.1:2/v1", "single", "v1", {"temperature": 0.0, "max_tokens": 8}),
        judge_key("openai", "m", "http://127.0.0.1:1/v1", "pairwise", "v1", {"temperature": 0.0, "max_tokens": 8}),
        judge_key("openai", "m", "http://127.0.0.1:1/v1", "single", "v2", {"temperature": 0.0, "max_tokens": 8}),
        judge_key("openai", "m", "http://127.0.0.1:1/v1", "single", "v1", {"temperature": 0.5, "max_tokens": 8}),
    ]
    assert len({request_key(j, MSGS) for j in others} | {k}) == 6
    assert request_key(JK, [{"role": "user", "content": "hi "}]) != k


def test_roundtrip_and_reload(tmp_path):
    c = JudgmentCache(tmp_path, JK)
    assert c.get("k1") is None
    c.put("k1", "Rating: [[7]]")
    c.put("k1", "ignored: first writer wins")
    c.put("k2", "ünïcode [[3]]")
    again = JudgmentCache(tmp_path, JK)
    assert len(again) == 2 and again.get("k1") == "Rating: [[7]]" and again.get("k2") == "ünïcode [[3]]"
    assert len(c.path.read_text(encoding="utf-8").splitlines()) == 2
    header = json.loads(c.path.with_suffix(".judge.json").read_text())
    assert header["model"] == "m" and header["protocol"] == "single"
    # another judge key is another shard
    other = JudgmentCache(tmp_path, {**JK, "model": "x"})
    assert other.path != c.path and len(other) == 0


def test_torn_last_line_is_ignored_and_not_glued(tmp_path):
    c = JudgmentCache(tmp_path, JK)
    c.put("k1", "a")
    with open(c.path, "a", encoding="utf-8") as fh:
        fh.write('{"key": "k2", "rep')  # a crash mid-write
    again = JudgmentCache(tmp_path, JK)
    assert again.get("k1") == "a" and again.get("k2") is None and again.ignored_lines == 1
    again.put("k3", "c")
    third = JudgmentCache(tmp_path, JK)
    assert third.get("k3") == "c" and third.get("k1") == "a" and third.ignored_lines == 1


def test_cache_path(monkeypatch, tmp_path):
    monkeypatch.setenv("SEFT_CACHE", str(tmp_path))
    assert cache_path("~/.cache/seft/judgments") == tmp_path / "judgments"
    monkeypatch.delenv("SEFT_CACHE")
    assert "~" not in str(cache_path("~/x"))
