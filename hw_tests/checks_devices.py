"""What every device check shares: a missing port, a port that will not open, and records gone quiet."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Callable

from firmware_bridge.exceptions import DeviceError

from .checks_storage import human_age, last_stored_at
from .ports import BUSY_HINT_TAIL, busy_cause, holders, is_url, permission_cause
from .result import CheckResult, Finding, Status, combine, failed, passed

RECORD_AGE_WARN_S = 86400.0


@dataclass(frozen=True)
class DeviceCheckContext:
    """What a device kind's self-test may need besides its settings (see firmware_bridge.registry)."""
    data_dir: str
    now: Callable[[], float] = field(default=time.time)
    at_timeout_s: float = 2.0
    network_timeout_s: float = 3.0


def missing_port(name: str, port: str) -> CheckResult | None:
    """FAIL when a device path is absent (URLs cannot be checked this way: None)."""
    if is_url(port) or os.path.exists(port):
        return None
    by_id = port.startswith("/dev/serial/")
    hint = ("the USB device is not connected or not recognised: check the USB cable and the "
            "device's power; `ls -l /dev/serial/by-id/` lists what is plugged in"
            if by_id else
            "check the cable and that the port in the config is right "
            "(`ls -l /dev/serial/by-id/` lists USB serial devices)")
    dangling = " (link points nowhere)" if os.path.lexists(port) else ""
    return failed(name, f"{port} not present{dangling}", hint)


def open_failure(name: str, port: str, exc: DeviceError, extra: list[Finding] = ()) -> CheckResult:
    """Why the port would not open, in a technician's words.

    The daemon opens its ports exclusively, so while it runs every one of them is "busy". That is
    the healthy state, not a fault: when the lock holder is `appliance run` the device is reported
    PASS "in use by the running daemon" (the daemon's own status shows whether it is talking).
    """
    if busy_cause(exc):
        who = holders(port)
        lockers = [h for h in who if h.locks] or [h for h in who if not h.far_end]
        daemon = [h for h in lockers if h.is_daemon]
        if daemon:
            return _with_findings(passed(name, f"{port} in use by the running daemon (pid {daemon[0].pid})"),
                         extra)
        named = ", ".join(f"{h.cmdline} (pid {h.pid})" for h in lockers)
        detail = f"{port} held by another process" + (f": {named}" if named else "")
        return failed(name, detail, f"find it with `fuser -v {port}` and stop it; " + BUSY_HINT_TAIL)
    if permission_cause(exc):
        return failed(name, f"permission denied opening {port}",
                      "the appliance user must be in the dialout group "
                      "(`usermod -aG dialout appliance`) and the udev rule must give the port to it")
    return failed(name, f"cannot open {port} ({exc})",
                  "unplug and replug the device and look at `dmesg` for USB errors; if the port "
                  "is a URL, check its spelling")


def _with_findings(result: CheckResult, extra: list[Finding]) -> CheckResult:
    if not extra:
        return result
    return combine(result.name, [Finding(result.status, result.detail, result.hint), *extra])


def other_openers(port: str) -> Finding | None:
    """Processes other than us with the port open (ModemManager, gpsd, minicom, a stray cat).

    The process driving a pseudo-terminal's master is the device itself (an emulator), not a rival.
    """
    others = [h for h in holders(port) if h.pid != os.getpid() and not h.far_end]
    if not others:
        return None
    named = ", ".join(f"{h.cmdline} (pid {h.pid})" for h in others)
    return Finding(Status.WARN, f"also open in {named}",
                   "another program reads this port too and may steal its data: stop it; " + BUSY_HINT_TAIL)


def record_age(data_dir: str, source: str, setup_hint: str, *,
               now: Callable[[], float] = time.time,
               warn_after_s: float = RECORD_AGE_WARN_S) -> Finding:
    """How long ago the newest record from this source was stored."""
    last = last_stored_at(data_dir, source)
    if last is None:
        return Finding(Status.WARN, "no record stored from it yet", setup_hint)
    age = max(0.0, now() - last)
    text = f"last record {human_age(age)} ago"
    if age > warn_after_s:
        return Finding(Status.WARN, text, "no calls recorded for over a day: " + setup_hint)
    return Finding(Status.PASS, text)
