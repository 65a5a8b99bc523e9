"""LoRA rounds (one adapter, continued round after round) and `seft export` on tiny in-process runs.

The run directories are built with the real round trainer (``evolve._train``) on a tiny Llama and
the run-directory machinery (config.yaml, state.json); drafting, revising and evaluation are
replaced by hand-written metrics, since export only reads them.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from seft.cli import main
from seft.config.common import TrainConfig
from seft.config.core import ConfigError
from seft.config.export import ExportConfig
from seft.config.stages import EvolveConfig, PhaseConfig, RunConfig
from seft.data.io import atomic_write_json
from seft.runs.export import config_hash, run_export
from tiny_models import _one_torch_thread, make_tiny_model_dir  # noqa: F401  (_one_torch_thread: autouse)

EXAMPLES = [{"prompt": f"x: {a}{b}", "completion": f"{b}{a}"} for a in "abcd" for b in "abcd"]


def _metrics(k: int, phase: PhaseConfig) -> dict:
    return {"round": k, "phase": phase.name, "source": phase.source, "drafts": 16,
            "revision": {"n": 16, "levels": {"KEEP": 3, "MINOR": 5 + k, "MAJOR": 8 - k}, "changed": 12},
            "train_size": len(EXAMPLES), "scores": {"eval": {"score": 0.25 + 0.125 * k, "ci95": [0.2, 0.6], "n": 24}}}


def build_run(root: Path, *, lora: bool, phases: list[PhaseConfig], finished: int) -> tuple[Path, Path]:
    """A run directory whose first ``finished`` rounds are trained and marked complete; the next
    round, if scheduled, is started but not finished."""
    import torch

    from seft.data.state import open_run_dir
    from seft.evolution.evolve import _train, schedule

    torch.set_num_threads(1)
    base = make_tiny_model_dir(root / "base")
    run = root / "run"
    train = TrainConfig(lora=lora, lora_r=4, lora_alpha=8, lora_dropout=0.0, max_steps=3, batch_size=8,
                        learning_rate=3e-2, warmup_ratio=0.0, logging_steps=1, max_length=64)
    ev = EvolveConfig(policy=str(base), reviser=str(root / "reviser"), prompts=str(root / "prompts.jsonl"),
                      eval_sets={"eval": str(root / "eval.jsonl")}, phases=phases, train=train)
    state = open_run_dir(run, RunConfig(out=str(run), evolve=ev), force=False)
    atomic_write_json(run / "reviser" / "data.stats.json", {"source": "prefs.jsonl", "format": "seft",
                                                           "records": 24, "examples": 60})
    atomic_write_json(run / "eval" / "base" / "summary.json", {"eval": {"score": 0.25, "ci95": [0.2, 0.3], "n": 24}})
    policy = str(base)
    for k, phase in enumerate(schedule(phases)[:finished], start=1):
        rdir = run / "rounds" / f"round_{k:02d}"
        policy = _train(policy, EXAMPLES, rdir, k, phase, ev, state)
        atomic_write_json(rdir / "metrics.json", _metrics(k, phase))
        state.mark(f"round_{k:02d}")
    if finished < len(schedule(phases)):
        (run / "rounds" / f"round_{finished + 1:02d}").mkdir(parents=True)
    return run, base


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory):
    """Three rounds scheduled (two internal, one external), two finished."""
    phases = [PhaseConfig("internal", "internal", 2), PhaseConfig("external", "external", 1)]
    return build_run(tmp_path_factory.mktemp("lora"), lora=True, phases=phases, finished=2)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    return build_run(tmp_path_factory.mktemp("full"), lora=False, phases=[PhaseConfig("internal", "internal", 2)],
                     finished=2)


def _logits(model):
    import torch

    ids = torch.tensor([[3, 5, 7, 9, 11, 4, 6]])
    with torch.no_grad():
        return model(input_ids=ids).logits


def _plain(folder: Path):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(folder)).eval()


def _policy(run: Path, k: int):
    from seft.models.loading import load_model_and_tokenizer

    return load_model_and_tokenizer(run / "rounds" / f"round_{k:02d}" / "policy")[0]  # adapter applied, not merged


# ----------------------------------------------------------------------------- LoRA across rounds
def test_lora_rounds_continue_one_adapter_on_the_base(lora_run):
    from safetensors.torch import load_file

    run, base = lora_run
    r1, r2 = (run / "rounds" / f"round_0{k}" / "policy" for k in (1, 2))
    for r in (r1, r2):
        assert (r / "adapter_model.safetensors").is_file() and not (r / "model.safetensors").exists()
        # every round's adapter names the starting policy as its base, never the previous round
        assert json.loads((r / "adapter_config.json").read_text())["base_model_name_or_path"] == str(base.resolve())
        assert (r / "adapter_model.safetensors").stat().st_size < (base / "model.safetensors").stat().st_size / 2
    a1, a2 = load_file(str(r1 / "adapter_model.safetensors")), load_file(str(r2 / "adapter_model.safetensors"))
    assert a1.keys() == a2.keys() and any(not a1[k].equal(a2[k]) for k in a1)  # one adapter, trained further
    base_logits = _logits(_plain(base))
    assert (_logits(_policy(run, 2)) - base_logits).abs().max() > 1e-3


# ----------------------------------------------------------------------------- export
def test_export_lora_round_as_adapter_and_merged(lora_run, tmp_path):
    run, base = lora_run
    expected = _logits(_policy(run, 2))
    adapter = run_export(ExportConfig(run_dir=str(run), round=2, out=str(tmp_path / "adapter")))
    names = {p.name for p in adapter.iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja",
            "generation_config.json", "README.md"} <= names
    assert "model.safetensors" not in names and "train_metrics.json" not in names
    assert (_logits(_plain(adapter)) - expected).abs().max() < 1e-5  # base + adapter, through transformers' PEFT loading

    merged = run_export(ExportConfig(run_dir=str(run), round=2, merge=True))
    assert merged == run / "export" / "round_02_merged"
    names = {p.name for p in merged.iterdir()}
    assert {"model.safetensors", "config.json", "generation_config.json", "tokenizer.json", "chat_template.jinja",
            "README.md"} <= names and "adapter_config.json" not in names
    assert (_logits(_plain(merged)) - expected).abs().max() < 1e-5
    assert (_logits(_plain(merged)) - _logits(_plain(base))).abs().max() > 1e-3  # the adapter is in it

    card = (merged / "README.md").read_text()
    assert "full weights (float32): LoRA adapter merged into its base" in card and "library_name: transformers" in card
    assert "LoRA adapter (r=4)" in (adapter / "README.md").read_text()


def test_export_full_model_defaults_to_the_final_round_and_describes_it(full_run):
    run, base = full_run
    out = run_export(ExportConfig(run_dir=str(run)))
    assert out == run / "export" / "round_02"
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    assert (_logits(_plain(out)) - _logits(_policy(run, 2))).abs().max() < 1e-5
    half = run_export(ExportConfig(run_dir=str(run), round=1, dtype="bfloat16", out=str(out.parent / "bf16")))
    assert json.loads((half / "config.json").read_text())["dtype"] == "bfloat16"
    assert "full weights (bfloat16)" in (half / "README.md").read_text()

    card = (out / "README.md").read_text()
    raw = yaml.safe_load((run / "config.yaml").read_text())
    from seft import __version__

    for fact in (f"| base model | {base} |", f"| reviser | {base.parent / 'reviser'} |", "| round | 2 of 2 |",
                 "full weights (float32), full fine-tune", f"| run config hash | {config_hash(raw)} |",
                 f"| seft version | {__version__} |", "60 training examples from 24 preference records",
                 "| 1 | internal | internal | 16 | 3 / 6 / 7 | 12 | 16 |",
                 "| 2 | internal | internal | 16 | 3 / 7 / 6 | 12 | 16 |",
                 "| eval | 0.250 [0.200, 0.300] (n=24) | 0.500 [0.200, 0.600] (n=24) |", "judge: testbed."):
        assert fact in card, fact
    # the hash ignores where the run lives and how it was launched, not what it is
    assert config_hash({**raw, "out": "elsewhere", "force": True}) == config_hash(raw)
    assert config_hash({**raw, "seeds": 2}) != config_hash(raw)


def test_export_errors(lora_run, tmp_path):
    run, _ = lora_run
    with pytest.raises(ConfigError, match="does not exist"):
        run_export(ExportConfig(run_dir=str(tmp_path / "nope")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="is not a run directory"):
        run_export(ExportConfig(run_dir=str(tmp_path / "empty")))
    seeds = tmp_path / "seeds"
    (seeds / "seed_0" / "rounds").mkdir(parents=True)
    with pytest.raises(ConfigError, match="one run per seed: export one of them, e.g. seft export .*seed_0"):
        run_export(ExportConfig(run_dir=str(seeds)))
    with pytest.raises(ConfigError, match=r"round 4 does not exist: the run has 3 round\(s\) \(finished: 1, 2\)"):
        run_export(ExportConfig(run_dir=str(run), round=4))
    # the final round (3) is scheduled and started but not finished
    with pytest.raises(ConfigError, match=r"round 3 of .* is not finished \(finished: 1, 2\).*--round 2"):
        run_export(ExportConfig(run_dir=str(run)))
    run_export(ExportConfig(run_dir=str(run), round=1, out=str(tmp_path / "o")))
    with pytest.raises(FileExistsError, match="--force"):
        run_export(ExportConfig(run_dir=str(run), round=1, out=str(tmp_path / "o")))
    run_export(ExportConfig(run_dir=str(run), round=1, out=str(tmp_path / "o"), force=True))


def test_evolve_only_directory_without_config(lora_run, tmp_path):
    run, base = lora_run
    bare = tmp_path / "bare"
    shutil.copytree(run, bare)
    (bare / "config.yaml").unlink()  # `seft evolve` on its own writes none
    with pytest.raises(ConfigError, match="round 3 of .* is not finished"):  # the highest round folder
        run_export(ExportConfig(run_dir=str(bare)))
    (bare / "rounds" / "round_03").rmdir()
    card = (run_export(ExportConfig(run_dir=str(bare))) / "README.md").read_text()
    assert f"| base model | {base.resolve()} |" in card and "| reviser | unknown (no config.yaml" in card
    assert "| round | 2 |" in card and "| run config hash | unknown" in card


def test_cli_export(lora_run, tmp_path, capsys):
    run, _ = lora_run
    assert main(["export", str(run), "--round", "1", "--merge", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["run_dir"] == str(run) and cfg["round"] == 1 and cfg["merge"] is True
    assert main(["export", str(run), "--round", "1", "--merge", "--out", str(tmp_path / "m")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "m") and (tmp_path / "m" / "model.safetensors").is_file()
    assert main(["export", str(tmp_path / "nope")]) == 2
    assert "seft export: error: run_dir:" in capsys.readouterr().err
    assert main(["export", str(run)]) == 2  # the final round is not finished
    assert "is not finished" in capsys.readouterr().err
