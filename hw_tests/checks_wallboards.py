"""wallboard:<name>: the sign's port opens, the sign answers (or is write-only) and holds our layout."""
from __future__ import annotations

import os

from firmware_bridge.exceptions import DeviceError
from firmware_bridge.wallboard.settings import WallboardSettings

from appliance.wallboard.layout import build_layout

from .checks_devices import DeviceCheckContext, missing_port, open_failure
from .ports import holders
from .result import CheckResult, Finding, Status, combine

_WIRING_HINT = ("the sign does not answer: that is normal for signs without Alpha 2.0 replies, but check by eye "
                "that it shows the queues; if it shows nothing, check the cable (RS-232 TX/RX, RS-485 A/B), the "
                "sign's serial settings (baud, 7E1) and its address (`address` in the config, 00 = all)")


def wallboard_device_check(settings: WallboardSettings, ctx: DeviceCheckContext) -> CheckResult:
    name = f"wallboard:{settings.name}"
    missing = missing_port(name, settings.port)
    if missing is not None:
        return missing
    daemon = [h for h in holders(settings.port) if h.is_daemon and h.pid != os.getpid()]
    if daemon:
        return combine(name, [Finding(Status.PASS, f"{settings.port} in use by the running daemon "
                                                   f"(pid {daemon[0].pid}); `appliance status` shows what it wrote")])
    from firmware_bridge.wallboard.driver import WallboardDriver
    try:
        info = WallboardDriver.from_settings(settings).identify(timeout=ctx.at_timeout_s, address=settings.address)
    except DeviceError as exc:
        return open_failure(name, settings.port, exc)
    if not info["answered"]:
        return combine(name, [Finding(Status.PASS, f"{settings.port} opens"),
                              Finding(Status.WARN, f"sign {settings.address} is write-only (no reply to a "
                                                   f"memory read)", _WIRING_HINT)])
    files = {(f["label"], f["kind"], f["size"]) for f in info.get("files", [])}
    wanted = {(f.label, f.kind, f.size) for f in build_layout(settings.queues, settings.template).files(settings.mode)}
    if files == wanted:
        findings = [Finding(Status.PASS, f"sign {settings.address} answers; its memory holds our layout "
                                         f"({len(wanted)} files)")]
    else:
        findings = [Finding(Status.WARN, f"sign {settings.address} answers, but its memory differs from the "
                                         f"layout the daemon writes ({len(files)} files, {len(wanted)} expected)",
                            "normal before the daemon first ran or after the sign was reset: the daemon "
                            "configures it when it starts (or after a replug)")]
    if info.get("status"):
        findings.append(Finding(Status.WARN, "the sign reported: " + ", ".join(info["status"]),
                                "a checksum, framing or parity error points at the serial settings or the cable"))
    return combine(name, findings)
