"""Checks of the box itself: the loaded configuration and CPU load, memory, root disk, temperatures."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import psutil

from appliance.config import Config

from .result import CheckResult, Finding, Status, combine, passed


def check_config(cfg: Config) -> CheckResult:
    """The config loaded (a broken one never gets this far): say what it describes."""
    c = cfg.central
    central = (f"{len(c.endpoints)} central endpoint(s) ({'plaintext' if c.plaintext else 'mTLS'})"
               if c.endpoints else "no central configured")
    return passed("config", f"{cfg.source_path or '<config>'}: site {cfg.site.id}, "
                            f"{cfg.describe_devices()}, {central}, "
                            f"data in {cfg.site.data_dir}")


@dataclass(frozen=True)
class SystemSnapshot:
    load_1m: float
    cpus: int
    memory_percent: float
    root_disk_percent: float
    temperatures_c: dict[str, float] = field(default_factory=dict)   # sensor label -> °C


@dataclass(frozen=True)
class SystemThresholds:
    temperature_warn_c: float = 85.0
    memory_warn_percent: float = 90.0
    root_disk_warn_percent: float = 90.0
    load_warn_per_cpu: float = 2.0


def read_system() -> SystemSnapshot:
    temps: dict[str, float] = {}
    reader = getattr(psutil, "sensors_temperatures", None)      # absent on some platforms
    for chip, entries in (reader() if reader else {}).items():
        for i, entry in enumerate(entries):
            if entry.current is not None:
                temps[f"{chip}/{entry.label or i}"] = float(entry.current)
    return SystemSnapshot(load_1m=os.getloadavg()[0], cpus=psutil.cpu_count() or 1,
                          memory_percent=psutil.virtual_memory().percent,
                          root_disk_percent=psutil.disk_usage("/").percent, temperatures_c=temps)


def check_system(read: Callable[[], SystemSnapshot] = read_system,
                 limits: SystemThresholds = SystemThresholds()) -> CheckResult:
    s = read()
    findings = []
    load = f"load {s.load_1m:.2f} on {s.cpus} CPU(s)"
    if s.load_1m > limits.load_warn_per_cpu * s.cpus:
        findings.append(Finding(Status.WARN, load + " (busy)",
                                "something is keeping the CPU busy: look at `top` and stop what "
                                "does not belong on the gateway"))
    else:
        findings.append(Finding(Status.PASS, load))
    memory = f"memory {s.memory_percent:.0f}% used"
    if s.memory_percent > limits.memory_warn_percent:
        findings.append(Finding(Status.WARN, memory,
                                "memory is nearly full: find the big process with `top` (sort by "
                                "memory, key M); restarting the appliance service frees its share"))
    else:
        findings.append(Finding(Status.PASS, memory))
    disk = f"root disk {s.root_disk_percent:.0f}% used"
    if s.root_disk_percent > limits.root_disk_warn_percent:
        findings.append(Finding(Status.WARN, disk,
                                "the system disk is nearly full: clear old logs "
                                "(`journalctl --vacuum-size=200M`) and package caches (`apt-get clean`)"))
    else:
        findings.append(Finding(Status.PASS, disk))
    if not s.temperatures_c:
        findings.append(Finding(Status.PASS, "no temperature sensors"))
    else:
        label, hottest = max(s.temperatures_c.items(), key=lambda kv: kv[1])
        text = f"hottest sensor {label} {hottest:.0f} °C"
        if hottest > limits.temperature_warn_c:
            findings.append(Finding(Status.WARN, text,
                                    "the box is running hot: give it air (no closed cabinet, vents "
                                    "free, fan turning) and keep it away from heat sources"))
        else:
            findings.append(Finding(Status.PASS, text))
    return combine("system", findings)
