"""Read the TOML file into Config: generic table -> dataclass conversion, device tables from the registry."""
from __future__ import annotations

import dataclasses
import tomllib
import typing
from pathlib import Path

from firmware_bridge.registry import tables

from appliance.config.schema import Config, DeviceEntry


class ConfigError(Exception):
    """The configuration cannot be used. The message names the file, the key and what was expected."""


def _type_name(tp) -> str:
    return getattr(tp, "__name__", str(tp))


def _convert(value, tp, where: str):
    origin = typing.get_origin(tp)
    if origin is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return tuple(_convert(v, item_tp, f"{where}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {type(value).__name__}")
        return build(tp, value, where)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported type {_type_name(tp)}")


def build(cls, table: dict, where: str, *, extra_known: tuple[str, ...] = ()):
    """One TOML table -> `cls`. Unknown keys and wrong types are errors; the dataclass's own checks
    (ValueError "key: ...") come back as ConfigError naming `where`."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name not in ("source_path", "devices")}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        known = ", ".join(sorted([*fields, *extra_known]))
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {known})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name in table:
            kwargs[name] = _convert(table[name], hints[name], key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: missing (required)")
    try:
        return cls(**kwargs)
    except ValueError as exc:
        raise ConfigError(f"{where}.{exc}" if where else str(exc)) from None


def _devices(data: dict) -> tuple[DeviceEntry, ...]:
    """Pop every device table from `data` and build its entries with their kind's settings class."""
    out: list[DeviceEntry] = []
    seen: dict[str, str] = {}
    for table, kinds in tables().items():
        entries = data.pop(table, [])
        if not isinstance(entries, list):
            raise ConfigError(f"{table}: expected [[{table}]] tables, got {type(entries).__name__}")
        by_name = {k.name: k for k in kinds}
        for i, entry in enumerate(entries):
            where = f"{table}[{i}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{where}: expected a table")
            kind = kinds[0]
            if kind.selector:
                settings_cls = kind.load("settings")
                default = {f.name: f.default for f in dataclasses.fields(settings_cls)}.get(kind.selector)
                chosen = entry.get(kind.selector, default)
                if chosen is dataclasses.MISSING:
                    raise ConfigError(f"{where}.{kind.selector}: missing (one of {', '.join(map(repr, by_name))})")
                if chosen not in by_name:
                    raise ConfigError(f"{where}.{kind.selector}: expected one of "
                                      f"{', '.join(map(repr, by_name))}, got {chosen!r}")
                kind = by_name[chosen]
            name = entry.get("name")
            if isinstance(name, str):
                if not name or not name.replace("-", "").replace("_", "").isalnum():
                    raise ConfigError(f"{where}.name: expected letters, digits, '-' or '_', got {name!r}")
                if name in seen:
                    raise ConfigError(f"{where}.name: duplicate device name {name!r} (also {seen[name]})")
                seen[name] = where
            settings = build(kind.load("settings"), entry, where)
            out.append(DeviceEntry(kind=kind.name, table=table, settings=settings))
    return tuple(out)


def parse_config(text: str, source: str = "<string>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        devices = _devices(data)
        cfg = build(Config, data, "", extra_known=tuple(tables()))
    except ConfigError as exc:
        raise ConfigError(f"{source}: {str(exc).lstrip('.')}") from None
    return dataclasses.replace(cfg, devices=devices, source_path=source)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (pass --config FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, str(path))
