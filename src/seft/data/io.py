"""Atomic file writes and a strict raw JSONL reader.

Every artifact of a run is written through :func:`atomic_write_bytes`: the bytes go to a temp
file in the *same directory* (so ``os.replace`` is a rename within one filesystem, hence atomic),
are flushed and fsync'ed, and only then replace the target. A crash therefore leaves either the
old file or the complete new one — never a truncated file that a resumed run would mistake for a
finished stage.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import DataError, json_type

__all__ = [
    "file_sha256",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "iter_jsonl_raw",
    "jsonl_items",
    "to_jsonable",
    "write_jsonl",
]


def _fsync_dir(directory: Path) -> None:
    # Make the rename itself durable. Not every platform lets you open a directory (Windows),
    # and losing only the rename on power failure is still safe, so failures are ignored.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _current_umask() -> int:
    mask = os.umask(0)  # reading the umask means setting it; done once, at import
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; parent directories are created. Returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # The temp name starts with a dot and ends in .tmp so globbing "*.jsonl" never picks it up.
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp makes 0600 files; an artifact gets the mode a plain open() would give it.
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        # Includes KeyboardInterrupt: never leave the temp file behind.
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(target.parent)
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` as UTF-8 atomically (no newline translation, so files are identical on
    every platform)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def to_jsonable(obj: Any) -> Any:
    """Records (anything with ``to_dict()``) become dicts; everything else passes through."""
    to_dict = getattr(obj, "to_dict", None)
    return to_dict() if callable(to_dict) else obj


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write one JSON document (indent=2, key order kept, trailing newline) atomically."""
    text = json.dumps(to_jsonable(obj), indent=2, sort_keys=False, ensure_ascii=False)
    return atomic_write_text(path, text + "\n")


def write_jsonl(path: str | os.PathLike[str], records: Iterable[Any]) -> Path:
    """Write one JSON object per line atomically. ``records`` are dicts or records with
    ``to_dict()``. Non-ASCII text is kept as is (``ensure_ascii=False``): files stay readable and
    smaller for non-English data."""
    lines = []
    for rec in records:
        # json.dumps never emits a raw newline (it escapes them), so one record = one line.
        lines.append(json.dumps(to_jsonable(rec), ensure_ascii=False))
    return atomic_write_text(path, "".join(line + "\n" for line in lines))


def iter_jsonl_raw(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_no, obj)`` for each non-blank line of a JSONL file (line numbers from 1).

    Raises :class:`DataError` naming the file and line for non-UTF-8 bytes, invalid JSON, or a
    line that is not a JSON object. The file is streamed, so huge files are fine.
    """
    for line_no, item in jsonl_items(path):
        if isinstance(item, DataError):
            raise item
        yield line_no, item


def jsonl_items(path: str | os.PathLike[str]) -> Iterator[tuple[int, dict | DataError]]:
    """Like :func:`iter_jsonl_raw`, but a bad line yields its :class:`DataError` instead of
    raising, so a caller that skips bad records can carry on with the next line. Only a file
    that cannot be opened raises."""
    p = str(path)
    try:
        with open(path, "rb") as fh:
            # Binary, line by line: a bad byte is reported on its own line and the rest still
            # reads.
            for line_no, raw in enumerate(fh, start=1):
                item = _parse_line(raw, p, line_no)
                if item is not None:  # blank line
                    yield line_no, item
    except OSError as exc:
        raise DataError(f"cannot read file: {exc.strerror or exc}", path=p) from None


def _parse_line(raw: bytes, path: str, line_no: int) -> dict | DataError | None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return DataError(f"invalid UTF-8 byte at column {exc.start + 1}", path=path, line=line_no)
    if line_no == 1:
        text = text.lstrip("\ufeff")  # tolerate a BOM written by some editors
    if not text.strip():
        return None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return DataError(f"invalid JSON: {exc.msg} (column {exc.colno})", path=path, line=line_no)
    except RecursionError:
        return DataError("invalid JSON: nested too deeply", path=path, line=line_no)
    if not isinstance(obj, dict):
        return DataError(f"expected a JSON object, got {json_type(obj)}", path=path, line=line_no)
    return obj


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (archives and model weights are large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
