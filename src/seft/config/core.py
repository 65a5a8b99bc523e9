"""Typed configuration: one dataclass per stage, help written once, YAML + ``--set`` overrides.

Every field carries its help text in ``metadata["help"]``; the CLI's ``--help``, the YAML that
``seft config show`` prints and the resolved ``config.yaml`` in a run directory are all generated
from the dataclasses, so a default or a help text is written exactly once.

Errors are :class:`ConfigError` and always name the dotted key (``evolve.rounds``), what was given
and what is allowed, with the closest valid key when a name is misspelt.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml

__all__ = ["ConfigError", "field", "from_dict", "to_dict", "load_config", "parse_overrides",
           "apply_overrides", "diff_configs", "describe", "dump_yaml"]


class ConfigError(ValueError):
    """A bad configuration key or value; the message names the key."""


def field(default: Any = dataclasses.MISSING, *, help: str, default_factory: Any = dataclasses.MISSING,
          choices: tuple | None = None, min: float | None = None, max: float | None = None) -> Any:
    """A dataclass field with its help text and optional range/choice constraints."""
    meta = {"help": help, "choices": choices, "min": min, "max": max}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


# ----------------------------------------------------------------------------- type checking
def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is not None:
        return f"{getattr(origin, '__name__', origin)}[{', '.join(_type_name(a) for a in get_args(tp))}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, key: str, default: Any = None) -> Any:
    """Check ``value`` against the annotation ``tp`` and convert where lossless (int -> float).
    ``default``: the field's default; a section given as a partial mapping fills the rest from it."""
    origin = get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping of {tp.__name__} settings, got {value!r}")
        return from_dict(tp, value, prefix=key, defaults=default if isinstance(default, tp) else None)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {_type_name(tp)}")
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key, default)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list ({_type_name(tp)}), got {value!r}")
        args = get_args(tp)
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} items ({_type_name(tp)}), got {value!r}")
            return tuple(_coerce(a, v, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        item = args[0] if args else Any
        out = [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        _, vt = get_args(tp) or (Any, Any)
        return {str(k): _coerce(vt, v, f"{key}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-3" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)  # `--set name=123` should not fail over YAML typing
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if isinstance(value, tp):
        return value
    raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def _check_bounds(f: dataclasses.Field, value: Any, key: str) -> None:
    meta = f.metadata
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {list(meta['choices'])}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if meta.get("min") is not None and value < meta["min"]:
            raise ConfigError(f"{key}: {value!r} is below the minimum {meta['min']}")
        if meta.get("max") is not None and value > meta["max"]:
            raise ConfigError(f"{key}: {value!r} is above the maximum {meta['max']}")


def _suggest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(sorted(known))}"


# ----------------------------------------------------------------------------- dict <-> config
def _field_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return None if f.default is dataclasses.MISSING else f.default


def from_dict(cls: type, data: dict | None, *, prefix: str = "", defaults: Any = None) -> Any:
    """Build a config dataclass from a (possibly partial) mapping, strictly.

    Keys left out take their defaults: ``defaults``' values when given (the section's default as
    its parent declares it), else the class's. So a section given in part keeps the rest of its
    parent's default: ``reviser_train: {train: {learning_rate: 2e-3}}`` keeps the reviser's 4 epochs
    (TrainConfig's own default is 2), ``evolve.revise.generation.batch_size=8`` keeps greedy decoding."""
    data = dict(data or {})
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in data:
        if name not in fields:
            key = f"{prefix}.{name}" if prefix else name
            raise ConfigError(f"unknown key '{key}'{_suggest(name, list(fields))}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name in data:
            # a nested section given as a mapping is completed from this field's default
            default = (getattr(defaults, name) if defaults is not None else _field_default(f)) \
                if isinstance(data[name], dict) else None
            value = _coerce(hints[name], data[name], key, default)
            _check_bounds(f, value, key)
            kwargs[name] = value
        elif defaults is not None:
            kwargs[name] = getattr(defaults, name)
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:  # __post_init__ cross-field checks
        raise ConfigError(f"{prefix or cls.__name__}: {err}") from err


def to_dict(cfg: Any) -> Any:
    """Plain YAML-able data (tuples become lists) with every default written out."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (list, tuple)):
        return [to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: to_dict(v) for k, v in cfg.items()}
    return cfg


def dump_yaml(cfg: Any) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=False)


# ----------------------------------------------------------------------------- overrides
def parse_overrides(items: list[str] | None) -> list[tuple[str, Any]]:
    """``["a.b=3", "c=[1, 2]"]`` -> ``[("a.b", 3), ("c", [1, 2])]``; values are YAML scalars."""
    out = []
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key.sub=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"override '{item}' has an empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        out.append((key, value))
    return out


def _section_type(tp: Any) -> Any:
    """The dataclass of a section, also when it is optional (``JudgeConfig | None``): setting one of
    its keys switches an absent section on."""
    if get_origin(tp) in (Union, types.UnionType):
        sections = [a for a in get_args(tp) if dataclasses.is_dataclass(a)]
        if len(sections) == 1:
            return sections[0]
    return tp


def apply_overrides(cls: type, data: dict, overrides: list[tuple[str, Any]]) -> dict:
    """Set dotted keys in ``data``, checking every path segment against the dataclass tree."""
    data = dict(data)
    for key, value in overrides:
        parts = key.split(".")
        node_cls, node = cls, data
        for depth, part in enumerate(parts):
            fields = {f.name: f for f in dataclasses.fields(node_cls)}
            if part not in fields:
                where = ".".join(parts[: depth + 1])
                raise ConfigError(f"unknown key '{where}'{_suggest(part, list(fields))}")
            if depth == len(parts) - 1:
                node[part] = value
                break
            sub_cls = _section_type(typing.get_type_hints(node_cls)[part])
            if not dataclasses.is_dataclass(sub_cls):
                raise ConfigError(f"'{'.'.join(parts[: depth + 1])}' is a value, not a section")
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node_cls, node = sub_cls, child
    return data


def load_config(cls: type, path: str | Path | None = None, overrides: list[str] | None = None) -> Any:
    """Defaults, then the YAML file, then ``--set`` overrides; validated as a whole."""
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from err
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of settings")
        data = loaded or {}
    data = apply_overrides(cls, data, parse_overrides(overrides))
    return from_dict(cls, data)


def diff_configs(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two plain config dicts."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = list(dict.fromkeys([*old, *new]))
        out: list[str] = []
        for k in keys:
            out += diff_configs(old.get(k), new.get(k), f"{prefix}.{k}" if prefix else str(k))
        return out
    return [] if old == new else [prefix or "<root>"]


def describe(cls: type, prefix: str = "") -> list[tuple[str, str, str, str]]:
    """(key, type, default, help) rows for every leaf setting, for ``--help`` and the docs."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            rows += describe(tp, key)
            continue
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = "(required)"
        rows.append((key, _type_name(tp), repr(to_dict(default)), f.metadata.get("help", "")))
    return rows
