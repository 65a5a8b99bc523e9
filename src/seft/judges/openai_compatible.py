"""An LLM judge behind any OpenAI-compatible ``/chat/completions`` endpoint.

Works with vLLM and llama.cpp servers and hosted APIs; stdlib HTTP only, so no new dependency.

* ``score`` grades each answer MT-Bench-style and returns the rating on its **1-10 scale** (the
  scale MT-Bench reports, so numbers compare with published ones).
* ``compare`` with ``protocol="pairwise"`` asks the AlpacaEval-style a/b question in *both*
  orders, (a, b) and (b, a), and averages the preference for a: LLM judges favour one position,
  and swapping cancels that bias to first order. If only one order yields a verdict it stands
  alone. With ``protocol="single"`` each answer is rated and the higher rating wins (0.5 on a tie).
* A judgment that still fails after ``max_retries`` is returned as **None** (the lists are
  ``list[float | None]``) and counted in ``stats["failures"]``; callers drop Nones. Failures are
  not cached, so a rerun asks again; successes are cached, so a rerun pays nothing for them.

Failure handling per request: timeouts, connection errors, 5xx, 408 and 429 are retried with
exponential backoff and jitter (a 429's ``Retry-After`` / ``retry-after-ms`` is honoured instead);
a reply that is not JSON, has no ``choices[0].message.content`` or holds no parsable verdict or
rating is retried the same way; any other 4xx stops the whole call at once with
:class:`JudgeAPIError` naming the status and the server's message. If the endpoint was never
reached at all (every attempt of a request failed to connect before any success), that is
configuration, not bad luck, so it raises too rather than returning a column of Nones.

The API key is read from the environment variable named in the config, sent only in the
``Authorization`` header, and scrubbed from every error message and log line.
"""
from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, NoReturn, Sequence

from ..data.paths import cache_path
from . import templates as T
from .cache import JudgmentCache, judge_key, request_key

__all__ = ["OpenAIJudge", "JudgeAPIError"]

log = logging.getLogger(__name__)

MAX_WAIT_S = 600.0  # the longest Retry-After we honour; beyond it something is wrong upstream


class JudgeAPIError(RuntimeError):
    """The judge endpoint refused the request (a 4xx other than 408/429) or cannot be reached."""


class _Retry(Exception):
    """One failed attempt worth retrying; ``wait`` is the server's Retry-After, if any."""

    def __init__(self, reason: str, *, wait: float | None = None, unreachable: bool = False):
        super().__init__(reason)
        self.wait, self.unreachable = wait, unreachable


class OpenAIJudge:
    """``OpenAIJudge(JudgeConfig(kind="openai", model=..., base_url=...))``."""

    def __init__(self, cfg: Any):
        self.cfg = cfg
        self.name = f"openai:{cfg.model}"
        self.protocol = cfg.protocol
        self.url = cfg.base_url.rstrip("/") + "/chat/completions"
        self._key = os.environ.get(cfg.api_key_env) or None  # never stored anywhere else
        host = urllib.parse.urlsplit(self.url).hostname or ""
        # A local server must never be reached through an HTTP(S)_PROXY from the environment.
        local = host in ("localhost", "127.0.0.1", "::1")
        self._opener = urllib.request.build_opener(*([urllib.request.ProxyHandler({})] if local else []))
        self._params = {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens}
        self._caches: dict[str, JudgmentCache] = {}
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._reached = False  # has any request got an HTTP answer? (see _ask)
        self._last_error = ""
        self.stats = {"calls": 0, "cache_hits": 0, "retries": 0, "failures": 0}

    def __repr__(self) -> str:  # the default repr would be harmless, but be explicit: no key
        return f"OpenAIJudge(model={self.cfg.model!r}, url={self.url!r}, protocol={self.protocol!r})"

    # ------------------------------------------------------------------------- public API
    def score(self, records: Sequence[dict], responses: Sequence[str]) -> list[float | None]:
        """MT-Bench-style rating 1-10 per (record, response); None when the judge failed."""
        reqs = [T.grading_messages(r, resp) for r, resp in zip(records, responses, strict=True)]
        return self._run("single", reqs, T.parse_rating)

    def compare(self, records: Sequence[dict], a: Sequence[str], b: Sequence[str]) -> list[float | None]:
        """Preference for ``a`` in [0, 1]; None when no order gave a verdict."""
        if not (len(records) == len(a) == len(b)):
            raise ValueError(f"compare needs equal lengths, got {len(records)}, {len(a)}, {len(b)}")
        if self.protocol == "single":
            ratings = self.score(list(records) * 2, list(a) + list(b))  # one pooled batch
            ra, rb = ratings[:len(a)], ratings[len(a):]
            return [None if x is None or y is None else 0.5 if x == y else float(x > y)
                    for x, y in zip(ra, rb)]
        instr = [T.render_conversation(r["prompt"]) for r in records]
        reqs = [T.pairwise_messages(i, x, y) for i, x, y in zip(instr, a, b)]
        reqs += [T.pairwise_messages(i, y, x) for i, x, y in zip(instr, a, b)]
        prefs = self._run("pairwise", reqs, T.parse_preference)
        n, out = len(records), []
        for p_ab, p_ba in zip(prefs[:n], prefs[n:]):
            votes = [p for p in (p_ab, None if p_ba is None else 1.0 - p_ba) if p is not None]
            out.append(sum(votes) / len(votes) if votes else None)
        return out

    def ping(self) -> str:
        """One cheap request (a one-token reply, never cached), to fail before a run rather than
        after hours of training: JudgeAPIError when the endpoint cannot be reached or refuses the
        request (a 4xx: a wrong key, model or URL). A 429 or 5xx proves it is there: the run's
        retries deal with those, so they are returned as a warning instead."""
        body = json.dumps({"model": self.cfg.model, "max_tokens": 1, "temperature": 0.0,
                           "messages": [{"role": "user", "content": "Reply with OK."}]}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(req, timeout=min(self.cfg.timeout_s, 15.0)) as resp:
                resp.read()
        except urllib.error.HTTPError as err:
            try:
                self._http_error(err)
            except _Retry as retry:
                return f"reachable, but answered {retry} (the run retries these)"
        except (TimeoutError, socket.timeout):
            return f"reachable, but no reply within {min(self.cfg.timeout_s, 15.0)} s"
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            reason = getattr(err, "reason", err)
            raise JudgeAPIError(self._redact(f"judge endpoint {self.url} cannot be reached: {reason}")) from None
        return "reachable"

    # ------------------------------------------------------------------------- batching
    def _judge_key(self, protocol: str) -> dict:
        return judge_key("openai", self.cfg.model, self.cfg.base_url, protocol, T.TEMPLATE_VERSION,
                         self._params)

    def _cache(self, protocol: str) -> JudgmentCache | None:
        if not self.cfg.use_cache:
            return None
        with self._lock:
            if protocol not in self._caches:
                cache_dir = cache_path(self.cfg.cache_dir)
                self._caches[protocol] = JudgmentCache(cache_dir, self._judge_key(protocol))
            return self._caches[protocol]

    def _run(self, protocol: str, requests: list[list[dict]], parse: Callable) -> list[Any]:
        cache = self._cache(protocol)
        judge = self._judge_key(protocol)
        keys = [request_key(judge, m) for m in requests]
        results: dict[str, Any] = {}
        todo: dict[str, list[dict]] = {}
        for key, messages in zip(keys, requests):
            if key in results or key in todo:
                continue  # identical requests in one batch are asked once
            cached = cache.get(key) if cache else None
            value = parse(cached) if cached is not None else None
            if value is not None:
                results[key] = value
                self._count("cache_hits")
            else:
                todo[key] = messages
        if todo:
            self._abort.clear()
            pool = ThreadPoolExecutor(max_workers=self.cfg.concurrency, thread_name_prefix="seft-judge")
            futures = {k: pool.submit(self._ask, m, parse, cache, k) for k, m in todo.items()}
            try:
                for k, fut in futures.items():
                    results[k] = fut.result()
            except BaseException:
                # Fail fast: queued requests are dropped, running ones stop before their next
                # attempt, and nobody waits for a request still in flight.
                self._abort.set()
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            pool.shutdown()
            failed = sum(results[k] is None for k in todo)
            if failed:  # one line per batch, not per request: a flaky endpoint must not flood logs
                log.warning("judge %s: %d of %d requests failed after %d attempts each (last error: %s)",
                            self.name, failed, len(todo), self.cfg.max_retries + 1, self._last_error)
        return [results[k] for k in keys]

    def _count(self, name: str) -> None:
        with self._lock:
            self.stats[name] += 1

    # ------------------------------------------------------------------------- one request
    def _ask(self, messages: list[dict], parse: Callable, cache: JudgmentCache | None, key: str):
        last: _Retry | None = None
        for attempt in range(self.cfg.max_retries + 1):
            if self._abort.is_set():
                return None
            if attempt:
                self._count("retries")
                self._wait(last.wait if last and last.wait is not None else self._backoff(attempt - 1))
            try:
                text = self._post(messages)
            except _Retry as err:
                last = err
                log.debug("judge attempt %d failed: %s", attempt + 1, err)
                continue
            text = self._redact(text)  # a judge echoing the key must not put it on disk
            value = parse(text)
            if value is None:
                last = _Retry(f"no parsable verdict or rating in the reply: {text[:200]!r}")
                log.debug("judge attempt %d failed: %s", attempt + 1, last)
                continue
            if cache is not None:
                cache.put(key, text)
            return value
        self._count("failures")
        if last is not None and last.unreachable and not self._reached:
            raise JudgeAPIError(f"cannot reach the judge at {self.url} after "
                                f"{self.cfg.max_retries + 1} attempts: {last}")
        self._last_error = str(last)
        return None

    def _backoff(self, retry: int) -> float:
        # Exponential with jitter, so many workers throttled at once do not retry in lockstep.
        return min(self.cfg.backoff_s * 2 ** retry, 60.0) * random.uniform(0.5, 1.0)

    def _wait(self, seconds: float) -> None:
        self._abort.wait(seconds)  # a sleep that an abort elsewhere ends early

    def _redact(self, text: str) -> str:
        # Some servers echo the key back in 401 messages; it must not reach logs or tracebacks.
        return text.replace(self._key, "***") if self._key else text

    def _post(self, messages: list[dict]) -> str:
        body = json.dumps({"model": self.cfg.model, "messages": messages, **self._params}).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        req = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        self._count("calls")
        try:
            with self._opener.open(req, timeout=self.cfg.timeout_s) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as err:
            self._reached = True
            self._http_error(err)
        except (TimeoutError, socket.timeout) as err:
            self._reached = True  # it accepted the connection; it is just slow
            raise _Retry(f"no response within {self.cfg.timeout_s} s ({err})") from None
        except urllib.error.URLError as err:
            timed_out = isinstance(err.reason, (TimeoutError, socket.timeout))
            raise _Retry(self._redact(f"connection failed: {err.reason}"), unreachable=not timed_out) from None
        except (http.client.HTTPException, ConnectionError, OSError) as err:
            raise _Retry(self._redact(f"connection failed: {type(err).__name__}: {err}")) from None
        self._reached = True
        return self._content(raw)

    def _http_error(self, err: urllib.error.HTTPError) -> NoReturn:
        try:
            detail = _server_message(err.read())
        except Exception:  # a body that breaks off mid-read says nothing more
            detail = err.reason or ""
        detail = self._redact(str(detail))
        if err.code == 429:
            raise _Retry(f"HTTP 429 rate limited: {detail}", wait=_retry_after(err.headers)) from None
        if err.code >= 500 or err.code == 408:
            raise _Retry(f"HTTP {err.code}: {detail}") from None
        hint = f" (check the key in ${self.cfg.api_key_env})" if err.code in (401, 403) else ""
        raise JudgeAPIError(f"judge endpoint {self.url} answered HTTP {err.code}: {detail}{hint}") from None

    def _content(self, raw: bytes) -> str:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _Retry(f"reply is not JSON: {raw[:200]!r}") from None
        try:
            content = data["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise _Retry(f"reply has no choices[0].message.content: {self._redact(str(data))[:200]}") from None
        if not isinstance(content, str):
            raise _Retry("reply content is not text")
        return content


def _server_message(body: bytes) -> str:
    """The error text from an OpenAI-style ``{"error": {"message": ...}}`` body, else the body."""
    text = body.decode("utf-8", "replace").strip()
    try:
        err = json.loads(text).get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if isinstance(err, str):
            return err
    except (ValueError, AttributeError):
        pass
    return text[:500] or "(empty body)"


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` (OpenAI) or ``Retry-After`` (seconds or a date)."""
    if headers is None:
        return None
    ms, value = headers.get("retry-after-ms"), headers.get("Retry-After")
    try:
        if ms is not None:
            return min(max(float(ms) / 1000.0, 0.0), MAX_WAIT_S)
        if value is not None:
            return min(max(float(value), 0.0), MAX_WAIT_S)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
            return min(max(when.timestamp() - time.time(), 0.0), MAX_WAIT_S)
        except (TypeError, ValueError):
            return None
    return None
