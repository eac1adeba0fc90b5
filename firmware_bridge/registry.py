"""Every device kind the appliance knows, by name, imported only when used (python-can's shape).

Adding a kind is a `firmware_bridge/<kind>/` folder (settings, codec, driver, emulator) and one
entry here; the daemon, the config loader, the self-tests and the demo read this table and never
name a kind themselves.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

# What a kind's events feed in the daemon (the stage that consumes them):
#   "line"      a telephone line: Ring/CallerId/... -> the line call state machine
#   "smdr"      a PBX call-record feed: PbxLeg events -> the SMDR legs of the call tracker
#   "headset"   an agent's headset: HookSwitch/PhoneMute/... -> the agents state machine
#   "wallboard" an output sign: the queue statistics drive it; it only reports ACK/NAK
ROLES = ("line", "smdr", "headset", "wallboard")


@dataclass(frozen=True)
class DeviceKind:
    """One kind of device, as the config file, the daemon and the self-tests see it.

    `table` is the TOML array of tables its entries live in ("pbx" -> `[[pbx]]`); where one table
    holds several kinds, `selector` is the key that names the kind ("format" = "avaya-ipo").
    The dotted "module:attribute" references are imported on first use.
    """
    name: str
    table: str
    selector: str
    role: str
    settings: str           # frozen dataclass of the table's keys; its validate() raises ValueError
    driver: str             # class with from_settings(settings) -> firmware_bridge.base.Driver
    emulator: str           # the device's side, shipped in the package (demo, tests)
    description: str
    selftest: str = ""      # hw_tests function (settings, DeviceCheckContext) -> CheckResult
    counted_as: str = ""    # how a summary counts entries of its table: "PBX feed(s)"

    def load(self, attribute: str) -> Any:
        module, _, name = getattr(self, attribute).partition(":")
        return getattr(importlib.import_module(module), name)


KINDS: dict[str, DeviceKind] = {
    kind.name: kind for kind in (
        DeviceKind("avaya-ipo", "pbx", "format", "smdr",
                   "firmware_bridge.smdr.settings:PbxSettings",
                   "firmware_bridge.smdr.receiver:AvayaReceiver",
                   "firmware_bridge.smdr.emulator:AvayaEmulator",
                   "Avaya IP Office SMDR over TCP (the PBX connects to the appliance)",
                   "hw_tests.checks_pbx:avaya_device_check", "PBX feed(s)"),
        DeviceKind("panasonic", "pbx", "format", "smdr",
                   "firmware_bridge.smdr.settings:PbxSettings",
                   "firmware_bridge.smdr.driver:PanasonicSerialDriver",
                   "firmware_bridge.smdr.emulator:PanasonicEmulator",
                   "Panasonic KX-TDA/TDE/NS SMDR printer output on RS-232C",
                   "hw_tests.checks_pbx:panasonic_device_check", "PBX feed(s)"),
        DeviceKind("gsm", "line", "kind", "line",
                   "firmware_bridge.at.settings:LineSettings",
                   "firmware_bridge.at.driver:LineDriver",
                   "firmware_bridge.at.emulator:GsmModemEmulator",
                   "3GPP 27.007 GSM/LTE module (SIM7600, EC25, ...) on a serial port",
                   "hw_tests.checks_lines:line_device_check", "line(s)"),
        DeviceKind("voice-modem", "line", "kind", "line",
                   "firmware_bridge.at.settings:LineSettings",
                   "firmware_bridge.at.driver:LineDriver",
                   "firmware_bridge.at.voice_emulator:VoiceModemEmulator",
                   "V.253 landline voice modem with caller ID on a serial port",
                   "hw_tests.checks_lines:line_device_check", "line(s)"),
        DeviceKind("headset", "headset", "", "headset",
                   "firmware_bridge.headset.settings:HeadsetSettings",
                   "firmware_bridge.headset.driver:HeadsetDriver",
                   "firmware_bridge.headset.emulator:HeadsetEmulator",
                   "USB telephony headset (HID telephony page) on /dev/hidrawN",
                   "hw_tests.checks_headsets:headset_device_check", "headset(s)"),
        DeviceKind("alpha", "wallboard", "", "wallboard",
                   "firmware_bridge.wallboard.settings:WallboardSettings",
                   "firmware_bridge.wallboard.driver:WallboardDriver",
                   "firmware_bridge.wallboard.emulator:SignEmulator",
                   "Alpha (M-Protocol) LED wallboard on RS-232 or RS-485; signs sharing a port "
                   "share one driver (settings.group_by_port)",
                   "hw_tests.checks_wallboards:wallboard_device_check", "wallboard(s)"),
    )
}


class UnknownKind(KeyError):
    """A config entry names a kind this release does not know."""


def kind(name: str) -> DeviceKind:
    try:
        return KINDS[name]
    except KeyError:
        raise UnknownKind(name) from None


def tables() -> dict[str, list[DeviceKind]]:
    """TOML table name -> the kinds it may hold, in registry order."""
    out: dict[str, list[DeviceKind]] = {}
    for k in KINDS.values():
        out.setdefault(k.table, []).append(k)
    return out


def register(entry: DeviceKind) -> None:
    """Add a kind at run time (a site's own driver package); a name may be registered once."""
    if entry.name in KINDS:
        raise ValueError(f"device kind {entry.name!r} is already registered")
    if entry.role not in ROLES:
        raise ValueError(f"device kind {entry.name!r}: role must be one of {ROLES}")
    KINDS[entry.name] = entry
