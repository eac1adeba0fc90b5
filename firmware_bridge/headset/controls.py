"""Call-control capabilities of a headset, found from its report descriptor alone (no vendor tables).

Inputs are looked for on the Telephony page (0x0B) and, for programmable buttons, on the Button
page inside a telephony application collection; outputs on the LED page (0x08) plus Telephony
Ringer. Each on/off input is classified from its flags and logical range the way the HID spec's
on/off-control definitions (and google/libhidtelephony's getOnOffControlType) do.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..exceptions import DescriptorError
from .descriptor import Field, ReportDescriptor, parse_descriptor

TELEPHONY, LED, BUTTON = 0x0B, 0x08, 0x09

INPUT_USAGES = {TELEPHONY << 16 | 0x20: "hook_switch", TELEPHONY << 16 | 0x2F: "phone_mute",
                TELEPHONY << 16 | 0x21: "flash", TELEPHONY << 16 | 0x24: "redial",
                TELEPHONY << 16 | 0x07: "programmable"}
OUTPUT_USAGES = {LED << 16 | 0x17: "off_hook", LED << 16 | 0x18: "ring", LED << 16 | 0x09: "mute",
                 LED << 16 | 0x21: "microphone", LED << 16 | 0x20: "hold",
                 TELEPHONY << 16 | 0x9E: "ringer"}
HOOK_SWITCH = TELEPHONY << 16 | 0x20
BUTTONS = ("flash", "redial", "programmable")
CALL_STATE_OUTPUTS = ("off_hook", "ring", "ringer")


@dataclass(frozen=True, slots=True)
class Control:
    """One control instance: where its bits are and how to read them.

    kind, for inputs: "switch" (absolute 0..1, the bit holds the state), "toggle" (relative 0..1:
    one press flips the host's state), "on_off" (relative -1..1: +1 on, -1 off), "momentary"
    (an array slot or any other range: pressed while non-zero). Outputs are "indicator".
    """
    name: str
    usage: int
    direction: str              # "input" | "output"
    report_id: int
    bit_offset: int
    size: int
    kind: str
    logical_min: int
    logical_max: int
    constant: bool
    collection: int             # index of its telephony application collection

    @property
    def signed(self) -> bool:
        return self.logical_min < 0

    def describe(self) -> str:
        flag = " constant" if self.constant else ""
        return (f"{self.name} report {self.report_id} bit {self.bit_offset} size {self.size} "
                f"{self.kind}{flag}")


@dataclass(frozen=True)
class HeadsetCapabilities:
    """What the device can do for call control; `reason` says why not when `call_control` is False."""
    call_control: bool
    reason: str
    numbered: bool
    inputs: tuple[Control, ...]
    outputs: tuple[Control, ...]
    telephony_collections: tuple[int, ...]          # usages of the telephony application collections
    warnings: tuple[str, ...] = ()
    descriptor: ReportDescriptor | None = field(default=None, compare=False, repr=False)

    def input(self, name: str) -> list[Control]:
        return [c for c in self.inputs if c.name == name]

    def output(self, name: str) -> list[Control]:
        return [c for c in self.outputs if c.name == name]

    def summary(self) -> dict:
        """Plain values for status pages: what was found, or why the device is refused."""
        return {"call_control": self.call_control, "reason": self.reason, "numbered": self.numbered,
                "telephony_collections": [f"0x{u:08x}" for u in self.telephony_collections],
                "inputs": [c.describe() for c in self.inputs],
                "outputs": [c.describe() for c in self.outputs], "warnings": list(self.warnings)}


def classify(f: Field) -> str:
    """On/off control type from the field's flags and logical range (HID 1.11 OOC definitions)."""
    if not f.variable:
        return "momentary"
    if f.relative and (f.logical_min, f.logical_max) == (-1, 1):
        return "on_off"
    if f.relative and (f.logical_min, f.logical_max) == (0, 1):
        return "toggle"
    if not f.relative and (f.logical_min, f.logical_max) == (0, 1):
        return "switch"
    return "momentary"


def _controls(desc: ReportDescriptor, telephony: set[int]) -> tuple[list[Control], list[Control]]:
    inputs: list[Control] = []
    outputs: list[Control] = []
    for f in desc.fields:
        app = desc.application_of(f)
        if app is None or app.index not in telephony or f.kind == "feature":
            continue
        elements = f.usages if f.variable else f.usages[:1] * min(f.count, 1)
        for i, usage in enumerate(elements):
            if f.kind == "input":
                name = INPUT_USAGES.get(usage) or ("programmable" if usage >> 16 == BUTTON else None)
                table = inputs
            else:
                name = OUTPUT_USAGES.get(usage)
                table = outputs
            if name is None:
                continue
            kind = classify(f) if f.kind == "input" else "indicator"
            if f.kind == "input" and not f.variable:
                # An array selects a usage by value; only a single-usage array is read here,
                # as "pressed while non-zero" (EPOS puts its programmable button in one).
                if len(f.usages) != 1 and name != "programmable":
                    continue
            table.append(Control(name, usage, f.kind, f.report_id, f.element_offset(i), f.size, kind,
                                 f.logical_min, f.logical_max, f.constant, app.index))
    return inputs, outputs


def find_controls(descriptor: bytes | ReportDescriptor) -> HeadsetCapabilities:
    """Capabilities of a device from its descriptor; raises DescriptorError only when malformed."""
    desc = descriptor if isinstance(descriptor, ReportDescriptor) else parse_descriptor(descriptor)
    apps = [c for c in desc.collections if c.kind == "application" and c.parent is None]
    telephony = [c for c in apps if c.usage_page == TELEPHONY]
    if not telephony:
        pages = ", ".join(sorted({f"0x{c.usage_page:04x}" for c in apps})) or "none"
        # A Hook Switch can sit in another collection (third-party earbuds put it in Consumer
        # Control); it is not read, and the reason says so rather than implying there is none.
        stray = any(f.kind == "input" and HOOK_SWITCH in f.usages for f in desc.fields)
        note = "; its Hook Switch lies outside any telephony collection and is not read" if stray else ""
        return HeadsetCapabilities(False, "no telephony collection (usage page 0x0B): not a call-control "
                                   f"device (application collections on pages {pages}{note})", desc.numbered,
                                   (), (), (), descriptor=desc)
    inputs, outputs = _controls(desc, {c.index for c in telephony})
    usages = tuple(c.usage for c in telephony)
    warnings: list[str] = []

    def refuse(reason: str) -> HeadsetCapabilities:
        return HeadsetCapabilities(False, reason, desc.numbered, tuple(inputs), tuple(outputs), usages,
                                   tuple(warnings), desc)

    hooks = [c for c in inputs if c.name == "hook_switch"]
    if not hooks:
        return refuse("telephony collection has no Hook Switch input: the headset cannot answer or "
                      "hang up")
    usable = [c for c in hooks if c.kind in ("switch", "toggle", "on_off")]
    if not usable:
        return refuse(f"Hook Switch is not an on/off control ({hooks[0].kind}, logical "
                      f"{hooks[0].logical_min}..{hooks[0].logical_max})")
    indicators = [c for c in outputs if c.name in CALL_STATE_OUTPUTS and not c.constant]
    if all(c.constant for c in usable):
        if not indicators:
            return refuse("Hook Switch is declared constant and there is no Off-Hook/Ring indicator: "
                          "a placeholder telephony collection (as on gaming headsets), not call control")
        # Jabra Link 380c and Anker PowerConf flag working telephony inputs constant; their
        # indicators are data, so the hook switch is read all the same.
        warnings.append("Hook Switch is declared constant; read anyway because the device has "
                        "call-state indicators")
    if not [c for c in outputs if c.name == "off_hook"]:
        warnings.append("no Off-Hook LED: the headset cannot be told a call is up")
    return HeadsetCapabilities(True, "", desc.numbered, tuple(inputs), tuple(outputs), usages,
                               tuple(warnings), desc)


def require_call_control(descriptor: bytes | ReportDescriptor) -> HeadsetCapabilities:
    """find_controls, raising DescriptorError(reason) for a device that cannot do call control."""
    caps = find_controls(descriptor)
    if not caps.call_control:
        raise DescriptorError(caps.reason)
    return caps
