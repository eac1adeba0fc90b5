"""Load and validate the TOML configuration into frozen dataclasses; every mistake names file and key."""
from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

from appliance.sync.endpoints import is_loopback, split_endpoint

DEFAULT_CONFIG_PATH = "/etc/appliance/appliance.toml"
SECRET_KEYS = {"sim_pin"}


class ConfigError(Exception):
    """The configuration cannot be used. The message names the file, the key and what was expected."""


@dataclass(frozen=True)
class SiteConfig:
    id: str
    data_dir: str = "/var/lib/appliance"
    timezone: str = ""              # IANA name for PBX local times; "" = the box's local zone


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"             # debug | info | warning | error


@dataclass(frozen=True)
class PbxConfig:
    name: str
    format: str                     # "avaya-ipo" | "panasonic"
    listen: str = ""                # TCP feeds (Avaya): "HOST:PORT" the appliance listens on
    port: str = ""                  # serial feeds: device path or pyserial URL
    baudrate: int = 9600
    bytesize: int = 8
    parity: str = "N"
    stopbits: int = 1
    queue: str = ""
    timezone: str = ""              # overrides [site].timezone for this PBX
    date_order: str = "MDY"         # panasonic: MDY | DMY | YMD (follows the PBX's locale)
    clock: str = "auto"             # panasonic: auto | 12h | 24h
    cost_column: str = "auto"       # panasonic: auto | yes | no
    reconnect_delay: float = 1.0
    reconnect_delay_max: float = 30.0


@dataclass(frozen=True)
class LineConfig:
    name: str
    port: str
    kind: str = "gsm"               # "gsm" | "voice-modem"
    baudrate: int = 115200
    queue: str = ""
    sim_pin: str = ""               # secret: never logged, masked by `config show`
    ring_timeout: float = 8.0       # no RING for this long while ringing = caller gave up
    reconnect_delay: float = 1.0
    reconnect_delay_max: float = 30.0


@dataclass(frozen=True)
class CentralConfig:
    endpoints: tuple[str, ...] = ()
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    plaintext: bool = False         # only accepted when every endpoint is on loopback
    batch_size: int = 500
    max_in_flight_batches: int = 4
    failback_after: float = 30.0
    reconnect_delay: float = 0.5
    reconnect_delay_max: float = 10.0


@dataclass(frozen=True)
class ControlConfig:
    socket: str = ""                # "" = $RUNTIME_DIRECTORY/control.sock, else /run/appliance/control.sock


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = "127.0.0.1:9105"  # Prometheus endpoint; "" disables it


@dataclass(frozen=True)
class Config:
    site: SiteConfig
    log: LogConfig = field(default_factory=LogConfig)
    pbx: tuple[PbxConfig, ...] = ()
    line: tuple[LineConfig, ...] = ()
    central: CentralConfig = field(default_factory=CentralConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    source_path: str = ""

    @property
    def control_socket(self) -> str:
        if self.control.socket:
            return self.control.socket
        runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        return os.path.join(runtime or "/run/appliance", "control.sock")

    @property
    def devices(self) -> tuple[PbxConfig | LineConfig, ...]:
        return self.pbx + self.line


# ---- generic TOML -> dataclass ----------------------------------------------------------

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
        return _build(tp, value, where)
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


def _build(cls, table: dict, where: str):
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source_path"}
    unknown = sorted(set(table) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    kwargs = {}
    for name, f in fields.items():
        key = f"{where}.{name}" if where else name
        if name in table:
            tp = hints[name]
            if cls is Config and name in ("pbx", "line"):
                tp = tuple[hints[name].__args__[0], ...]
            kwargs[name] = _convert(table[name], tp, key)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{key}: missing (required)")
    return cls(**kwargs)


# ---- semantic checks ----------------------------------------------------------------------

def _split_hostport(value: str, where: str) -> tuple[str, int]:
    try:
        return split_endpoint(value)
    except ValueError:
        raise ConfigError(f"{where}: expected HOST:PORT, got {value!r}") from None


def _check_zone(name: str, where: str) -> None:
    if not name:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"{where}: unknown time zone {name!r} (expected an IANA name such as 'Europe/London')")


def _choice(value: str, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ConfigError(f"{where}: expected one of {', '.join(map(repr, allowed))}, got {value!r}")


def _validate(cfg: Config) -> None:
    if not cfg.site.id.strip():
        raise ConfigError("site.id: must not be empty")
    _check_zone(cfg.site.timezone, "site.timezone")
    _choice(cfg.log.level, ("debug", "info", "warning", "error"), "log.level")
    seen: dict[str, str] = {}
    for table, devices in (("pbx", cfg.pbx), ("line", cfg.line)):
        for i, dev in enumerate(devices):
            where = f"{table}[{i}]"
            if not dev.name or not dev.name.replace("-", "").replace("_", "").isalnum():
                raise ConfigError(f"{where}.name: expected letters, digits, '-' or '_', got {dev.name!r}")
            if dev.name in seen:
                raise ConfigError(f"{where}.name: duplicate device name {dev.name!r} (also {seen[dev.name]})")
            seen[dev.name] = where
            if dev.reconnect_delay <= 0 or dev.reconnect_delay_max < dev.reconnect_delay:
                raise ConfigError(f"{where}.reconnect_delay_max: must be >= reconnect_delay > 0")
    for i, pbx in enumerate(cfg.pbx):
        where = f"pbx[{i}]"
        _choice(pbx.format, ("avaya-ipo", "panasonic"), f"{where}.format")
        _check_zone(pbx.timezone, f"{where}.timezone")
        if pbx.format == "avaya-ipo":
            if not pbx.listen:
                raise ConfigError(f"{where}.listen: missing (Avaya IP Office sends SMDR over TCP: "
                                  f"set the HOST:PORT the appliance listens on, e.g. '0.0.0.0:1150')")
            _split_hostport(pbx.listen, f"{where}.listen")
        else:
            if not pbx.port:
                raise ConfigError(f"{where}.port: missing (the serial port the PBX prints SMDR to)")
            _choice(pbx.date_order, ("MDY", "DMY", "YMD"), f"{where}.date_order")
            _choice(pbx.clock, ("auto", "12h", "24h"), f"{where}.clock")
            _choice(pbx.cost_column, ("auto", "yes", "no"), f"{where}.cost_column")
        _choice(pbx.parity, ("N", "E", "O"), f"{where}.parity")
        _choice(str(pbx.bytesize), ("7", "8"), f"{where}.bytesize")
        _choice(str(pbx.stopbits), ("1", "2"), f"{where}.stopbits")
    for i, line in enumerate(cfg.line):
        where = f"line[{i}]"
        _choice(line.kind, ("gsm", "voice-modem"), f"{where}.kind")
        if not line.port:
            raise ConfigError(f"{where}.port: missing")
    c = cfg.central
    for i, ep in enumerate(c.endpoints):
        _split_hostport(ep, f"central.endpoints[{i}]")
    if c.endpoints:
        if c.plaintext:
            far = [ep for ep in c.endpoints if not is_loopback(_split_hostport(ep, "central.endpoints")[0])]
            if far:
                raise ConfigError(f"central.plaintext: only allowed when every endpoint is on loopback; "
                                  f"{far[0]!r} is not (use ca_file/cert_file/key_file for mTLS)")
        else:
            for key in ("ca_file", "cert_file", "key_file"):
                if not getattr(c, key):
                    raise ConfigError(f"central.{key}: missing (mTLS is required; plaintext only on loopback)")
    if cfg.metrics.listen and not cfg.metrics.listen.endswith(":0"):   # port 0: pick a free one (tests)
        _split_hostport(cfg.metrics.listen, "metrics.listen")
    if c.batch_size < 1 or c.max_in_flight_batches < 1:
        raise ConfigError("central.batch_size / central.max_in_flight_batches: must be >= 1")


def parse_config(text: str, source: str = "<string>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    try:
        cfg = _build(Config, data, "")
        _validate(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {str(exc).lstrip('.')}") from None
    return dataclasses.replace(cfg, source_path=source)


def load_config(path: str | Path) -> Config:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (pass --config FILE)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, str(path))


def masked_dict(cfg: Config) -> dict:
    """The effective config as plain data, secrets replaced by '********'."""
    def walk(obj):
        if dataclasses.is_dataclass(obj):
            return {f.name: ("********" if f.name in SECRET_KEYS and getattr(obj, f.name) else walk(getattr(obj, f.name)))
                    for f in dataclasses.fields(obj) if f.name != "source_path"}
        if isinstance(obj, tuple):
            return [walk(v) for v in obj]
        return obj
    return walk(cfg)


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
