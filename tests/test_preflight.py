"""Checks before a run (``seft run --dry-run``, and the first thing ``seft run`` does): each
misconfiguration a newcomer makes fails in seconds with the file, the setting and the number."""
from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from seft.cli import main
from seft.config.stages import PhaseConfig, RunConfig
from seft.runs.plan import judge_calls, plan_rounds, shortfalls, train_steps
from test_pipeline import run_config  # noqa: F401  (the tiny end-to-end run config fixture)


def _with(run_config: Path, **sections) -> Path:  # noqa: F811
    conf = yaml.safe_load(run_config.read_text())
    for key, value in sections.items():
        node = conf
        *parents, leaf = key.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    run_config.write_text(yaml.safe_dump(conf))
    return run_config


def _dry(run_config, tmp_path, capsys, *extra):  # noqa: F811
    t0 = time.perf_counter()
    rc = main(["run", str(run_config), "--out", str(tmp_path / "run"), "--dry-run", *extra])
    seconds = time.perf_counter() - t0
    out, err = capsys.readouterr()
    assert not (tmp_path / "run").exists()  # a dry run writes nothing
    return rc, out + err, seconds


def _alpaca(path: Path, records: list[dict]) -> Path:
    path.write_text(json.dumps([{"instruction": r["prompt"], "input": "", "output": r["meta"].get("reference", "")}
                                for r in records]))
    return path


def _read(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def test_dry_run_prints_the_plan_and_writes_nothing(run_config, tmp_path, capsys, tiny_testbed):  # noqa: F811
    rc, out, seconds = _dry(run_config, tmp_path, capsys)
    assert rc == 0, out
    assert "round 1 (internal): prompts #0-#15 -> 16 drafts" in out
    assert "round 2 (internal): prompts #16-#31" in out
    assert "round 3 (external): external responses #0-#15" in out
    assert "eval sets: eval (24), eval_ood (12)" in out
    # 3 rounds + base = 4 evaluations of 36 prompts; the audit judges 16 drafts and 16 finals per round
    assert "judge calls (estimated, testbed): 240 (eval 144, revision audit 96)" in out
    assert "problems" not in out and seconds < 30


def test_too_few_prompts_fail_before_training_naming_file_round_and_count(run_config, tmp_path, capsys,  # noqa: F811
                                                                           tiny_testbed):
    prompts = _alpaca(tmp_path / "my_prompts.json", _read(tiny_testbed / "prompts.jsonl")[:20])
    _with(run_config, **{"evolve.prompts": str(prompts), "evolve.prompts_format": "alpaca",
                         "evolve.phases": [{"name": "internal", "source": "internal", "rounds": 3}]})
    rc, out, _ = _dry(run_config, tmp_path, capsys)
    assert rc == 2
    assert f"evolve.prompts: {prompts} holds 20 prompts, but round 3 (internal) starts at #32" in out
    assert "the schedule needs 48 in all (3 internal round(s) x evolve.prompts_per_round=16)" in out
    assert "lower evolve.prompts_per_round to 6" in out
    assert "round 2 (internal) gets 4 of 16 prompts" in out  # a short round is a note, not an error
    # the real run stops at the same check, before the reviser is trained
    t0 = time.perf_counter()
    assert main(["run", str(run_config), "--out", str(tmp_path / "real")]) == 2
    assert time.perf_counter() - t0 < 30 and not (tmp_path / "real" / "reviser").exists()
    assert "round 3 (internal) starts at #32" in capsys.readouterr().err


def test_every_problem_is_listed_at_once(run_config, tmp_path, capsys, tiny_testbed):  # noqa: F811
    bad_prefs = tmp_path / "prefs.jsonl"
    lines = (tiny_testbed / "preferences.jsonl").read_text().splitlines()
    lines[4] = lines[4].replace('"responses"', '"respones"')
    bad_prefs.write_text("\n".join(lines) + "\n")
    wrong_shape = _alpaca(tmp_path / "prompts.json", _read(tiny_testbed / "prompts.jsonl"))  # but format left seft
    empty_eval = tmp_path / "eval.jsonl"
    empty_eval.write_text("")
    _with(run_config, **{"reviser_data.preferences": str(bad_prefs), "evolve.prompts": str(wrong_shape),
                         "evolve.eval_sets": {"mine": str(empty_eval)}, "evolve.policy": str(tmp_path / "no_model")})
    rc, out, seconds = _dry(run_config, tmp_path, capsys)
    assert rc == 2
    assert f"{bad_prefs}:5: field 'respones': unknown field (did you mean 'responses'?)" in out
    assert f"{wrong_shape}[row 0]: field 'instruction': unknown field" in out
    assert f"evolve.eval_sets.mine {empty_eval} (seft): {empty_eval}: no valid records" in out
    assert f"evolve.policy {tmp_path / 'no_model'}: no such folder" in out
    assert "problems (4):" in out and seconds < 30


def test_alpaca_eval_set_without_a_format_and_testbed_judge_without_meta(run_config, tmp_path, capsys,  # noqa: F811
                                                                         tiny_testbed):
    eval_file = _alpaca(tmp_path / "eval.json", _read(tiny_testbed / "eval.jsonl"))
    _with(run_config, **{"evolve.eval_sets": {"mine": str(eval_file)}, "evolve.eval_format": "alpaca"})
    rc, out, _ = _dry(run_config, tmp_path, capsys)
    assert rc == 2  # readable now, but the testbed judge needs meta.task, which Alpaca rows do not carry
    assert "judge (testbed): " in out and "the testbed judge needs meta.task and meta.reference" in out


def test_output_folder_under_a_file_is_refused(run_config, tmp_path, capsys):  # noqa: F811
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    rc = main(["run", str(run_config), "--out", str(blocker / "run"), "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 2 and f"out: {blocker} exists and is not a folder" in out


def test_api_judge_key_and_reachability(run_config, tmp_path, capsys, monkeypatch):  # noqa: F811
    monkeypatch.delenv("SEFT_NO_SUCH_KEY", raising=False)
    _with(run_config, **{"evolve.judge": {"kind": "openai", "model": "m", "base_url": "https://api.example.com/v1",
                                          "api_key_env": "SEFT_NO_SUCH_KEY"}})
    rc, out, seconds = _dry(run_config, tmp_path, capsys)
    assert rc == 2 and "judge.api_key_env: $SEFT_NO_SUCH_KEY is not set" in out and seconds < 30
    _with(run_config, **{"evolve.judge": {"kind": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}})
    rc, out, _ = _dry(run_config, tmp_path, capsys)
    assert rc == 2 and "judge endpoint http://127.0.0.1:9/v1/chat/completions cannot be reached" in out


# ----------------------------------------------------------------------------- the plan, by hand
PHASES = [PhaseConfig("internal", "internal", 3), PhaseConfig("external", "external", 1)]


def test_plan_rounds_tile_each_source():
    rounds = plan_rounds(PHASES, 100, prompts=250, external=60)
    assert [(r.source, r.start, r.available) for r in rounds] == \
        [("internal", 0, 100), ("internal", 100, 100), ("internal", 200, 50), ("external", 0, 60)]
    errors, notes = shortfalls(rounds, prompts_name="p", external_name="e", prompts=250, external=60)
    assert errors == [] and len(notes) == 2
    rounds = plan_rounds(PHASES, 100, prompts=150, external=None)
    assert [r.available for r in rounds] == [100, 50, 0, 100]  # None: the testbed's unlimited stream
    errors, _ = shortfalls(rounds, prompts_name="p", external_name="e", prompts=150, external=None)
    assert len(errors) == 1 and "round 3 (internal) starts at #200" in errors[0] and "to 50" in errors[0]
    assert [r.start for r in plan_rounds(PHASES, 100, prompts=100, external=9, reuse=True)] == [0, 0, 0, 0]


def test_train_steps_counts_like_the_trainer():
    assert train_steps(100, 2.0, -1, 32, 1) == 8    # ceil(100/32) = 4 per epoch
    assert train_steps(100, 1.5, -1, 32, 1) == 6
    assert train_steps(100, 1.0, -1, 8, 4) == 4     # 13 micro-batches -> 4 steps
    assert train_steps(100, 3.0, 7, 8, 1) == 7      # max_steps wins
    assert train_steps(0, 3.0, -1, 8, 1) == 0


def test_judge_calls_by_hand():
    cfg = RunConfig()
    rounds = plan_rounds(PHASES, 100, prompts=None, external=60)
    # eval: (base + 4 rounds) x 30 prompts; audit: 2 judgments per draft, 3 x 100 + 60 drafts
    assert judge_calls(cfg, rounds, {"a": 20, "b": 10}) == {"eval": 150, "audit": 720, "total": 870}
    cfg.evolve.audit.sample = 50
    assert judge_calls(cfg, rounds, {"a": 20, "b": 10})["audit"] == 2 * (50 * 4)
    got = judge_calls(cfg, rounds, {"a": 20, "b": 10}, trained_baselines=2, no_drafts=True, sweep_settings=6,
                      dev_size=5)
    assert got["eval"] == 30 * (5 * 2 + 2) + 30 and got["audit"] == 2 * 400


def test_cpu_bf16_note_names_the_settings_left_at_auto():
    from seft.runs.plan import BF16_HINT_PARAMS, cpu_bf16_note

    cfg = RunConfig()
    big = 135_000_000
    assert cpu_bf16_note(cfg, big, flag=None) == []                    # no bf16 in hardware, or a GPU run
    assert cpu_bf16_note(cfg, BF16_HINT_PARAMS - 1, flag="avx512_bf16") == []  # the testbed's size: no gain
    (note,) = cpu_bf16_note(cfg, big, flag="avx512_bf16")
    assert "(avx512_bf16)" in note and "135M parameters" in note
    assert note.endswith("--set reviser_train.train.precision=bf16 --set evolve.train.precision=bf16 "
                         "--set evolve.draft.dtype=bfloat16 --set evolve.revise.generation.dtype=bfloat16")
    cfg.evolve.train.precision, cfg.evolve.draft.dtype = "fp32", "bfloat16"  # chosen: not named again
    cfg.with_baselines = True
    (note,) = cpu_bf16_note(cfg, big, flag="amx_bf16")
    assert "evolve.train" not in note and "evolve.draft" not in note and "baseline_train.precision=bf16" in note
    for key in ("reviser_train.train.precision", "evolve.revise.generation.dtype", "baseline_train.precision"):
        section, _, name = key.rpartition(".")
        obj = cfg
        for part in section.split("."):
            obj = getattr(obj, part)
        setattr(obj, name, "bf16" if name == "precision" else "bfloat16")
    assert cpu_bf16_note(cfg, big, flag="amx_bf16") == []  # every setting chosen
    cfg.testbed.world = "if"  # its base answers come from the model too, until the world is built
    (note,) = cpu_bf16_note(cfg, big, flag="amx_bf16", world_built=False)
    assert note.endswith("to use it: --set testbed.if_world.generation.dtype=bfloat16")
    assert cpu_bf16_note(cfg, big, flag="amx_bf16", world_built=True) == []


def test_cpu_bf16_memory_note_when_training_in_bf16_on_a_cpu():
    from seft.runs.plan import BF16_MEMORY_ENV, cpu_bf16_memory_note

    cfg = RunConfig()
    assert cpu_bf16_memory_note(cfg, on_cpu=True, env={}) == []  # auto: fp32 on a CPU
    cfg.evolve.train.precision = "bf16"
    (note,) = cpu_bf16_memory_note(cfg, on_cpu=True, env={"PATH": "/bin"})
    assert "ONEDNN_PRIMITIVE_CACHE_CAPACITY=16 MALLOC_MMAP_THRESHOLD_=1048576 seft run" in note
    assert cpu_bf16_memory_note(cfg, on_cpu=False, env={}) == []  # a GPU run: no oneDNN matmuls
    for name in BF16_MEMORY_ENV:  # the user chose either: not advised again
        assert cpu_bf16_memory_note(cfg, on_cpu=True, env={name: "8"}) == []
    cfg.evolve.train.precision = "fp32"
    cfg.baseline_train.precision = "bf16"
    assert cpu_bf16_memory_note(cfg, on_cpu=True, env={}) == []  # baselines not run
    cfg.with_baselines = True
    assert len(cpu_bf16_memory_note(cfg, on_cpu=True, env={})) == 1
