"""The configuration's tables as frozen dataclasses: every tunable key with its default, in one place.

Device tables (`[[pbx]]`, `[[line]]`, ...) are not listed here: each device kind brings its own
settings dataclass through firmware_bridge.registry. Stages bring theirs too (CentralConfig from
appliance.sync, QueueSettings from appliance.stats); this module puts them together.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from appliance.audio.settings import RecordingConfig
from appliance.stats.settings import QueueSettings, by_name, settings_for
from appliance.sync.config import CentralConfig
from firmware_bridge.settings import check_choice, check_zone

DEFAULT_CONFIG_PATH = "/etc/appliance/appliance.toml"


@dataclass(frozen=True)
class SiteConfig:
    id: str
    data_dir: str = "/var/lib/appliance"
    timezone: str = ""              # IANA name for PBX local times; "" = the box's local zone

    def __post_init__(self):
        if not self.id.strip():
            raise ValueError("id: must not be empty")
        check_zone(self.timezone, "timezone")


@dataclass(frozen=True)
class LogConfig:
    level: str = "info"             # debug | info | warning | error

    def __post_init__(self):
        check_choice(self.level, ("debug", "info", "warning", "error"), "level")


@dataclass(frozen=True)
class StoreConfig:
    """The store writer: how much it commits at once and how much may wait for the disk."""
    max_batch: int = 5000           # records per transaction at most
    max_pending: int = 20000        # records waiting for the disk before device input is paused
    ballast_mb: int = 64            # space reserved in the data dir, given back when the disk fills (0 = none)
    cdr_retention_days: int = 90    # delivered records are deleted this long after they were stored (0 = never)

    def __post_init__(self):
        if self.max_batch < 1 or self.max_pending < self.max_batch:
            raise ValueError("max_pending: must be >= max_batch >= 1")
        if self.ballast_mb < 0:
            raise ValueError("ballast_mb: must be >= 0 (0 = no ballast)")
        if self.cdr_retention_days != 0 and self.cdr_retention_days < 2:
            raise ValueError("cdr_retention_days: must be 0 (keep every record) or >= 2 (queue statistics "
                             "re-read yesterday's records at start)")


@dataclass(frozen=True)
class ControlConfig:
    socket: str = ""                # "" = $RUNTIME_DIRECTORY/control.sock, else /run/appliance/control.sock


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = "127.0.0.1:9105"  # Prometheus endpoint; "" disables it


@dataclass(frozen=True)
class DeviceEntry:
    """One device from a device table: its kind's registry name and its settings."""
    kind: str
    table: str
    settings: Any

    @property
    def name(self) -> str:
        return self.settings.name


@dataclass(frozen=True)
class Config:
    site: SiteConfig
    log: LogConfig = field(default_factory=LogConfig)
    central: CentralConfig = field(default_factory=CentralConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    queue: tuple[QueueSettings, ...] = ()
    recording: RecordingConfig = field(default_factory=RecordingConfig)
    control: ControlConfig = field(default_factory=ControlConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    devices: tuple[DeviceEntry, ...] = ()     # every device table's entries, registry order
    source_path: str = ""

    def __getattr__(self, table: str) -> tuple:
        """`cfg.pbx`, `cfg.line`, ...: the settings of one device table, in file order."""
        if table.startswith("_"):
            raise AttributeError(table)
        from firmware_bridge.registry import tables
        if table not in tables():
            raise AttributeError(f"{type(self).__name__!s} has no attribute or device table {table!r}")
        return tuple(d.settings for d in self.devices if d.table == table)

    def describe_devices(self) -> str:
        """"1 PBX feed(s), 2 line(s)": the device tables that have entries, in registry order."""
        from firmware_bridge.registry import tables
        parts = []
        for table, kinds in tables().items():
            n = sum(1 for d in self.devices if d.table == table)
            if n:
                parts.append(f"{n} {kinds[0].counted_as or table}")
        return ", ".join(parts) or "no devices"

    @property
    def control_socket(self) -> str:
        if self.control.socket:
            return self.control.socket
        runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        return os.path.join(runtime or "/run/appliance", "control.sock")

    def __post_init__(self):
        try:
            by_name(self.queue)
        except ValueError as exc:
            raise ValueError(f"queue: {str(exc).partition(': ')[2]}") from None

    def queue_settings(self, name: str) -> QueueSettings:
        """The [[queue]] entry of `name`, or the defaults for a queue the file does not list."""
        return settings_for(by_name(self.queue), name or "-")
