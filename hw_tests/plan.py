"""Which checks apply to a configuration, with their timeouts, narrowed by --only."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from typing import Callable

from appliance.config import Config, DeviceEntry
from firmware_bridge.registry import kind as device_kind

from .checks_central import check_central
from .checks_clock import ClockState, check_clock, read_clock_state
from .checks_devices import DeviceCheckContext
from .checks_loopback import check_loopback
from .checks_storage import BacklogThresholds, DiskThresholds, check_data_dir, check_store
from .checks_system import SystemSnapshot, SystemThresholds, check_config, check_system, read_system
from .runner import Check

_DEVICE_HINT = ("the device does not answer in time: unplug and replug it, check its power, and "
                "run the self-test again")
_CENTRAL_HINT = ("the network to the central is very slow or stalls: check the box's network and "
                 "any proxy or firewall on the way")


class UnknownCheck(ValueError):
    """--only named a check that does not exist for this configuration."""


@dataclass(frozen=True)
class Environment:
    """What the checks read from the world; tests replace single parts (a clock, thresholds)."""
    clock: Callable[[], ClockState] = read_clock_state
    system: Callable[[], SystemSnapshot] = read_system
    now: Callable[[], float] = time.time
    utcnow: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    disk: DiskThresholds = field(default_factory=DiskThresholds)
    backlog: BacklogThresholds = field(default_factory=BacklogThresholds)
    system_limits: SystemThresholds = field(default_factory=SystemThresholds)
    at_timeout_s: float = 2.0
    network_timeout_s: float = 3.0


def _device_check(cfg: Config, dev: DeviceEntry, env: Environment) -> Check | None:
    """The device kind's own self-test (firmware_bridge.registry names it), or None if it has none."""
    kind = device_kind(dev.kind)
    if not kind.selftest:
        return None
    ctx = DeviceCheckContext(data_dir=cfg.site.data_dir, now=env.now, at_timeout_s=env.at_timeout_s,
                             network_timeout_s=env.network_timeout_s)
    return Check(f"{kind.role if kind.role in ('headset', 'wallboard') else 'device'}:{dev.name}",
                 partial(kind.load("selftest"), dev.settings, ctx), timeout_s=10.0,
                 timeout_hint=_DEVICE_HINT)


def all_checks(cfg: Config, env: Environment = Environment(), loopback: str | None = None) -> list[Check]:
    site = cfg.site
    checks = [
        Check("config", partial(check_config, cfg), timeout_s=2.0),
        Check("clock", partial(check_clock, env.clock, env.utcnow), timeout_s=5.0),
        Check("system", partial(check_system, env.system, env.system_limits), timeout_s=5.0),
        Check("data_dir", partial(check_data_dir, site.data_dir, env.disk), timeout_s=10.0,
              timeout_hint="the data disk takes too long to write: look at `dmesg` for disk errors"),
        Check("store", partial(check_store, site.data_dir, site.id, now=env.now, limits=env.backlog,
                               control_socket=cfg.control_socket),
              timeout_s=20.0,
              timeout_hint="the database check takes too long: the disk is very slow or the "
                           "database very large; run the self-test again when the box is quiet"),
    ]
    for endpoint in cfg.central.endpoints:
        checks.append(Check(f"central:{endpoint}",
                            partial(check_central, endpoint, cfg.central, site.id,
                                    timeout_s=env.network_timeout_s, now=env.utcnow),
                            timeout_s=4 * env.network_timeout_s, timeout_hint=_CENTRAL_HINT))
    checks += [c for c in (_device_check(cfg, dev, env) for dev in cfg.devices) if c is not None]
    checks += _audio_checks(cfg)
    if loopback:
        checks.append(Check("loopback", partial(check_loopback, loopback), timeout_s=5.0,
                            timeout_hint="the port stalls: unplug and replug its adapter"))
    return checks


def _audio_checks(cfg: Config) -> list[Check]:
    """audio:<device> for every line and headset with an audio PCM; recording when any has one."""
    from .checks_audio import check_audio
    from .checks_recording import check_recording
    out = []
    for dev in cfg.devices:
        s = dev.settings
        if getattr(s, "audio", ""):
            out.append(Check(f"audio:{s.name}", partial(check_audio, s.name, s.audio, s.audio_rate,
                                                        paced=s.audio_paced), timeout_s=10.0,
                             timeout_hint="the audio device does not deliver sound: unplug and replug it"))
    if out:
        out.append(Check("recording", partial(check_recording, cfg.recording, cfg.site.data_dir), timeout_s=5.0))
    return out


def select_checks(checks: list[Check], only: tuple[str, ...] | list[str]) -> list[Check]:
    """Keep the named checks; "device" or "central" alone selects every device:* / central:*."""
    if not only:
        return list(checks)
    known = [c.name for c in checks]
    for wanted in only:
        if not any(name == wanted or name.startswith(wanted + ":") for name in known):
            raise UnknownCheck(f"no check named {wanted!r} for this configuration; "
                               f"choose from: {', '.join(known)}")
    return [c for c in checks if any(c.name == w or c.name.startswith(w + ":") for w in only)]
