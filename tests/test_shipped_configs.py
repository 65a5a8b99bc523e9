"""Every config shipped under configs/ loads and resolves, so none can rot.

The files are found by globbing: a new config is covered without touching this test.
- ``configs/accelerate/*.yaml`` are ``accelerate launch`` configs: accelerate itself reads each
  one, and its own launch logic must pick a launcher that starts every process the file asks for
  (``--cpu`` and ``distributed_type: MULTI_CPU`` start ONE process without an MPI hostfile).
- Every other ``*.yaml`` is a seft config for ``seft run``, or for the command its first line
  names (``# seft-command: evolve``): it loads through ``load_config`` with that command's config
  class, its resolved form round-trips, and its paths resolve. A recipe (``configs/recipes/``)
  must name all of its data and models itself instead of falling back to the offline testbed,
  and its launcher must point at a shipped accelerate config.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from seft.cli import COMMANDS
from seft.config.common import TrainConfig
from seft.config.core import dump_yaml, load_config, to_dict
from seft.config.stages import RunConfig

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"
ACCELERATE = CONFIGS / "accelerate"
ACCELERATE_FILES = sorted(ACCELERATE.glob("*.yaml"))
SEFT_FILES = sorted(p for p in CONFIGS.rglob("*.yaml") if ACCELERATE not in p.parents)
_COMMAND_LINE = re.compile(r"^#\s*seft-command:\s*(.+?)\s*$")


def _ids(paths):
    return [str(p.relative_to(CONFIGS)) for p in paths]


def test_the_shipped_configs_are_found():
    names = {str(p.relative_to(CONFIGS)) for p in SEFT_FILES + ACCELERATE_FILES}
    assert {"replicate.yaml", "accelerate/deepspeed_zero3.yaml", "accelerate/fsdp.yaml",
            "accelerate/cpu_ddp.yaml"} <= names
    assert any(n.startswith("recipes/") for n in names)


# ----------------------------------------------------------------------------- seft configs
def _config_class(path: Path):
    """`seft run`'s config unless the file's first line names another command."""
    first = path.read_text(encoding="utf-8").splitlines()[:1]
    match = _COMMAND_LINE.match(first[0]) if first else None
    name = match.group(1) if match else "run"
    by_name = {c.name: c for c in COMMANDS}
    assert name in by_name, f"{path}: unknown command {name!r} in its seft-command line"
    module, cls = by_name[name].config.split(":")
    return getattr(__import__(module, fromlist=[cls]), cls)


def _train_sections(cfg: RunConfig) -> dict[str, TrainConfig]:
    return {"reviser_train.train": cfg.reviser_train.train, "evolve.train": cfg.evolve.train,
            "baseline_train": cfg.baseline_train}


@pytest.mark.parametrize("path", SEFT_FILES, ids=_ids(SEFT_FILES))
def test_seft_config_loads_resolves_and_round_trips(path, tmp_path):
    cls = _config_class(path)
    cfg = load_config(cls, path)
    resolved = tmp_path / "resolved.yaml"  # what a run directory's config.yaml holds
    resolved.write_text(dump_yaml(cfg))
    assert to_dict(load_config(cls, resolved)) == to_dict(cfg)
    if cls is not RunConfig:
        return

    from seft.evolution.evolve import schedule
    from seft.runs.single import resolve_paths

    recipe = "recipes" in path.relative_to(CONFIGS).parts
    # A recipe names everything itself; other configs may lean on the testbed, whose folder
    # stands in here (resolve_paths only joins names onto it).
    run = resolve_paths(cfg, None if recipe else tmp_path / "testbed")
    ev = run.evolve
    needed = {"reviser_data.preferences": run.reviser_data.preferences,
              "reviser_train.base_model": run.reviser_train.base_model, "evolve.policy": ev.policy,
              "evolve.prompts": ev.prompts, "evolve.eval_sets": ev.eval_sets or None}
    if any(p.source == "external" for p in schedule(ev.phases)):
        needed["evolve.external"] = ev.external
    missing = [k for k, v in needed.items() if v is None]
    why = " (a recipe must not fall back to the testbed)" if recipe else ""
    assert not missing, f"{path.name} leaves {missing} empty{why}"
    assert schedule(ev.phases), f"{path.name} schedules no evolution round"
    for (key, train), given in zip(_train_sections(run).items(), _train_sections(cfg).values()):
        assert train.launcher == (given.launcher or cfg.launcher), key  # the run's launcher fills the gaps
        if recipe:
            assert train.launcher, f"{path.name}: {key} has no launcher; a GPU recipe trains on every GPU"
            _check_launcher(train.launcher)


def _check_launcher(launcher: str) -> None:
    argv = shlex.split(launcher)
    assert argv[:2] == ["accelerate", "launch"], launcher
    assert "--config_file" in argv, f"{launcher}: name a shipped accelerate config"
    target = ROOT / argv[argv.index("--config_file") + 1]
    assert target.is_file() and target.parent == ACCELERATE, f"{launcher}: {target} is not a shipped accelerate config"


# ----------------------------------------------------------------------------- accelerate configs
@pytest.mark.parametrize("path", ACCELERATE_FILES, ids=_ids(ACCELERATE_FILES))
def test_accelerate_config_is_read_by_accelerate_and_starts_every_process(path):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils import DistributedType

    raw = yaml.safe_load(path.read_text())
    for key in ("compute_environment", "distributed_type", "num_processes", "num_machines", "mixed_precision"):
        assert key in raw, f"{path.name}: no {key}"
    cfg = load_config_from_file(str(path))  # accelerate's own reader: unknown keys are errors
    assert cfg.compute_environment.value == "LOCAL_MACHINE" and cfg.num_processes >= 1
    if cfg.distributed_type == DistributedType.DEEPSPEED:
        ds = cfg.deepspeed_config
        assert ds.get("zero_stage") in (0, 1, 2, 3) or ds.get("deepspeed_config_file"), f"{path.name}: no zero_stage"
        if ds.get("zero_stage") == 3:  # else rank 0 saves empty placeholder weights
            assert ds.get("zero3_save_16bit_model") is True, f"{path.name}: ZeRO-3 needs zero3_save_16bit_model: true"
    if cfg.distributed_type == DistributedType.FSDP:
        fsdp = cfg.fsdp_config
        assert fsdp, f"{path.name}: FSDP without fsdp_config"
        # seft stages load OUT/ with from_pretrained: only a full state dict gives such a folder
        assert fsdp.get("fsdp_state_dict_type") == "FULL_STATE_DICT", path.name

    # What `accelerate launch --config_file PATH script.py` decides, without starting anything.
    args = launch_command_parser().parse_args(["--config_file", str(path), "script.py"])
    args, _, _ = _validate_launch_command(args)
    assert args.num_processes == cfg.num_processes
    if cfg.num_processes > 1:
        # Several processes on one machine come only from the torchrun-based launchers; the simple
        # launcher (chosen by --cpu or MULTI_CPU) starts one unless given an MPI hostfile.
        torchrun_path = not args.cpu and (args.multi_gpu or args.use_deepspeed or args.use_fsdp)
        assert torchrun_path or args.mpirun_hostfile, f"{path.name}: accelerate would start ONE process, not {cfg.num_processes}"
