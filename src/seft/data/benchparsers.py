"""Parsers of the published prompt-set files that ``benchsets`` reads out of PyPI archives.

Each turns the raw bytes of one archive member into prompt records and reports a bad row as a
:class:`DataError` located at ``archive!member``, row or line, and field.
"""
from __future__ import annotations

import json

from .errors import DataError, json_type
from .schema import PromptRecord

__all__ = ["parse_alpaca_eval", "parse_ifbench", "parse_mt_bench"]


def _text(value, field: str, where: dict) -> str:
    if not isinstance(value, str) or not value.strip():
        got = "missing" if value is None else f"a {json_type(value)}" if not isinstance(value, str) else "empty"
        raise DataError(f"expected a non-empty string, got {got}", field=field, **where)
    return value


def parse_alpaca_eval(data: bytes, where: str) -> list[PromptRecord]:
    """Prompt records from AlpacaEval's ``outputs.json`` (a JSON array of rows with
    ``instruction``, ``output``, ``generator``, ``dataset``)."""
    try:
        rows = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"invalid JSON: {err}", path=where) from None
    if not isinstance(rows, list):
        raise DataError(f"expected a JSON array of rows, got a {json_type(rows)}", path=where)
    records = []
    for i, row in enumerate(rows):
        loc = {"path": where, "row": i}
        if not isinstance(row, dict):
            raise DataError(f"expected a JSON object, got a {json_type(row)}", **loc)
        meta = {"dataset": row.get("dataset")}
        if isinstance(row.get("output"), str):
            meta.update(reference_output=row["output"], reference_generator=row.get("generator"))
        records.append(PromptRecord(id=f"alpaca_eval/{i:03d}", prompt=_text(row.get("instruction"), "instruction", loc),
                                    meta=meta))
    return records


def _jsonl(data: bytes, where: str):
    for line_no, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise DataError(f"invalid JSON: {err}", path=where, line=line_no) from None
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got a {json_type(obj)}", path=where, line=line_no)
        yield {"path": where, "line": line_no}, obj


def _turns(value, field: str, loc: dict) -> list[str]:
    if not isinstance(value, list) or not value:
        raise DataError(f"expected a non-empty list of strings, got a {json_type(value)}", field=field, **loc)
    return [_text(t, f"{field}[{k}]", loc) for k, t in enumerate(value)]


def _qid(value, loc: dict) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise DataError(f"expected an integer, got a {json_type(value)}", field="question_id", **loc)
    return value


def parse_mt_bench(questions: bytes, references: bytes, where_q: str, where_r: str) -> list[PromptRecord]:
    """Prompt records from FastChat's ``question.jsonl`` (``question_id``, ``category``, ``turns``,
    sometimes a short ``reference``) and ``reference_answer/gpt-4.jsonl`` (``question_id``,
    ``choices[0].turns``: one answer per turn)."""
    refs: dict[int, list[str]] = {}
    for loc, obj in _jsonl(references, where_r):
        qid = _qid(obj.get("question_id"), loc)
        choices = obj.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise DataError("expected a non-empty list of objects", field="choices", **loc)
        refs[qid] = _turns(choices[0].get("turns"), "choices[0].turns", loc)
    records, seen = [], set()
    for loc, obj in _jsonl(questions, where_q):
        qid = _qid(obj.get("question_id"), loc)
        if qid in seen:
            raise DataError(f"duplicate question_id {qid}", field="question_id", **loc)
        seen.add(qid)
        turns = _turns(obj.get("turns"), "turns", loc)
        meta = {"question_id": qid, "category": _text(obj.get("category"), "category", loc), "turns": turns}
        if qid in refs:
            if len(refs[qid]) != len(turns):
                raise DataError(f"question {qid} has {len(turns)} turns but its reference answer has "
                                f"{len(refs[qid])}", path=where_r)
            meta.update(reference=refs[qid], reference_source="gpt-4")
        if obj.get("reference") is not None:  # FastChat's short answer key, kept verbatim
            meta["question_reference"] = obj["reference"]
        records.append(PromptRecord(id=f"mt_bench/{qid}", prompt=turns[0], meta=meta))
    if not records:
        raise DataError("no questions", path=where_q)
    unused = sorted(set(refs) - seen)
    if unused:
        raise DataError(f"reference answers for unknown question_id(s) {unused[:5]}", path=where_r)
    return records


def parse_ifbench(data: bytes, where: str) -> list[PromptRecord]:
    """Prompt records from IFBench's ``IFBench_test.jsonl`` (``key``, ``prompt``,
    ``instruction_id_list``, ``kwargs``: one argument object per instruction). The checker's
    inputs go to ``meta`` (``registry: ifbench`` names the checker library's registry), where a
    Python judge such as ``seft.worlds.scoring:strict`` reads them."""
    records, seen = [], set()
    for loc, obj in _jsonl(data, where):
        key = obj.get("key")
        if not isinstance(key, (str, int)) or isinstance(key, bool):
            raise DataError(f"expected a string or integer, got a {json_type(key)}", field="key", **loc)
        if str(key) in seen:
            raise DataError(f"duplicate key {key!r}", field="key", **loc)
        seen.add(str(key))
        ids, kwargs = obj.get("instruction_id_list"), obj.get("kwargs")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) and i for i in ids):
            raise DataError(f"expected a non-empty list of instruction ids, got a {json_type(ids)}",
                            field="instruction_id_list", **loc)
        if not isinstance(kwargs, list) or len(kwargs) != len(ids) or \
                not all(k is None or isinstance(k, dict) for k in kwargs):
            raise DataError(f"expected one argument object (or null) per instruction ({len(ids)})", field="kwargs", **loc)
        meta = {"registry": "ifbench", "instruction_id_list": ids, "key": str(key),
                "kwargs": [{a: v for a, v in (k or {}).items() if v is not None} for k in kwargs]}  # nulls: unset
        records.append(PromptRecord(id=f"ifbench/{key}", prompt=_text(obj.get("prompt"), "prompt", loc), meta=meta))
    if not records:
        raise DataError("no prompts", path=where)
    return records


