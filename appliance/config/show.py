"""`appliance config show`: the effective configuration as TOML, secrets masked."""
from __future__ import annotations

import dataclasses

from appliance.config.schema import Config

MASK = "********"


def _secrets(obj) -> tuple[str, ...]:
    return tuple(getattr(type(obj), "SECRETS", ()))


def _walk(obj):
    if dataclasses.is_dataclass(obj):
        secret = _secrets(obj)
        return {f.name: (MASK if f.name in secret and getattr(obj, f.name) else _walk(getattr(obj, f.name)))
                for f in dataclasses.fields(obj) if f.name not in ("source_path", "devices")}
    if isinstance(obj, tuple):
        return [_walk(v) for v in obj]
    return obj


def masked_dict(cfg: Config) -> dict:
    """The effective config as plain data (device tables in registry order), secrets masked."""
    out = _walk(cfg)
    for entry in cfg.devices:
        out.setdefault(entry.table, []).append(_walk(entry.settings))
    return out


def to_toml(data: dict) -> str:
    """Render masked_dict() output back to TOML (enough for `config show`)."""
    def scalar(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, list):
            return "[" + ", ".join(scalar(x) for x in v) + "]"
        return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
    out: list[str] = []
    for section, value in data.items():
        if isinstance(value, list):
            for item in value:
                out.append(f"\n[[{section}]]")
                out += [f"{k} = {scalar(v)}" for k, v in item.items()]
        else:
            out.append(f"\n[{section}]")
            out += [f"{k} = {scalar(v)}" for k, v in value.items()]
    return "\n".join(out).lstrip() + "\n"
