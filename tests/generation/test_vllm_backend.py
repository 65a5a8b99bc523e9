"""The vLLM backend against a fake engine: vLLM itself (a CUDA build) is never installed here.

A stand-in ``vllm`` module (``LLM``, ``SamplingParams``) is put into ``sys.modules``; the tests
check what the engine is asked for and what comes back, through vLLM's public API only.
"""
from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from seft.config.common import GenerationConfig
from seft.config.core import ConfigError
from seft.generation.base import SamplingParams
from seft.generation.factory import GeneratorCache, build_generator, check_backend
from seft.generation.vllm import engine_kwargs
from seft.models.chat import render_prompts
from tiny_models import _one_torch_thread, make_tiny_model_dir  # noqa: F401  (_one_torch_thread: autouse)


class FakeSamplingParams:
    def __init__(self, **kwargs):
        self.kwargs = kwargs


class FakeLLM:
    """Records its settings and every request; answers each prompt with a text naming its position,
    returned in input order as vLLM does."""

    instances: list = []

    def __init__(self, model, **kwargs):
        self.model, self.kwargs, self.calls = model, kwargs, []
        self.model_files = sorted(p.name for p in Path(model).iterdir())  # what the engine would load
        FakeLLM.instances.append(self)

    def generate(self, prompts, sampling_params, use_tqdm=True):
        self.calls.append((prompts, sampling_params))
        return [types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"answer {i}<stop>tail")])
                for i in range(len(prompts))]


@pytest.fixture
def fake_vllm(monkeypatch):
    mod = types.ModuleType("vllm")
    mod.LLM, mod.SamplingParams = FakeLLM, FakeSamplingParams
    FakeLLM.instances = []
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return mod


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return make_tiny_model_dir(tmp_path_factory.mktemp("vllm") / "base")


def _decode(tok, request: dict) -> str:
    return tok.decode(request["prompt_token_ids"])


VLLM = GenerationConfig(backend="vllm", tensor_parallel_size=2, gpu_memory_utilization=0.5, max_model_len=128,
                        dtype="bfloat16", enforce_eager=True, seed=3)


def test_engine_settings_and_chat_rendered_prompts_with_prefixes(fake_vllm, tiny_model):
    gen = build_generator(str(tiny_model), VLLM)
    engine = FakeLLM.instances[0]
    assert engine.model == str(tiny_model.resolve())
    assert engine.kwargs == {"tokenizer": str(tiny_model.resolve()), "tensor_parallel_size": 2,
                             "gpu_memory_utilization": 0.5, "max_model_len": 128, "dtype": "bfloat16",
                             "enforce_eager": True, "seed": 3}
    prompts = ["x: ab", [{"role": "user", "content": "x: cd"}]]
    gen.generate(prompts, SamplingParams(temperature=0.0), prefixes=["[MAJOR]\n", ""])
    requests, _ = engine.calls[0]
    # the same rendering as the HF backend (the model's chat template), with the prefix appended,
    # and exactly the tokens the HF backend feeds (no second BOS from the engine's tokenizer)
    expected = render_prompts(gen.tokenizer, prompts, ["[MAJOR]\n", ""])
    assert [_decode(gen.tokenizer, r) for r in requests] == expected
    assert expected[0].endswith("[MAJOR]\n") and "x: ab" in expected[0]
    assert requests[0]["prompt_token_ids"] == gen.tokenizer(expected[0], add_special_tokens=False)["input_ids"]
    gen.generate(prompts, SamplingParams(temperature=0.0))
    assert [_decode(gen.tokenizer, r) for r in engine.calls[1][0]] == render_prompts(gen.tokenizer, prompts)


def test_ngram_speculation_settings_reach_the_engine(fake_vllm, tiny_model):
    import dataclasses

    build_generator(str(tiny_model), dataclasses.replace(VLLM, speculative_tokens=5, prompt_lookup_max=3))
    assert FakeLLM.instances[-1].kwargs["speculative_config"] == {
        "method": "ngram", "num_speculative_tokens": 5, "prompt_lookup_max": 3, "prompt_lookup_min": 2}
    assert "speculative_config" not in engine_kwargs(VLLM)  # off by default
    with pytest.raises(ValueError, match="prompt_lookup_min"):
        GenerationConfig(prompt_lookup_min=5, prompt_lookup_max=4)


def test_sampling_params_mapping(fake_vllm, tiny_model):
    gen = build_generator(str(tiny_model), VLLM)
    engine = FakeLLM.instances[0]
    eos = gen.tokenizer.eos_token_id  # also the tiny model's generation-config eos
    gen.generate(["a", "b"], SamplingParams(temperature=0.0, top_p=0.5, max_new_tokens=7, stop=["\n"], seed=9))
    greedy = [p.kwargs for p in engine.calls[0][1]]
    assert greedy == [{"max_tokens": 7, "stop": ["\n"], "stop_token_ids": [eos], "temperature": 0.0, "top_p": 1.0}] * 2
    gen.generate(["a", "b", "c"], SamplingParams(temperature=0.8, top_p=0.9, max_new_tokens=5, seed=2))
    hot = [p.kwargs for p in engine.calls[1][1]]
    # one seed per request, from the call's seed and the prompt's index: independent of batching
    assert [h["seed"] for h in hot] == [2 * 1_000_003, 2 * 1_000_003 + 1, 2 * 1_000_003 + 2]
    assert all(h["temperature"] == 0.8 and h["top_p"] == 0.9 and h["max_tokens"] == 5 and h["stop"] is None
               for h in hot)


def test_outputs_in_input_order_cut_at_stop(fake_vllm, tiny_model):
    gen = build_generator(str(tiny_model), VLLM)
    texts = gen.generate([f"x: {c}" for c in "abcde"], SamplingParams(temperature=0.0, stop=["<stop>"]))
    assert texts == [f"answer {i}" for i in range(5)]
    assert gen.generate([f"x: {c}" for c in "ab"], SamplingParams(temperature=0.0)) == \
        ["answer 0<stop>tail", "answer 1<stop>tail"]
    assert gen.generate([], SamplingParams()) == []


def test_lora_adapter_is_merged_into_a_temporary_model(fake_vllm, tiny_model, tmp_path):
    from peft import LoraConfig, get_peft_model

    from seft.models.loading import load_model_and_tokenizer, quiet_library_noise

    model, tok = load_model_and_tokenizer(tiny_model)
    with quiet_library_noise():
        peft = get_peft_model(model, LoraConfig(r=2, target_modules="all-linear", task_type="CAUSAL_LM"))
    peft.save_pretrained(tmp_path / "adapter")
    tok.save_pretrained(tmp_path / "adapter")
    gen = build_generator(str(tmp_path / "adapter"), VLLM)
    engine = FakeLLM.instances[0]
    merged = Path(engine.model)
    assert merged.is_dir() and "model.safetensors" in engine.model_files and "adapter_config.json" not in engine.model_files
    gen.close()
    assert not merged.exists() and gen.engine is None


def test_cache_keeps_one_engine_per_model_and_one_alive(fake_vllm, tiny_model, tmp_path):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(tiny_model, other)
    cache = GeneratorCache()
    a = cache.generator(str(tiny_model), 8, VLLM)
    assert cache.generator(str(tiny_model), 16, VLLM) is a and len(FakeLLM.instances) == 1  # built once
    b = cache.generator(str(other), 8, VLLM)
    assert a.engine is None and b.engine is not None  # switching models closed the first engine
    cache.release_engines()
    assert b.engine is None
    hf = cache.generator(str(tiny_model), 4)  # no section: the HF backend, untouched by engine release
    cache.release_engines()
    assert cache.generator(str(tiny_model), 4) is hf and type(hf).__name__ == "HFGenerator"


def test_not_installed_error_names_the_extra(monkeypatch, tiny_model):
    monkeypatch.setitem(sys.modules, "vllm", None)  # `import vllm` raises ImportError
    with pytest.raises(ConfigError, match=r"pip install 'seft\[vllm\]'"):
        check_backend(VLLM)
    with pytest.raises(ConfigError, match=r"pip install 'seft\[vllm\]'"):
        build_generator(str(tiny_model), VLLM)
    check_backend(GenerationConfig())  # hf needs nothing extra


def test_evolve_refuses_vllm_before_any_work_when_missing(monkeypatch, tmp_path):
    from seft.config.stages import EvolveConfig
    from seft.evolution.evolve import run_evolve

    monkeypatch.setitem(sys.modules, "vllm", None)
    cfg = EvolveConfig(policy="p", reviser="r", prompts="x.jsonl", out=str(tmp_path / "o"),
                       draft=GenerationConfig(backend="vllm"))
    with pytest.raises(ConfigError, match=r"seft\[vllm\]"):
        run_evolve(cfg)
    assert not (tmp_path / "o").exists()


def test_stops_at_every_turn_end_of_the_generation_config(fake_vllm, tiny_model, tmp_path):
    import json
    import shutil

    model = tmp_path / "m"
    shutil.copytree(tiny_model, model)
    gc_path = model / "generation_config.json"
    eos = json.loads(gc_path.read_text())["eos_token_id"]
    gc_path.write_text(json.dumps({**json.loads(gc_path.read_text()), "eos_token_id": [eos, 5]}))
    gen = build_generator(str(model), VLLM)
    gen.generate(["a"], SamplingParams(temperature=0.0))
    assert FakeLLM.instances[0].calls[0][1][0].kwargs["stop_token_ids"] == sorted({eos, 5})
