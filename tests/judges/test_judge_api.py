"""The OpenAI-compatible judge against a fake server on 127.0.0.1 (an ephemeral port).

The fake judge "reads" the prompts: an answer carrying ``q=N`` has quality N. Pairwise requests
get ``a``/``b``/``tie`` by comparing the two outputs' N; grading requests get ``Rating: [[N]]``.
Faults (status codes, sleeps, broken bodies) are queued per test and consumed one per request.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from seft.judges import get_judge
from seft.judges.openai_compatible import JudgeAPIError, OpenAIJudge

SENTINEL = "sk-SENTINEL-do-not-leak-4242"


def _quality(text: str) -> int:
    m = re.search(r"q=(\d+)", text)
    return int(m.group(1)) if m else 5


def _brain(body: dict) -> str:
    user = body["messages"][-1]["content"]
    pair = re.search(r"## Output \(a\)\n(.*?)\n\n## Output \(b\)\n(.*?)\n\n## Your verdict", user, re.S)
    if pair:
        qa, qb = _quality(pair.group(1)), _quality(pair.group(2))
        return "a" if qa > qb else "b" if qb > qa else "tie"
    answer = re.split(r"\[Assistant's (?:response|reply to grade)\]\n", user)[-1]
    return f"Looks fine.\nRating: [[{_quality(answer)}]]"


class FakeServer:
    def __init__(self):
        self.faults: list[tuple] = []  # consumed one per request, then the brain answers
        self.bias: str | None = None  # if set, every pairwise verdict is this (position bias)
        self.requests: list[dict] = []
        self.inflight = self.max_inflight = 0
        self.delay = 0.0
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    outer.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
                    outer.inflight += 1
                    outer.max_inflight = max(outer.max_inflight, outer.inflight)
                    fault = outer.faults.pop(0) if outer.faults else None
                try:
                    # The work happens here; a request stops counting as in flight before its reply
                    # is written, so a client's next request can never overlap it on a slow machine.
                    if outer.delay:
                        time.sleep(outer.delay)
                finally:
                    with outer.lock:
                        outer.inflight -= 1
                try:
                    outer.respond(self, body, fault)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def respond(self, h, body, fault):
        status, headers, payload = 200, {}, None
        content = _brain(body)
        if self.bias and "## Your verdict" in body["messages"][-1]["content"]:
            content = self.bias
        if fault:
            kind = fault[0]
            if kind == "status":
                status, headers = fault[1], (fault[2] if len(fault) > 2 else {})
                payload = json.dumps({"error": {"message": fault[3] if len(fault) > 3 else "boom"}}).encode()
            elif kind == "sleep":
                time.sleep(fault[1])
            elif kind == "raw":
                payload = fault[1]
            elif kind == "content":
                content = fault[1]
        if payload is None:
            payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        h.send_response(status)
        for k, v in {"Content-Type": "application/json", **headers}.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(payload)))
        h.end_headers()
        h.wfile.write(payload)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


@pytest.fixture
def make_judge(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SEFT_TEST_JUDGE_KEY", SENTINEL)

    def make(**over) -> OpenAIJudge:
        cfg = {"kind": "openai", "model": "fake-judge", "base_url": server.url, "api_key_env": "SEFT_TEST_JUDGE_KEY",
               "cache_dir": str(tmp_path / "cache"), "backoff_s": 0.01, "max_retries": 3, "timeout_s": 5.0,
               "concurrency": 4, **over}
        judge = get_judge(cfg)
        assert isinstance(judge, OpenAIJudge)
        return judge
    return make


RECORDS = [{"prompt": "p1"}, {"prompt": [{"role": "user", "content": "p2"}]}, {"prompt": "p3"}]


def test_pairwise_happy_path_both_orders(server, make_judge):
    j = make_judge()
    prefs = j.compare(RECORDS, ["x q=9", "x q=2", "x q=5"], ["y q=3", "y q=8", "y q=5"])
    assert prefs == [1.0, 0.0, 0.5]
    assert len(server.requests) == 6  # each pair asked in both orders
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == f"Bearer {SENTINEL}"
    assert set(req["body"]) == {"model", "messages", "temperature", "max_tokens"}
    assert req["body"]["model"] == "fake-judge" and req["body"]["temperature"] == 0.0
    assert j.stats == {"calls": 6, "cache_hits": 0, "retries": 0, "failures": 0}


def test_position_bias_cancels(server, make_judge):
    server.bias = "a"  # a judge that always picks the first output
    assert make_judge().compare(RECORDS, ["q=9"] * 3, ["q=1"] * 3) == [0.5, 0.5, 0.5]


def test_single_grading_and_single_protocol_compare(server, make_judge):
    j = make_judge()
    assert j.score(RECORDS, ["q=7", "q=3", "q=10"]) == [7.0, 3.0, 10.0]
    two = {"prompt": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "q=1"},
                      {"role": "user", "content": "b"}], "meta": {"category": "math", "reference": ["r1", "r2"]}}
    assert j.score([two], ["q=8"]) == [8.0]  # graded on the last reply, not the earlier q=1
    assert "Turn 2: r2" in server.requests[-1]["body"]["messages"][-1]["content"]
    js = make_judge(protocol="single")
    assert js.compare(RECORDS, ["q=7", "q=2", "q=4"], ["q=3", "q=3", "q=4"]) == [1.0, 0.0, 0.5]


def test_cache_hit_on_rerun(server, make_judge, tmp_path):
    make_judge().compare(RECORDS, ["q=9", "q=2", "q=5"], ["q=3", "q=8", "q=5"])
    make_judge().score(RECORDS, ["q=7", "q=3", "q=10"])
    seen = len(server.requests)
    again = make_judge()  # a new process would see the same: the cache is on disk
    assert again.compare(RECORDS, ["q=9", "q=2", "q=5"], ["q=3", "q=8", "q=5"]) == [1.0, 0.0, 0.5]
    assert again.score(RECORDS, ["q=7", "q=3", "q=10"]) == [7.0, 3.0, 10.0]
    assert len(server.requests) == seen
    # 5 pairwise (the q=5/q=5 pair reads the same in both orders: asked once) + 3 ratings
    assert again.stats == {"calls": 0, "cache_hits": 8, "retries": 0, "failures": 0}
    assert make_judge(temperature=0.5).score(RECORDS[:1], ["q=7"]) == [7.0]  # other params: a miss
    assert len(server.requests) == seen + 1
    assert make_judge(use_cache=False).score(RECORDS[:1], ["q=7"]) == [7.0]
    assert len(server.requests) == seen + 2


def test_429_honours_retry_after(server, make_judge):
    server.faults = [("status", 429, {"Retry-After": "0.4"}, "slow down")]
    j = make_judge(backoff_s=0.0)
    t0 = time.monotonic()
    assert j.score(RECORDS[:1], ["q=6"]) == [6.0]
    assert time.monotonic() - t0 >= 0.4
    assert j.stats["retries"] == 1 and j.stats["calls"] == 2 and j.stats["failures"] == 0


def test_500_then_success(server, make_judge):
    server.faults = [("status", 500), ("status", 503)]
    j = make_judge()
    assert j.score(RECORDS[:1], ["q=4"]) == [4.0]
    assert j.stats["retries"] == 2


def test_timeout_then_success(server, make_judge):
    server.faults = [("sleep", 1.5)]
    j = make_judge(timeout_s=0.3)
    assert j.score(RECORDS[:1], ["q=2"]) == [2.0]
    assert j.stats["retries"] == 1 and j.stats["failures"] == 0


def test_malformed_json_retried_then_none(server, make_judge, caplog):
    server.faults = [("raw", b"<html>oops")] * 3
    j = make_judge(max_retries=2)
    assert j.score(RECORDS[:1], ["q=2"]) == [None]
    assert j.stats == {"calls": 3, "cache_hits": 0, "retries": 2, "failures": 1}
    assert "1 of 1 requests failed after 3 attempts each (last error: reply is not JSON" in caplog.text
    server.faults = [("raw", b'{"choices": []}'), ("raw", b'{"id": 1}')]
    assert j.score(RECORDS[:1], ["q=2"]) == [2.0]  # failures are not cached: asked again


def test_unparsable_verdict(server, make_judge, tmp_path):
    server.faults = [("content", "Both outputs have merit.")] * 10
    j = make_judge(max_retries=1)
    assert j.compare(RECORDS[:1], ["q=9"], ["q=1"]) == [None]  # neither order gave a verdict
    assert j.stats["failures"] == 2
    server.faults = [("content", "Rating: 7/10")]
    assert j.score(RECORDS[:1], ["q=7"]) == [7.0]  # retried once, then a parsable rating
    cached = "".join(p.read_text() for p in (tmp_path / "cache").glob("*.jsonl"))
    assert "merit" not in cached and "7/10" not in cached  # only parsable replies are cached


def test_401_fails_fast_with_clear_message(server, make_judge):
    server.faults = [("status", 401, {}, f"Incorrect API key provided: {SENTINEL}")] * 50
    server.delay = 0.05
    j = make_judge(max_retries=5, backoff_s=1.0)
    t0 = time.monotonic()
    with pytest.raises(JudgeAPIError) as info:
        j.score(RECORDS * 4, ["q=1"] * 12)
    assert time.monotonic() - t0 < 1.0
    msg = str(info.value)
    assert "HTTP 401" in msg and "Incorrect API key provided" in msg and "SEFT_TEST_JUDGE_KEY" in msg
    assert SENTINEL not in msg
    assert j.stats["retries"] == 0


def test_unreachable_endpoint_raises(make_judge):
    j = make_judge(base_url="http://127.0.0.1:9/v1", max_retries=1, timeout_s=1.0)
    with pytest.raises(JudgeAPIError, match="cannot reach"):
        j.score(RECORDS[:1], ["q=1"])


def test_api_key_never_leaks(server, make_judge, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    server.faults = [("status", 500, {}, f"echo {SENTINEL}"), ("raw", b"not json"),
                     ("status", 429, {"Retry-After": "0"}, f"key {SENTINEL}"),
                     ("content", f"no verdict {SENTINEL}")] * 2
    j = make_judge(max_retries=1)
    j.compare(RECORDS, ["q=9", "q=2", "q=5"], ["q=3", "q=8", "q=5"])
    j.score(RECORDS, ["q=7", "q=3", "q=10"])
    server.faults = [("status", 403, {}, f"bad key {SENTINEL}")]
    with pytest.raises(JudgeAPIError) as info:
        j.score([{"prompt": "new"}], ["q=1"])
    assert all(r["auth"] == f"Bearer {SENTINEL}" for r in server.requests)  # it was sent...
    assert SENTINEL not in caplog.text and SENTINEL not in str(info.value) and SENTINEL not in repr(j)
    assert "***" in caplog.text  # ...and the echoes were scrubbed
    files = list((tmp_path / "cache").rglob("*"))
    assert files and all(SENTINEL not in p.read_text() for p in files if p.is_file())


def test_concurrency_limit(server, make_judge):
    server.delay = 0.15
    j = make_judge(concurrency=3)
    out = j.score([{"prompt": f"p{i}"} for i in range(12)], [f"q={i % 10 + 1}" for i in range(12)])
    assert out == [float(i % 10 + 1) for i in range(12)]
    assert server.max_inflight == 3


def test_identical_requests_asked_once(server, make_judge):
    j = make_judge()
    assert j.score([{"prompt": "same"}] * 5, ["q=3"] * 5) == [3.0] * 5
    assert len(server.requests) == 1


def test_get_judge_by_name_and_config():
    from seft.config.common import JudgeConfig
    from seft.judges.verifiable import TestbedJudge

    assert isinstance(get_judge("testbed"), TestbedJudge)
    assert isinstance(get_judge(JudgeConfig()), TestbedJudge)
    with pytest.raises(ValueError, match="needs settings"):
        get_judge("openai")
    with pytest.raises(ValueError, match="unknown judge"):
        get_judge("gpt5")
    with pytest.raises(ValueError, match="needs `model`"):
        get_judge({"kind": "openai"})


def test_retry_after_header_forms():
    from email.message import Message
    from email.utils import formatdate

    from seft.judges.openai_compatible import _retry_after

    def headers(**kv):
        m = Message()
        for k, v in kv.items():
            m[k.replace("_", "-")] = v
        return m

    assert _retry_after(headers(Retry_After="2")) == 2.0
    assert _retry_after(headers(Retry_After="0.5", retry_after_ms="250")) == 0.25  # the finer one wins
    assert 5 < _retry_after(headers(Retry_After=formatdate(time.time() + 10, usegmt=True))) <= 10
    assert _retry_after(headers(Retry_After="99999")) == 600.0  # capped
    assert _retry_after(headers(Retry_After="soon")) is None and _retry_after(headers()) is None


def test_ping_is_one_uncached_request(server, make_judge):
    j = make_judge()
    assert j.ping() == "reachable"
    assert len(server.requests) == 1 and server.requests[0]["body"]["max_tokens"] == 1
    assert server.requests[0]["auth"] == f"Bearer {SENTINEL}"
    assert j.ping() == "reachable" and len(server.requests) == 2  # never served from the cache


def test_ping_fails_on_a_refusal_and_only_warns_on_a_server_error(server, make_judge):
    server.faults = [("status", 401, {}, f"bad key {SENTINEL}")]
    with pytest.raises(JudgeAPIError, match="HTTP 401") as info:
        make_judge().ping()
    assert SENTINEL not in str(info.value)
    server.faults = [("status", 503, {}, "overloaded")]
    assert make_judge().ping().startswith("reachable, but answered HTTP 503")


def test_ping_of_an_unreachable_endpoint_raises(make_judge):
    with pytest.raises(JudgeAPIError, match="cannot be reached"):
        make_judge(base_url="http://127.0.0.1:9/v1").ping()
