"""Typed configuration: the machinery (``core``) and one dataclass per stage (``stages``)."""
from .core import (
                   ConfigError,
                   apply_overrides,
                   describe,
                   diff_configs,
                   dump_yaml,
                   field,
                   from_dict,
                   load_config,
                   parse_overrides,
                   to_dict,
)
from .testbed import TestbedConfig, TestbedModelConfig

__all__ = ["ConfigError", "field", "from_dict", "to_dict", "load_config", "parse_overrides",
           "apply_overrides", "diff_configs", "describe", "dump_yaml", "TestbedConfig",
           "TestbedModelConfig"]
