"""HeadsetEmulator: the device side of a USB telephony headset, on a Unix SOCK_SEQPACKET socket.

Each datagram is one report exactly as hidraw carries it. The emulator lays its input reports
out from a real report descriptor (the same bit positions the host parses) and records the LED
states the host writes. Scriptable from a test: lift, hang up, press mute, unplug, replug.
"""
from __future__ import annotations

import os
import select
import socket
import threading
import time
from dataclasses import dataclass

from .controls import Control, find_controls
from .descriptor import parse_descriptor
from .protocol import encode_report, read_bits, split_report, write_bits


@dataclass(frozen=True)
class LedChange:
    at: float                   # time.monotonic() when the host's report arrived
    name: str
    value: bool


class HeadsetEmulator:
    """A headset behind `path`. Options reproduce real quirks:

    double_report: every input report is sent twice (Plantronics, Jabra Engage 50);
    echo_hook_on_led: when the host changes the Off-Hook LED the headset reports its hook switch
    at that level (the echo gonnect filters).
    """

    def __init__(self, path: str, descriptor: bytes | str, *, double_report: bool = False,
                 echo_hook_on_led: bool = False, name: str = "headset-emulator"):
        if isinstance(descriptor, str):
            with open(descriptor, "rb") as f:
                descriptor = f.read()
        self.path = path
        self.descriptor = bytes(descriptor)
        self.caps = find_controls(parse_descriptor(self.descriptor))
        self.double_report = double_report
        self.echo_hook_on_led = echo_hook_on_led
        self.name = name
        self.leds: dict[str, bool] = {}
        self.led_history: list[LedChange] = []
        self.raw_received: list[bytes] = []
        self.sent: list[bytes] = []
        self._levels: dict[Control, int] = {c: 0 for c in self.caps.inputs}
        self._cond = threading.Condition()
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []     # like hidraw: several openers, all hear every report
        self._wake_r, self._wake_w = socket.socketpair()
        self._stop = False
        self.connections = 0
        self.replug()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # ---- plugging ------------------------------------------------------------------------

    def replug(self) -> None:
        """Listen on `path` again (a fresh device: LEDs off, switches released)."""
        with self._cond:
            if self._listener is not None:
                return
            if os.path.lexists(self.path):
                os.unlink(self.path)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            listener.bind(self.path)
            listener.listen(1)
            listener.setblocking(False)
            self._listener = listener
            self.leds = {}
            self._levels = {c: 0 for c in self.caps.inputs}
        self._wake()

    def unplug(self) -> None:
        """Close the host's connection and the listener and remove the path, like pulling the cable."""
        with self._cond:
            for sock in (*self._conns, self._listener):
                if sock is not None:
                    sock.close()
            self._conns, self._listener = [], None
            if os.path.lexists(self.path):
                os.unlink(self.path)
            self._cond.notify_all()
        self._wake()

    @property
    def connected(self) -> bool:
        return bool(self._conns)

    def stop(self) -> None:
        self._stop = True
        self.unplug()
        self._thread.join(timeout=5)
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> "HeadsetEmulator":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- the user at the headset -----------------------------------------------------------

    def lift(self) -> None:
        """Take the call: the hook switch goes off-hook (a pulse on toggle-type hook switches)."""
        self._actuate("hook_switch", on=True)

    def hang_up(self) -> None:
        self._actuate("hook_switch", on=False)

    def press_mute(self) -> None:
        """One press of the mute button: 1 then 0 on a toggle; the level flips on a switch."""
        controls = self._controls("phone_mute")
        if controls[0].kind == "switch":
            self._set(controls[0], 0 if self._levels[controls[0]] else 1)
        else:
            self._actuate("phone_mute", on=not self.leds.get("mute", self.leds.get("microphone", False)))

    def press(self, control: str) -> None:
        """A momentary button: "flash", "redial", "programmable" (also "hook_switch", "phone_mute")."""
        c = self._controls(control)[0]
        self._set(c, c.logical_max if c.kind != "on_off" else 1)
        self._set(c, 0)

    def send_raw(self, report: bytes) -> None:
        """Send these bytes as one input report, unchecked (malformed-input tests)."""
        self._send(bytes(report))

    def _controls(self, name: str) -> list[Control]:
        found = self.caps.input(name)
        if not found:
            raise ValueError(f"{self.name}: this descriptor has no {name} input")
        return found

    def _actuate(self, name: str, on: bool) -> None:
        c = self._controls(name)[0]
        if c.kind == "switch":
            self._set(c, 1 if on else 0)
        elif c.kind == "on_off":
            self._set(c, 1 if on else -1)
            self._set(c, 0)
        else:                                       # toggle / momentary: one press
            self._set(c, c.logical_max)
            self._set(c, 0)

    def _set(self, c: Control, value: int) -> None:
        self._levels[c] = value
        self._send(self._report(c.report_id))

    def _report(self, rid: int) -> bytes:
        data = bytearray(self.caps.descriptor.report_length("input", rid))
        for c, value in self._levels.items():
            if c.report_id == rid:
                write_bits(data, c.bit_offset, c.size, value & ((1 << c.size) - 1))
        return encode_report(self.caps, "input", rid, data)

    def _send(self, report: bytes) -> None:
        conns = list(self._conns)
        if not conns:
            raise ConnectionError(f"{self.name}: no host connected")
        for _ in range(2 if self.double_report else 1):
            for conn in conns:
                try:
                    conn.send(report)
                except OSError:
                    pass                            # that opener went away; its end is noticed on read
            self.sent.append(report)

    # ---- what the host set -------------------------------------------------------------

    def wait_led(self, name: str, value: bool, timeout: float = 5.0) -> bool:
        """Wait until the host has set LED `name` to `value`; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.leds.get(name) == value, timeout)

    def wait_connected(self, timeout: float = 5.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: bool(self._conns), timeout)

    def _on_output(self, report: bytes) -> None:
        self.raw_received.append(report)
        try:
            rid, data = split_report(self.caps, "output", report)
        except ValueError:
            return
        now = time.monotonic()
        echo = None
        with self._cond:
            for c in self.caps.outputs:
                if c.report_id != rid:
                    continue
                value = read_bits(data, c.bit_offset, c.size) != max(c.logical_min, 0)
                if self.leds.get(c.name) != value:
                    self.leds[c.name] = value
                    self.led_history.append(LedChange(now, c.name, value))
                    if c.name == "off_hook" and self.echo_hook_on_led:
                        echo = value
            self._cond.notify_all()
        hooks = self.caps.input("hook_switch")
        if echo is not None and hooks and hooks[0].kind == "switch":
            self._set(hooks[0], 1 if echo else 0)

    # ---- the thread ----------------------------------------------------------------------

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _run(self) -> None:
        while not self._stop:
            listener, conns = self._listener, list(self._conns)
            watch = [self._wake_r] + conns + ([listener] if listener is not None else [])
            try:
                ready, _, _ = select.select(watch, [], [])
            except (OSError, ValueError):           # a socket closed under us by unplug()
                continue
            if self._wake_r in ready:
                self._wake_r.recv(64)
            if listener is not None and listener in ready:
                self._accept(listener)
            for conn in conns:
                if conn in ready:
                    self._receive(conn)

    def _accept(self, listener: socket.socket) -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with self._cond:
            self._conns.append(conn)                # hidraw lets several processes open it
            self.connections += 1
            self._cond.notify_all()

    def _receive(self, conn: socket.socket) -> None:
        try:
            report = conn.recv(4096)
        except OSError:
            report = b""
        if report:
            self._on_output(report)
            return
        with self._cond:                           # that host closed its end
            if conn in self._conns:
                conn.close()
                self._conns.remove(conn)
            self._cond.notify_all()
