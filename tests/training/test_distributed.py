"""Training in launched processes: ``accelerate launch`` on CPU (DDP over gloo) and seft's
``launcher`` setting, which runs each training call of a one-process ``seft run`` that way.

The slow tests start two real processes through ``configs/accelerate/cpu_ddp.yaml``, the file the
README tells users to try before renting GPUs.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path

import pytest

from seft.cli import main as cli_main
from seft.config.common import TrainConfig
from seft.training import METRICS_FILE, launch, train_sft
from seft.training import job as launched_job
from seft.training.launch import JOB_DIR, launcher_command, should_launch

CPU_DDP = Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "cpu_ddp.yaml"
ACCELERATE = str(Path(sys.executable).parent / "accelerate")
_SMALL = dict(epochs=1.0, learning_rate=3e-3, batch_size=8, logging_steps=1, save_steps=1000, warmup_ratio=0.0,
              max_length=64)


# ----------------------------------------------------------------------------- no processes started
def test_launcher_command_appends_the_job_and_takes_programs_from_this_environment(tmp_path):
    cmd = launcher_command("accelerate launch --config_file 'my configs/x.yaml'", tmp_path / "job.json")
    assert cmd[0] == ACCELERATE  # this venv's, even when the venv is not activated
    assert cmd[1:] == ["launch", "--config_file", "my configs/x.yaml", "-m", "seft.training.job",
                       str(tmp_path / "job.json")]
    assert launcher_command("/opt/bin/torchrun --nproc_per_node 8", "j")[:1] == ["/opt/bin/torchrun"]
    with pytest.raises(ValueError, match="empty"):
        launcher_command("  ", "j")


def test_a_launched_process_trains_where_it_stands(monkeypatch):
    cfg = TrainConfig(launcher="accelerate launch")
    assert should_launch(cfg) and not should_launch(TrainConfig())
    monkeypatch.setenv("WORLD_SIZE", "2")  # already one of two launched processes: no nested launch
    assert not should_launch(cfg)


def test_cli_refuses_to_run_the_pipeline_as_several_processes(monkeypatch, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert cli_main(["run", "--print-config"]) == 2
    assert "give its training a launcher" in capsys.readouterr().err
    # a pure training stage may be launched directly (every rank trains; rank 0 writes)
    assert cli_main(["reviser", "train", "--print-config"]) == 0


def test_a_failed_launch_raises_and_keeps_a_job_that_trains_when_run(tiny_model_dir, swap_examples, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="exit code 1"):
        train_sft(tiny_model_dir, swap_examples[:16], out, TrainConfig(**_SMALL, launcher="false"))
    job = out / JOB_DIR / "job.json"
    spec = json.loads(job.read_text())
    assert spec["method"] == "sft" and spec["train"]["launcher"] is None  # the job trains where it runs
    assert len((out / JOB_DIR / "examples.jsonl").read_text().splitlines()) == 16
    assert launched_job.main([str(job)]) == 0  # what each launched process runs
    assert json.loads((out / METRICS_FILE).read_text())["optimizer_steps"] == 2  # 16 examples / batch 8
    assert (out / "model.safetensors").is_file()


def test_the_driver_reads_back_what_the_launched_job_wrote(tiny_model_dir, swap_examples, tmp_path, monkeypatch):
    class InProcess:  # stands in for the launcher's processes: runs the job command's module here
        def __init__(self, cmd):
            assert cmd[-3:-1] == ["-m", "seft.training.job"]
            self.code = launched_job.main([cmd[-1]])

        def wait(self, timeout=None):
            return self.code

    monkeypatch.setattr(launch.subprocess, "Popen", InProcess)
    out = tmp_path / "out"
    out.mkdir()
    (out / METRICS_FILE).write_text('{"stale": true}')  # an older run's metrics never pass for this one's
    res = train_sft(tiny_model_dir, swap_examples[:16], out, TrainConfig(**_SMALL, launcher="accelerate launch"))
    assert res.path == out.resolve() and res.metrics["optimizer_steps"] == 2 and "stale" not in res.metrics
    assert res.metrics == json.loads((out / METRICS_FILE).read_text())
    assert not (out / JOB_DIR).exists()


# ----------------------------------------------------------------------------- two processes
# Each rank reports its final weights and every file it wrote under OUT (Python-level writes,
# seen through an audit hook: open for writing, rename/replace, mkdir, remove).
_PROBE_SCRIPT = """
import hashlib, json, os, sys
from pathlib import Path
from transformers import TrainerCallback
from seft.config.common import TrainConfig
from seft.training import train_sft

base, out, probe = sys.argv[1], Path(sys.argv[2]).resolve(), Path(sys.argv[3])
rank = int(os.environ["RANK"])
writes = set()

def audit(event, args):
    try:
        if event == "open":
            path, mode, flags = args
            if not ((mode and any(c in mode for c in "wax+")) or (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)):
                return
            paths = [path]
        elif event in ("os.rename", "os.remove", "os.rmdir", "os.mkdir", "shutil.rmtree"):
            paths = args[:2] if event == "os.rename" else args[:1]
        else:
            return
        for p in paths:
            if isinstance(p, (str, bytes, os.PathLike)):
                p = Path(os.fsdecode(p)).absolute()
                if p == out or out in p.parents:
                    writes.add(str(p.relative_to(out)))
    except Exception:
        pass

sys.addaudithook(audit)

class Probe(TrainerCallback):
    def on_train_end(self, args, state, control, model=None, **kw):
        import torch.distributed as dist
        self.report = {"rank": rank, "pid": os.getpid(),
                       "world_size": dist.get_world_size() if dist.is_initialized() else 1,
                       "weights": {k: hashlib.sha256(v.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
                                   for k, v in model.state_dict().items()}}

ex = [{"prompt": f"x: {a}{b}", "completion": f"{b}{a}"} for a in "abcdefgh" for b in "abcdefgh"]
probe_cb = Probe()
train_sft(base, ex, out, TrainConfig(epochs=2.0, learning_rate=3e-3, batch_size=8, logging_steps=1, save_steps=3),
          callbacks=[probe_cb])
probe.mkdir(parents=True, exist_ok=True)
(probe / f"rank{rank}.json").write_text(json.dumps({**probe_cb.report, "writes": sorted(writes)}))
"""


def _tensor_digests(path: Path) -> dict[str, str]:
    import hashlib

    from safetensors.torch import load_file

    return {k: hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest() for k, v in load_file(str(path)).items()}


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}  # two processes on a shared 2-core machine


@pytest.mark.slow
def test_accelerate_launch_trains_in_two_processes_with_identical_weights_and_rank0_writes(
        tiny_model_dir, tmp_path, run_launcher):
    script, out, probe = tmp_path / "train.py", tmp_path / "out", tmp_path / "probe"
    script.write_text(_PROBE_SCRIPT)
    cmd = [ACCELERATE, "launch", "--config_file", str(CPU_DDP), str(script), str(tiny_model_dir), str(out), str(probe)]
    proc = run_launcher(cmd, timeout=240, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]

    reports = [json.loads((probe / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]  # one DDP group, not two lone runs
    assert reports[0]["pid"] != reports[1]["pid"]
    assert reports[0]["weights"] == reports[1]["weights"]  # bit for bit, every tensor
    saved = _tensor_digests(out / "model.safetensors")
    assert saved and all(reports[0]["weights"][k] == d for k, d in saved.items())  # rank 0 saved what both hold
    assert saved != _tensor_digests(tiny_model_dir / "model.safetensors")  # and it trained

    m = json.loads((out / METRICS_FILE).read_text())
    # 64 examples x 2 epochs over 2 ranks x batch 8: 8 optimizer steps, every example counted once
    assert m["optimizer_steps"] == 8 and m["forward_passes"] == 128
    assert not (out / "checkpoints").exists()
    # Only rank 0 writes the artifacts.
    # The hook sees Python-level writes: safetensors (Rust) and torch.save (C++) write unseen, but
    # saving a model also writes config.json and the tokenizer files from Python.
    assert {"config.json", "tokenizer_config.json", METRICS_FILE} <= set(reports[0]["writes"])
    # Rank 1 only makes the checkpoint folders it saves its own RNG state into (a resume needs
    # one per rank); they are gone once training finished.
    rank1 = reports[1]["writes"]
    assert rank1 and all(w.startswith("checkpoints/checkpoint-") for w in rank1), rank1


@pytest.mark.slow
def test_seft_command_trains_through_the_launcher_in_two_processes(tiny_model_dir, swap_examples, tmp_path, run_launcher):
    data, out = tmp_path / "data.jsonl", tmp_path / "reviser"
    data.write_text("".join(json.dumps(e) + "\n" for e in swap_examples))
    launcher = f"accelerate launch --config_file {shlex.quote(str(CPU_DDP))}"
    cmd = [sys.executable, "-m", "seft.cli", "reviser", "train", "--out", str(out),
           "--set", f"data={data}", "--set", f"base_model={tiny_model_dir}", "--set", f"train.launcher={launcher}",
           "--set", "train.epochs=2", "--set", "train.batch_size=8", "--set", "train.learning_rate=3e-3",
           "--set", "train.save_steps=3", "--set", "train.max_length=64"]
    proc = run_launcher(cmd, timeout=240, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    assert "in launched processes" in proc.stderr and "[rank 0]" in proc.stderr
    m = json.loads((out / METRICS_FILE).read_text())
    assert m["optimizer_steps"] == 8 and m["forward_passes"] == 128  # two processes shared 2 epochs of 64
    assert (out / "model.safetensors").is_file()
    assert not (out / JOB_DIR).exists() and not (out / "checkpoints").exists()
