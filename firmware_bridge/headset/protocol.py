"""Headset call control, sans-IO: input reports to events, host call state to output reports.

The host owns call state. `feed()` turns what the headset sends into requests (HookSwitch,
PhoneMute, HeadsetButton), debounced and with the hook echo removed; `set_state()` gives the
output reports that show the host state on the headset's LEDs. Bytes are as hidraw reads and
writes them: report ID first on numbered devices; a leading 0 on writes to unnumbered ones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..events import Event, HeadsetButton, HookSwitch, PhoneMute, ProtocolError
from ..exceptions import DescriptorError
from .controls import BUTTONS, Control, HeadsetCapabilities

# Write order: Off-Hook first (headsets honour mute only while off-hook), mute indicators last.
OUTPUT_ORDER = ("off_hook", "ring", "ringer", "hold", "mute", "microphone")


@dataclass(frozen=True, slots=True)
class HostState:
    ring: bool = False
    off_hook: bool = False
    mute: bool = False
    hold: bool = False

    def leds(self) -> dict[str, bool]:
        return {"off_hook": self.off_hook, "ring": self.ring, "ringer": self.ring, "hold": self.hold,
                "mute": self.mute, "microphone": self.mute}


def read_bits(data: bytes, offset: int, size: int, signed: bool = False) -> int:
    """The field at bit `offset` (LSB-first, HID order) of `data`; bits past the end read as 0."""
    value = int.from_bytes(data, "little") >> offset & ((1 << size) - 1)
    if signed and value >> (size - 1) & 1:
        value -= 1 << size
    return value


def write_bits(buf: bytearray, offset: int, size: int, value: int) -> None:
    for i in range(size):
        byte, bit = divmod(offset + i, 8)
        if value >> i & 1:
            buf[byte] |= 1 << bit
        else:
            buf[byte] &= ~(1 << bit) & 0xFF


def split_report(caps: HeadsetCapabilities, kind: str, report: bytes) -> tuple[int, bytes]:
    """(report id, data) of a report as hidraw carries it; raises ValueError when it cannot be."""
    if not report:
        raise ValueError("empty report")
    if caps.numbered:
        rid, data = report[0], report[1:]
        if (kind, rid) not in caps.descriptor.report_bits:
            raise ValueError(f"unknown {kind} report id {rid}")
        return rid, data
    if kind == "output":                    # hidraw writes to unnumbered devices start with a 0
        if report[0] != 0:
            raise ValueError(f"output report to an unnumbered device must start with 0, not {report[0]}")
        return 0, report[1:]
    return 0, report


def encode_report(caps: HeadsetCapabilities, kind: str, rid: int, data: bytes) -> bytes:
    """Bytes for hidraw: report ID first when numbered; output to unnumbered devices gets a 0."""
    if caps.numbered or kind == "output":
        return bytes([rid]) + bytes(data)
    return bytes(data)


class HeadsetProtocol:
    """One open headset's protocol state: last input values, LED bytes per report, host state."""

    def __init__(self, caps: HeadsetCapabilities, *, clock: Callable[[], float],
                 debounce_s: float = 0.3, echo_window_s: float = 1.0):
        if not caps.call_control:
            raise DescriptorError(caps.reason)
        self.caps = caps
        self.clock = clock
        self.debounce_s = debounce_s
        self.echo_window_s = echo_window_s
        self.host = HostState()
        desc = caps.descriptor
        self._out = {rid: bytearray(desc.report_length("output", rid)) for rid in
                     sorted({c.report_id for c in caps.outputs})}
        self._last: dict[Control, int] = {c: 0 for c in caps.inputs}
        self._last_press: dict[str, float] = {}
        self._last_report: dict[int, tuple[bytes, float]] = {}
        self._off_hook_set_at: float | None = None
        self.counters = {"reports_in": 0, "events": 0, "debounced": 0, "echo_ignored": 0,
                         "errors": 0, "ignored": 0}

    # ---- output: host state -> LED reports --------------------------------------------

    def set_state(self, ring: bool, off_hook: bool, mute: bool, hold: bool = False) -> list[bytes]:
        """The output reports that changed, Off-Hook's first; every other bit of each report kept."""
        new = HostState(bool(ring), bool(off_hook), bool(mute), bool(hold))
        if new.off_hook != self.host.off_hook:
            self._off_hook_set_at = self.clock()
        self.host = new
        return self._reports(changed_only=True)

    def full_state(self) -> list[bytes]:
        """Every LED report for the current host state (after open or a replug)."""
        return self._reports(changed_only=False)

    def _reports(self, changed_only: bool) -> list[bytes]:
        wanted = self.host.leds()
        before = {rid: bytes(buf) for rid, buf in self._out.items()}
        order: list[int] = []
        for name in OUTPUT_ORDER:
            for c in self.caps.output(name):
                value = c.logical_max if wanted[name] else max(c.logical_min, 0)
                write_bits(self._out[c.report_id], c.bit_offset, c.size, value)
                if c.report_id not in order:
                    order.append(c.report_id)
        return [encode_report(self.caps, "output", rid, self._out[rid]) for rid in order
                if not changed_only or bytes(self._out[rid]) != before[rid]]

    # ---- input: reports -> requests -------------------------------------------------

    def feed(self, report: bytes) -> list[Event]:
        """Events from one input report exactly as read from hidraw."""
        self.counters["reports_in"] += 1
        try:
            rid, data = split_report(self.caps, "input", report)
        except ValueError as exc:
            return self._error(str(exc), report)
        declared = self.caps.descriptor.report_length("input", rid)
        controls = [c for c in self.caps.inputs if c.report_id == rid]
        needed = max(((c.bit_offset + c.size + 7) // 8 for c in controls), default=0)
        # Shorter than declared is accepted while it covers every control (some headsets trim).
        if len(data) > declared or len(data) < needed:
            return self._error(f"input report {rid}: {len(data)} data bytes, expected {declared}", report)
        if not controls:
            self.counters["ignored"] += 1
            return []
        now = self.clock()
        last_data, last_at = self._last_report.get(rid, (None, None))
        self._last_report[rid] = (bytes(data), now)
        if data == last_data and now - last_at < self.debounce_s:
            self.counters["debounced"] += 1         # the same report again: one press, sent twice
            return []
        events: list[Event] = []
        for c in controls:
            value = read_bits(data, c.bit_offset, c.size, c.signed)
            previous, self._last[c] = self._last[c], value
            event = self._event(c, previous, value, now)
            if event is not None:
                events.append(event)
        self.counters["events"] += len(events)
        return events

    def _error(self, reason: str, raw: bytes) -> list[Event]:
        self.counters["errors"] += 1
        return [ProtocolError(reason, bytes(raw))]

    def _event(self, c: Control, previous: int, value: int, now: float) -> Event | None:
        if c.name in BUTTONS:                                   # momentary: the press edge only
            pressed = value > 0 and previous <= 0 if c.kind == "on_off" else value != 0 and previous == 0
            return self._request(c, True, now, press=True) if pressed else None
        if c.kind == "switch":
            return self._request(c, bool(value), now, press=False) if value != previous else None
        if c.kind == "on_off":
            if value == 0 or value == previous:
                return None
            return self._request(c, value > 0, now, press=True)
        if value == 0 or previous != 0:                         # toggle / momentary: the edge
            return None
        current = self.host.off_hook if c.name == "hook_switch" else self.host.mute
        return self._request(c, not current, now, press=True)

    def _request(self, c: Control, state: bool, now: float, press: bool) -> Event | None:
        if c.name == "hook_switch" and self._is_echo(c, state, now):
            self.counters["echo_ignored"] += 1
            return None
        if press:
            last = self._last_press.get(c.name)
            if last is not None and now - last < self.debounce_s:
                self.counters["debounced"] += 1
                return None
            self._last_press[c.name] = now
        if c.name == "hook_switch":
            return HookSwitch(state)
        if c.name == "phone_mute":
            return PhoneMute(state)
        return HeadsetButton(c.name)

    def _is_echo(self, c: Control, state: bool, now: float) -> bool:
        """A hook report right after the host changed Off-Hook that only repeats it back."""
        set_at = self._off_hook_set_at
        if set_at is None or now - set_at > self.echo_window_s:
            return False
        # A toggle's echo is a pulse; read as a press it would ask for the opposite state.
        return c.kind == "toggle" or state == self.host.off_hook
