"""headset:<name>: the headset is there, can do call control (or why not), and its Ring LED answers."""
from __future__ import annotations

import os
import stat

from firmware_bridge.exceptions import DeviceError
from firmware_bridge.headset.controls import find_controls
from firmware_bridge.headset.descriptor import parse_descriptor
from firmware_bridge.headset.driver import HeadsetDriver
from firmware_bridge.headset.settings import HeadsetSettings

from .checks_devices import DeviceCheckContext
from .ports import holders
from .result import CheckResult, Finding, Status, combine, failed

_PLUG_HINT = ("plug the headset in and check `ls -l /dev/appliance/`: the udev rule names headsets by "
              "USB serial (docs/udev.md); `dmesg | tail` shows whether the USB device was seen")


def headset_device_check(settings: HeadsetSettings, ctx: DeviceCheckContext) -> CheckResult:
    name = f"headset:{settings.name}"
    path = settings.hidraw
    if not os.path.exists(path):
        return failed(name, f"{path} not present", _PLUG_HINT)
    if settings.descriptor_file and not os.path.exists(settings.descriptor_file):
        return failed(name, f"descriptor_file {settings.descriptor_file} not found",
                      "point descriptor_file at the raw report descriptor, or leave it empty to read it "
                      "from the device")
    held = [h for h in holders(path) if h.pid != os.getpid()]
    daemon = [h for h in held if h.is_daemon]
    if daemon:
        return combine(name, [Finding(Status.PASS, f"in use by the running daemon (pid {daemon[0].pid})"),
                              _controls_without_opening(settings, path)])
    try:
        info = HeadsetDriver.from_settings(settings).identify(timeout=ctx.at_timeout_s)
    except (DeviceError, OSError) as exc:
        return failed(name, f"cannot open {path} ({exc})",
                      "the appliance user needs the hidraw node (the udev rule gives it GROUP appliance, "
                      "MODE 0660); unplug and replug the headset")
    return combine(name, _findings(info, held))


def _findings(info: dict, held: list) -> list[Finding]:
    if not info["call_control"]:
        reason = info["reason"]
        gaming = "gaming" in reason or "constant" in reason
        hint = ("this looks like a gaming headset or microphone: it has no usable call controls. Use a "
                "telephony headset (Jabra, Poly, EPOS, Yealink ...) for agents" if gaming else
                "this device cannot answer or hang up calls: use a USB telephony headset")
        return [Finding(Status.FAIL, f"cannot do call control: {reason}", hint)]
    caps = info.get("capabilities", {})
    found = [Finding(Status.PASS, f"call control: {_describe(caps)}")]
    led = info.get("led_round_trip")
    if led == "ok":
        found.append(Finding(Status.PASS, "Ring LED on and off"))
    elif led is None:
        found.append(Finding(Status.WARN, "no Ring LED or ringer: the agent will not see the call ringing on "
                                          "the headset", "the call still rings the agent's desk; consider a "
                                                         "headset with a ring indicator"))
    else:
        found.append(Finding(Status.FAIL, f"Ring LED round trip {led}", "unplug and replug the headset"))
    others = [h for h in held if not h.is_daemon]
    if others:
        found.append(Finding(Status.WARN, "also open in " + ", ".join(f"{h.cmdline} (pid {h.pid})" for h in others),
                             "another program reads this headset's buttons too: stop it (a softphone?)"))
    return found


def _controls_without_opening(settings: HeadsetSettings, path: str) -> Finding:
    """What the descriptor says, read from descriptor_file or sysfs, without touching the device."""
    source = settings.descriptor_file
    if not source and stat.S_ISCHR(os.stat(path).st_mode):
        node = os.path.basename(os.path.realpath(path))
        source = f"/sys/class/hidraw/{node}/device/report_descriptor"
    try:
        with open(source, "rb") as fh:
            caps = find_controls(parse_descriptor(fh.read()))
    except (OSError, DeviceError) as exc:
        return Finding(Status.WARN, f"descriptor not readable without opening the device ({exc})")
    if not caps.call_control:
        return Finding(Status.FAIL, f"cannot do call control: {caps.reason}",
                       "use a USB telephony headset for agents")
    return Finding(Status.PASS, f"call control: {_describe(caps.summary())}")


def _describe(summary: dict) -> str:
    """"hook (switch), mute (toggle); LEDs off_hook, ring, mute" from the controls' descriptions."""
    def short(text: str, with_kind: bool) -> str:
        words = text.split()             # "<name> report <id> bit <n> size <n> <kind> [constant]"
        return f"{words[0]} ({' '.join(words[7:])})" if with_kind and len(words) > 7 else words[0]
    inputs = ", ".join(short(t, True) for t in summary.get("inputs", [])) or "none"
    outputs = ", ".join(short(t, False) for t in summary.get("outputs", [])) or "none"
    return f"inputs {inputs}; outputs {outputs}"
