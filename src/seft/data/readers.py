"""Load records from wherever they live: JSONL, JSON, parquet, a ``save_to_disk`` directory or
the Hugging Face hub, in our schema or a published dataset's (through an adapter).

One code path serves the testbed and real datasets: every source is reduced to a stream of
``(location, row)`` and every row goes through the same adapter + validator. ``datasets`` and
``pyarrow`` are imported only when a source needs them, so ``import seft`` stays fast.
"""
from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .adapters import ADAPTERS, adapt_row
from .errors import DataError, json_type
from .io import jsonl_items
from .kinds import DERIVABLE, derivable, derive
from .schema import RECORD_KINDS
from .validate import parse_record

__all__ = ["FORMATS", "LoadResult", "iter_records", "load_records"]

log = logging.getLogger(__name__)

FORMATS = ("seft", *ADAPTERS)
MAX_EXAMPLES = 5  # skipped-record messages kept in a LoadResult: enough to see the pattern
_FILE_SUFFIXES = (".jsonl", ".json", ".parquet")
# "name" or "owner/name" as the hub spells them; anything else that does not exist is a path.
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")

Loc = dict  # {"line": n} for line-based files, {"row": i} for row-based ones


@dataclass
class LoadResult:
    """Records loaded from one source, plus what was skipped (``on_bad_record="skip"``)."""
    records: list
    skipped: int = 0
    skipped_examples: list = field(default_factory=list)  # first few error messages
    source: str = ""

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.records)


# --- sources -> (location, row) ---------------------------------------------------------------

def _json_rows(path: Path) -> Iterator[tuple[Loc, Any]]:
    p = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path=p) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError("invalid UTF-8 byte", path=p, line=line) from None
    try:
        doc = json.loads(text.lstrip("\ufeff"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg} (column {exc.colno})", path=p,
                        line=exc.lineno) from None
    except RecursionError:
        raise DataError("invalid JSON: nested too deeply", path=p) from None
    # Both shapes are common: a bare array, and {"data": [...]} (SQuAD-style dumps).
    if isinstance(doc, dict) and isinstance(doc.get("data"), list):
        doc = doc["data"]
    if not isinstance(doc, list):
        raise DataError(f"expected a JSON array of objects or {{\"data\": [...]}}, got "
                        f"{json_type(doc)}", path=p)
    for i, row in enumerate(doc):
        yield {"row": i}, row


def _parquet_rows(path: Path) -> Iterator[tuple[Loc, Any]]:
    import pyarrow.parquet as pq  # lazy: heavy import

    index = 0
    try:
        # Batches keep memory flat for large files.
        for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
            for row in batch.to_pylist():
                yield {"row": index}, row
                index += 1
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 -- pyarrow raises ArrowInvalid, OSError, ... for corrupt files
        raise DataError(f"cannot read parquet: {exc}", path=str(path), row=index or None) \
            from None


def _dataset_rows(ds: Any) -> Iterator[tuple[Loc, Any]]:
    for i, row in enumerate(ds):
        yield {"row": i}, row


def _pick_split(obj: Any, split: str | None, where: str) -> Any:
    from datasets import DatasetDict, IterableDatasetDict

    if isinstance(obj, (DatasetDict, IterableDatasetDict)):
        name = split or "train"
        if name not in obj:
            raise DataError(f"no split {name!r}; available: {', '.join(obj)}", path=where)
        return obj[name]
    return obj  # a single Dataset: `split` has nothing to choose from and is ignored


def _disk_rows(path: Path, split: str | None) -> Iterator[tuple[Loc, Any]]:
    import datasets  # lazy

    try:
        obj = datasets.load_from_disk(str(path))
    except Exception as exc:  # noqa: BLE001 -- any failure means "not a saved dataset"
        raise DataError(f"not a dataset saved with save_to_disk ({exc})", path=str(path)) \
            from None
    yield from _dataset_rows(_pick_split(obj, split, str(path)))


def _hub_rows(name: str, split: str | None) -> Iterator[tuple[Loc, Any]]:
    import datasets  # lazy

    try:
        ds = datasets.load_dataset(name, split=split or "train")
    except Exception as exc:  # noqa: BLE001 -- offline, unknown name, auth, ... all read the same to a user
        raise DataError(f"not found locally and hub access failed: {type(exc).__name__}: {exc}",
                        path=name) from None
    yield from _dataset_rows(_pick_split(ds, split, name))


def _rows(source: str | os.PathLike[str], split: str | None
          ) -> Iterator[tuple[Loc, Any]]:
    """``(location, row or DataError)`` for every row of ``source``."""
    path = Path(source).expanduser()
    if path.is_dir():
        yield from _disk_rows(path, split)
        return
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".jsonl":
            for line, item in jsonl_items(path):
                yield {"line": line}, item
        elif suffix == ".json":
            yield from _json_rows(path)
        elif suffix == ".parquet":
            yield from _parquet_rows(path)
        else:
            raise DataError("unsupported file type; expected .jsonl, .json, .parquet or a "
                            "directory written by Dataset.save_to_disk", path=str(path))
        return
    name = os.fspath(source)
    # Only something shaped like a hub id goes to the hub; a missing "data/x.jsonl" is a typo,
    # and must not cost a network round trip or a confusing hub error.
    if _HUB_NAME.match(name) and not name.lower().endswith(_FILE_SUFFIXES):
        yield from _hub_rows(name, split)
        return
    raise DataError("no such file or directory", path=name)


# --- rows -> records --------------------------------------------------------------------------

def _check_args(kind: str, format: str, on_bad_record: str) -> None:
    if kind not in RECORD_KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(RECORD_KINDS)}")
    if format != "seft":
        if format not in ADAPTERS:
            raise ValueError(f"unknown format {format!r}; expected one of {list(FORMATS)}")
        if not derivable(ADAPTERS[format][0], kind):
            able = [f for f, (native, _) in ADAPTERS.items() if derivable(native, kind)]
            raise ValueError(f"format {format!r} holds {ADAPTERS[format][0]!r} records, which "
                             f"cannot be read as {kind!r}; formats that can: seft, "
                             f"{', '.join(able)}")
    if on_bad_record not in ("error", "skip"):
        raise ValueError(f"on_bad_record must be 'error' or 'skip', got {on_bad_record!r}")


def _results(source: str | os.PathLike[str], kind: str, format: str, split: str | None
             ) -> Iterator[Any]:
    """Every row as a record or as the DataError that explains why it is not one."""
    where = os.fspath(source)
    for loc, row in _rows(source, split):
        if isinstance(row, DataError):
            yield row
            continue
        try:
            if format == "seft":
                record = parse_record(_seft_kind(row, kind), row, path=where, **loc)
            else:
                record = adapt_row(format, row, path=where, line=loc.get("line"),
                                   row_index=loc.get("row"))
            yield derive(record, kind)
        except DataError as err:
            yield err.located(path=where, line=loc.get("line"), row=loc.get("row"))


# The field that tells each kind's seft rows apart: a file of scored lists can serve as prompts.
_MARKERS = (("responses", "scored"), ("chosen", "pairs"), ("response", "external"))


def _seft_kind(row: Any, wanted: str) -> str:
    """The kind a seft-format row is parsed as: ``wanted``, or, for prompts and external
    responses, the kind the row's fields say it is when that kind can be read as ``wanted``."""
    if isinstance(row, dict) and len(DERIVABLE[wanted]) > 1:
        for marker, kind in _MARKERS:
            if marker in row and derivable(kind, wanted):
                return kind
    return wanted


def iter_records(source: str | os.PathLike[str], kind: str, *, format: str = "seft",
                 on_bad_record: str = "error", split: str | None = None) -> Iterator[Any]:
    """Stream records one by one (JSONL and parquet are read incrementally).

    Same arguments and errors as :func:`load_records`; with ``on_bad_record="skip"`` the number
    of skipped rows is logged at the end instead of returned.
    """
    _check_args(kind, format, on_bad_record)  # here, not in the generator: fail at the call
    return _stream(source, kind, format, on_bad_record, split)


def _stream(source: str | os.PathLike[str], kind: str, format: str, on_bad_record: str,
            split: str | None) -> Iterator[Any]:
    kept = skipped = 0
    first_error = None
    for item in _results(source, kind, format, split):
        if isinstance(item, DataError):
            if on_bad_record == "error":
                raise item
            skipped += 1
            first_error = first_error or str(item)
            continue
        kept += 1
        yield item
    if skipped:
        log.warning("%s: skipped %d bad record(s); first: %s", os.fspath(source), skipped,
                    first_error)
    if not kept:
        raise _empty_error(source, skipped, first_error)


def _empty_error(source: str | os.PathLike[str], skipped: int, first: str | None) -> DataError:
    detail = f" ({skipped} bad record(s) skipped; first: {first})" if skipped else ""
    return DataError("no valid records" + detail, path=os.fspath(source))


def load_records(source: str | os.PathLike[str], kind: str, *, format: str = "seft",
                 on_bad_record: str = "error", split: str | None = None) -> LoadResult:
    """Load every record of ``kind`` from ``source``.

    ``source``: a ``.jsonl`` / ``.json`` (array, or ``{"data": [...]}``) / ``.parquet`` file, a
    directory written by ``Dataset.save_to_disk`` or ``DatasetDict.save_to_disk`` (``split``
    picks, default ``"train"``), or, when no such path exists, a hub dataset name.
    ``format``: ``"seft"`` (our schema) or a key of ``ADAPTERS`` for a published dataset shape.
    ``on_bad_record``: ``"error"`` raises :class:`DataError` at the first bad row; ``"skip"``
    drops bad rows and reports how many (and the first few messages) in the result.
    A source with no valid record is always a :class:`DataError`.
    """
    _check_args(kind, format, on_bad_record)
    result = LoadResult(records=[], source=os.fspath(source))
    for item in _results(source, kind, format, split):
        if isinstance(item, DataError):
            if on_bad_record == "error":
                raise item
            result.skipped += 1
            if len(result.skipped_examples) < MAX_EXAMPLES:
                result.skipped_examples.append(str(item))
        else:
            result.records.append(item)
    if not result.records:
        first = result.skipped_examples[0] if result.skipped_examples else None
        raise _empty_error(source, result.skipped, first)
    return result
