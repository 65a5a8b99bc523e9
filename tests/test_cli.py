"""The CLI is a thin table: fast help, clear errors, config printing."""
from __future__ import annotations

import subprocess
import sys

import yaml

from seft.cli import COMMANDS, main


def test_help_lists_subcommands_and_does_not_import_trl():
    code = ("import sys; from seft.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('trl', 'torch', 'transformers')]\n"
            "print('HEAVY', heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    for cmd in COMMANDS:
        assert cmd.name.split()[0] in out
    assert "HEAVY []" in out


def test_stage_help_documents_every_setting(capsys):
    try:
        main(["testbed", "build", "--help"])
    except SystemExit as e:
        assert e.code == 0
    out = capsys.readouterr().out
    assert "pretrain_steps (int, default 500)" in out and "corpus_weights" in out


def test_unknown_key_is_a_clean_error(capsys):
    assert main(["testbed", "build", "--set", "pretrain_step=3"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'pretrain_step'; did you mean 'pretrain_steps'?" in err and "Traceback" not in err


def test_print_config_resolves_out_and_overrides(capsys, tmp_path):
    assert main(["run", "--out", str(tmp_path / "r"), "--set", "testbed.seed=5", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["out"] == str(tmp_path / "r") and cfg["testbed"]["seed"] == 5


def test_run_shortcut_flags_are_settings(capsys):
    assert main(["run", "--with-baselines", "--seeds", "3", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["with_baselines"] is True and cfg["seeds"] == 3
    assert main(["run", "--print-config"]) == 0
    cfg = yaml.safe_load(capsys.readouterr().out)
    assert cfg["with_baselines"] is False and cfg["seeds"] == 1
    assert main(["run", "--seeds", "zero", "--print-config"]) == 2
    assert "seeds" in capsys.readouterr().err


def test_positional_argument_fills_its_setting(capsys):
    # `seft models fetch NAME`: the positional is the `name` setting, not a YAML file; --set still wins.
    assert main(["models", "fetch", "smollm2-135m-instruct", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["name"] == "smollm2-135m-instruct"
    assert main(["models", "fetch", "smollm2-135m-instruct", "--set", "force=true", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["force"] is True
    assert main(["models", "fetch", "no-such-model", "--print-config"]) == 2
    assert "name: 'no-such-model' is not allowed" in capsys.readouterr().err
