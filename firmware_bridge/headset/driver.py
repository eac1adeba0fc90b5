"""HeadsetDriver: one USB telephony headset on /dev/hidrawN (or an emulator's SOCK_SEQPACKET socket)."""
from __future__ import annotations

import array
import errno
import fcntl
import glob
import logging
import os
import socket
import stat
import time
from typing import Any, Callable

from ..base import Driver
from ..events import Event, ProtocolError
from ..exceptions import DescriptorError, DeviceGone, DeviceNotFound
from .controls import TELEPHONY, HeadsetCapabilities, find_controls
from .descriptor import parse_descriptor
from .protocol import HeadsetProtocol, HostState

log = logging.getLogger("firmware_bridge.headset")

HIDIOCGRDESCSIZE = 0x80044801        # _IOR('H', 1, int)
HIDIOCGRDESC = 0x90044802            # _IOR('H', 2, struct hidraw_report_descriptor)
HID_MAX_DESCRIPTOR_SIZE = 4096
_GONE_ERRNOS = {errno.EIO, errno.ENODEV, errno.ENXIO, errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN}


def read_hidraw_descriptor(fd: int) -> bytes:
    """The report descriptor of an open hidraw node, through the kernel's two ioctls."""
    size = array.array("i", [0])
    fcntl.ioctl(fd, HIDIOCGRDESCSIZE, size, True)
    buf = bytearray(4 + HID_MAX_DESCRIPTOR_SIZE)
    buf[:4] = size[0].to_bytes(4, "little")
    fcntl.ioctl(fd, HIDIOCGRDESC, buf, True)
    return bytes(buf[4:4 + size[0]])


class HeadsetDriver(Driver):
    """Owns one headset: reads its requests, writes the host's call state to its LEDs.

    The host state set with `set_state()` survives close/reopen: every open writes it in full,
    so after an unplug and replug the LEDs come back as they were.
    """

    kind = "headset"

    def __init__(self, name: str, target: str, *, descriptor_file: str = "", debounce_s: float = 0.3,
                 echo_window_s: float = 1.0, clock: Callable[[], float] = time.monotonic):
        super().__init__(name, target)
        self.descriptor_file = descriptor_file
        self.debounce_s = debounce_s
        self.echo_window_s = echo_window_s
        self.clock = clock
        self.host = HostState()
        self.capabilities: HeadsetCapabilities | None = None
        self._fd = -1
        self._sock: socket.socket | None = None
        self._protocol: HeadsetProtocol | None = None
        self._gone = False
        self._pending_gone: DeviceGone | None = None
        self.reports_out = 0
        self._totals = {"reports_in": 0, "events": 0, "debounced": 0, "echo_ignored": 0,
                        "errors": 0, "ignored": 0}

    @classmethod
    def from_settings(cls, settings) -> "HeadsetDriver":
        return cls(settings.name, settings.hidraw, descriptor_file=settings.descriptor_file,
                   debounce_s=settings.debounce_s)

    # ---- life --------------------------------------------------------------------------

    def _open_port(self) -> None:
        raw = self._connect()
        try:
            caps = find_controls(parse_descriptor(raw))
            if not caps.call_control:
                raise DescriptorError(f"{self.name}: refused for call control: {caps.reason}")
            self.capabilities = caps
            self._protocol = HeadsetProtocol(caps, clock=self.clock, debounce_s=self.debounce_s,
                                             echo_window_s=self.echo_window_s)
            self._gone, self._pending_gone = False, None
            self._protocol.set_state(**self._host_kwargs())
            for report in self._protocol.full_state():      # LEDs back as the host has them
                self._send(report)
        except BaseException:
            self._release()
            raise
        log.info("%s: opened %s (%s)", self.name, self.target, "; ".join(caps.warnings) or "ok")

    def _connect(self) -> bytes:
        """Open the target; return the report descriptor bytes."""
        try:
            mode = os.stat(self.target).st_mode
        except OSError as exc:
            raise DeviceNotFound(f"{self.name}: {self.target} not present ({exc.strerror})") from exc
        if stat.S_ISSOCK(mode):
            if not self.descriptor_file:
                raise DescriptorError(f"{self.name}: descriptor_file is required for a socket target")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            try:
                sock.connect(self.target)
            except OSError as exc:
                sock.close()
                raise DeviceNotFound(f"{self.name}: cannot connect to {self.target} ({exc})") from exc
            sock.setblocking(False)
            self._sock = sock
        else:
            try:
                self._fd = os.open(self.target, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            except OSError as exc:
                raise DeviceNotFound(f"{self.name}: cannot open {self.target} ({exc.strerror})") from exc
        try:
            if self.descriptor_file:
                with open(self.descriptor_file, "rb") as f:
                    return f.read()
            return read_hidraw_descriptor(self._fd)
        except OSError as exc:
            self._release()
            raise DescriptorError(f"{self.name}: cannot read the report descriptor ({exc})") from exc

    def _close_port(self) -> None:
        self._release()
        log.info("%s: closed %s", self.name, self.target)

    def _release(self) -> None:
        if self._protocol is not None:
            for key, value in self._protocol.counters.items():
                self._totals[key] += value
            self._protocol = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _filenos(self) -> list[int]:
        if self._sock is not None:
            return [self._sock.fileno()]
        return [self._fd] if self._fd >= 0 else []

    # ---- reading -----------------------------------------------------------------------

    def _read(self) -> list[Event]:
        if self._pending_gone is not None:
            gone, self._pending_gone = self._pending_gone, None
            raise gone
        if self._gone or self._protocol is None:
            return []
        events: list[Event] = []
        while True:
            try:
                report = self._sock.recv(4096) if self._sock is not None else os.read(self._fd, 4096)
            except (BlockingIOError, InterruptedError):
                return events
            except OSError as exc:
                if exc.errno not in _GONE_ERRNOS:
                    raise
                return self._went(events, exc.strerror or str(exc))
            if not report:
                return self._went(events, "connection closed")
            new = self._protocol.feed(report)
            for event in new:
                if type(event) is ProtocolError:
                    log.warning("%s: bad input report (%s), %d bytes kept", self.name, event.reason,
                                len(event.raw))
            events.extend(new)

    def _went(self, events: list[Event], why: str) -> list[Event]:
        """Raise DeviceGone exactly once; events read before it are returned first."""
        self._gone = True
        log.info("%s: device gone: %s", self.name, why)
        gone = DeviceGone(f"{self.name}: {self.target} went away ({why})")
        if events:
            self._pending_gone = gone                        # the next read_events() raises it
            return events
        raise gone

    # ---- writing -----------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        self._send(data)

    def _send(self, report: bytes) -> None:
        try:
            if self._sock is not None:
                self._sock.send(report)
            else:
                os.write(self._fd, report)
        except OSError as exc:
            self._gone = True
            raise DeviceGone(f"{self.name}: write to {self.target} failed ({exc})") from exc
        self.reports_out += 1

    def set_state(self, ring: bool, off_hook: bool, mute: bool, hold: bool = False) -> list[bytes]:
        """Show this call state on the headset; writes only reports that changed. Returns them."""
        self.host = HostState(bool(ring), bool(off_hook), bool(mute), bool(hold))
        if not self.is_open or self._protocol is None or self._gone:
            return []                                       # written in full on the next open
        reports = self._protocol.set_state(**self._host_kwargs())
        for report in reports:
            self._send(report)
        return reports

    def _host_kwargs(self) -> dict[str, bool]:
        h = self.host
        return {"ring": h.ring, "off_hook": h.off_hook, "mute": h.mute, "hold": h.hold}

    # ---- self-tests ----------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        live = self._protocol.counters if self._protocol is not None else {}
        return {key: value + live.get(key, 0) for key, value in self._totals.items()}

    def status(self) -> dict[str, Any]:
        caps = self.capabilities
        return {**super().status(), "gone": self._gone, "reports_out": self.reports_out,
                **self.counters(), "host": self._host_kwargs(),
                "capabilities": caps.summary() if caps is not None else None}

    def identify(self, timeout: float = 2.0) -> dict[str, Any]:
        """Descriptor, controls (or why refused), and an LED round trip (Ring on, then back)."""
        info: dict[str, Any] = {"kind": self.kind, "name": self.name, "target": self.target,
                                "call_control": False, "reason": "", "led_round_trip": None}
        opened_here = not self.is_open
        try:
            if opened_here:
                self.open()
        except (DescriptorError, DeviceNotFound) as exc:
            info["reason"] = str(exc)
            return info
        try:
            caps = self.capabilities
            info.update(call_control=True, capabilities=caps.summary())
            if caps.output("ring") or caps.output("ringer"):
                saved = self._host_kwargs()
                try:
                    self.set_state(**{**saved, "ring": True})
                    self.set_state(**saved)
                    info["led_round_trip"] = "ok"
                except DeviceGone as exc:
                    info["led_round_trip"] = f"failed: {exc}"
        finally:
            if opened_here:
                self.close()
        return info

    @classmethod
    def detect(cls, sysfs_root: str = "/sys/class/hidraw", dev_root: str = "/dev") -> list[str]:
        """hidraw nodes whose report descriptor (read from sysfs) has a telephony collection."""
        found = []
        for node in sorted(glob.glob(os.path.join(sysfs_root, "hidraw*"))):
            try:
                with open(os.path.join(node, "device", "report_descriptor"), "rb") as f:
                    desc = parse_descriptor(f.read())
            except (OSError, DescriptorError):
                continue
            if any(c.kind == "application" and c.usage_page == TELEPHONY for c in desc.collections):
                found.append(os.path.join(dev_root, os.path.basename(node)))
        return found
