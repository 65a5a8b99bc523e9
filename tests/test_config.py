"""Config machinery: overrides, unknown keys with suggestions, bad values, round trips."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
import yaml

from seft.config import ConfigError, diff_configs, dump_yaml, field, from_dict, load_config, parse_overrides, to_dict
from seft.config.stages import RunConfig
from seft.config.testbed import TestbedConfig as TBConfig


@dataclass
class Inner:
    rate: float = field(0.5, min=0.0, max=1.0, help="A rate.")
    mode: str = field("a", choices=("a", "b"), help="A mode.")


@dataclass
class Outer:
    name: str = field("x", help="A name.")
    steps: int = field(3, min=1, help="Steps.")
    tags: list[str] = field(default_factory=list, help="Tags.")
    maybe: int | None = field(None, help="Optional.")
    inner: Inner = field(default_factory=Inner, help="Inner section.")


def test_defaults_and_nested_override():
    cfg = load_config(Outer, None, ["inner.rate=0.25", "steps=7", "tags=[a, b]", "maybe=4"])
    assert cfg.inner.rate == 0.25 and cfg.steps == 7 and cfg.tags == ["a", "b"] and cfg.maybe == 4
    assert cfg.inner.mode == "a"  # untouched default survives a sibling override


def test_int_is_accepted_for_float_and_null_for_optional():
    assert load_config(Outer, None, ["inner.rate=1"]).inner.rate == 1.0
    assert load_config(Outer, None, ["maybe=null"]).maybe is None
    assert load_config(Outer, None, ["inner.rate=5e-1"]).inner.rate == 0.5  # YAML 1.1 reads this as a string


def test_unknown_key_suggests_closest():
    with pytest.raises(ConfigError, match=r"unknown key 'inner.rat'; did you mean 'rate'"):
        load_config(Outer, None, ["inner.rat=1"])
    with pytest.raises(ConfigError, match=r"unknown key 'stpes'; did you mean 'steps'"):
        from_dict(Outer, {"stpes": 2})


@pytest.mark.parametrize("override, message", [
    ("steps=0", r"steps: 0 is below the minimum 1"),
    ("steps=abc", r"steps: expected an integer, got 'abc'"),
    ("inner.rate=2", r"inner.rate: 2.0 is above the maximum 1.0"),
    ("inner.mode=c", r"inner.mode: 'c' is not allowed; choose one of \['a', 'b'\]"),
    ("tags=5", r"tags: expected a list"),
    ("inner=3", r"inner: expected a mapping"),
    ("name.sub=1", r"'name' is a value, not a section"),
])
def test_bad_values_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(Outer, None, [override])


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="must look like key.sub=value"):
        parse_overrides(["steps"])
    assert parse_overrides(["a.b=[1, 2]", "c=", "d=x=y"]) == [("a.b", [1, 2]), ("c", ""), ("d", "x=y")]


def test_yaml_file_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 5\ninner:\n  mode: b\n")
    cfg = load_config(Outer, path, ["steps=9"])
    assert (cfg.steps, cfg.inner.mode) == (9, "b")  # the command line wins over the file


def test_bad_yaml_files(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(Outer, tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(Outer, tmp_path / "list.yaml")
    (tmp_path / "broken.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(Outer, tmp_path / "broken.yaml")


def test_resolved_config_round_trips_through_yaml():
    cfg = load_config(RunConfig, None, ["testbed.seed=3", "testbed.model.layers=2"])
    text = dump_yaml(cfg)
    assert "pretrain_steps:" in text  # every default is written out
    again = from_dict(RunConfig, yaml.safe_load(text))
    assert again == cfg and to_dict(again) == to_dict(cfg)


def test_cross_field_check_names_section():
    with pytest.raises(ConfigError, match=r"model: heads \(3\) must divide hidden \(128\)"):
        load_config(TBConfig, None, ["model.heads=3"])


def test_diff_configs_lists_changed_keys():
    a = to_dict(load_config(RunConfig))
    b = to_dict(load_config(RunConfig, None, ["testbed.seed=1", "testbed.model.hidden=64"]))
    assert diff_configs(a, b) == ["testbed.seed", "testbed.model.hidden"]
    assert diff_configs(a, a) == []


def test_a_key_of_an_optional_section_switches_it_on():
    from seft.config.common import JudgeConfig
    from seft.config.reviser import ReviseCommandConfig

    assert load_config(ReviseCommandConfig).judge is None
    cfg = load_config(ReviseCommandConfig, None, ["judge.kind=testbed", "audit.sample=5"])
    assert cfg.judge == JudgeConfig(kind="testbed") and cfg.audit.sample == 5
    with pytest.raises(ConfigError, match="unknown key 'judge.kindd'"):
        load_config(ReviseCommandConfig, None, ["judge.kindd=testbed"])


def test_a_section_given_in_part_keeps_its_parents_defaults(tmp_path):
    # The reviser trains 4 epochs and revises greedily by default, though TrainConfig's and
    # GenerationConfig's own defaults are 2 epochs and temperature 0.7: setting one key of such a
    # section must not bring the class defaults back for the others (it once did, silently).
    cfg = load_config(RunConfig, None, ["reviser_train.train.learning_rate=2e-3", "evolve.revise.generation.batch_size=8",
                                        "evolve.train.lora=true"])
    assert cfg.reviser_train.train.learning_rate == 2e-3 and cfg.reviser_train.train.epochs == 4.0
    assert cfg.evolve.revise.generation.batch_size == 8 and cfg.evolve.revise.generation.temperature == 0.0
    assert cfg.evolve.train.lora and cfg.evolve.train.epochs == 3.0  # the rounds' 3, not TrainConfig's 2
    # the same from a file, one level deeper, and next to a key set at the section's own level
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"evolve": {"revise": {"keep_margin": 2.0, "generation": {"max_new_tokens": 24}}}}))
    cfg = load_config(RunConfig, path)
    assert cfg.evolve.revise.keep_margin == 2.0 and cfg.evolve.revise.generation.max_new_tokens == 24
    assert cfg.evolve.revise.generation.temperature == 0.0
    # what a section's class would default to still applies where the parent sets nothing else
    assert cfg.evolve.draft.temperature == 0.7
    # a list of sections is taken as given (each item from its class's defaults)
    cfg = load_config(RunConfig, None, ["evolve.phases=[{name: a, source: internal, rounds: 1}]"])
    assert [p.name for p in cfg.evolve.phases] == ["a"] and cfg.evolve.phases[0].keep_margin is None
    # and a setting set explicitly to the class default is kept
    assert load_config(RunConfig, None, ["reviser_train.train.epochs=2"]).reviser_train.train.epochs == 2.0
