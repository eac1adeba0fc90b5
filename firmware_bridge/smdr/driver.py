"""The Panasonic SMDR driver: one RS-232C port a KX-TDA/TDE/NS prints call records to."""
from __future__ import annotations

import logging
import os
import select
import time

from ..base import Driver, serial_candidates
from ..events import Event, ProtocolError
from ..exceptions import DeviceError, DeviceGone
from ..serialport import close_serial, kept_port, open_serial, read_available
from .panasonic import PanasonicCodec, PanasonicOptions

log = logging.getLogger("firmware_bridge.smdr")
_REPORTED = DeviceGone("already reported")     # marks a driver whose DeviceGone was raised


class PanasonicSerialDriver(Driver):
    """Owns one RS-232C port a Panasonic PBX prints SMDR to. Synchronous and non-blocking.

    After DeviceGone the owner calls close() (fileno() stays valid until then, so it can be
    removed from a selector) and open() again once the port is back. Counters survive a reopen;
    a partial line does not.
    """

    def __init__(self, name: str, url: str, baudrate: int = 9600, bytesize: int = 8,
                 parity: str = "N", stopbits: float = 1,
                 options: PanasonicOptions | None = None):
        super().__init__(name, url)
        self.url = url
        self._settings = {"baudrate": baudrate, "bytesize": bytesize, "parity": parity,
                          "stopbits": stopbits}
        self.options = options or PanasonicOptions()
        self._port = None
        self._codec = PanasonicCodec(self.options)
        self._gone: DeviceGone | None = None
        self.records = 0
        self.errors = 0
        self.last_record_at: float | None = None

    kind = "panasonic"

    @classmethod
    def from_settings(cls, settings) -> "PanasonicSerialDriver":
        return cls(settings.name, settings.port, baudrate=settings.baudrate, bytesize=settings.bytesize,
                   parity=settings.parity, stopbits=settings.stopbits,
                   options=settings.panasonic_options())

    @classmethod
    def detect(cls) -> list[str]:
        return serial_candidates("/dev/ttyUSB*", "/dev/ttyACM*")

    # ---- lifetime ------------------------------------------------------------------------

    def _open_port(self) -> None:
        """Open the port (or take over the one kept across a restart, with what it buffered meanwhile)."""
        kept = self._adopt.pop("port", None)
        self._port = open_serial(self.url, **self._settings, fd=kept)
        self._codec = PanasonicCodec(self.options)    # nothing from a previous session carries over
        self._gone = None
        log.info("%s: %s %s", self.name, "took over the port kept across the restart:" if kept is not None
                 else "opened", self.url)

    def _close_port(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            close_serial(port)
            log.info("%s: closed %s", self.name, self.url)

    def _filenos(self) -> list[int]:
        """The port's fd for select/add_reader; stays valid after DeviceGone until close()."""
        return [self._port.fileno()] if self._port is not None else []

    def _descriptors(self) -> dict[str, int]:
        return kept_port(self._port)

    # ---- reading -------------------------------------------------------------------------

    def _read(self) -> list[Event]:
        """Events from whatever the port has waiting; [] if nothing.

        When the device goes away, a half-received line first comes out as a ProtocolError, then
        DeviceGone is raised exactly once; later calls return [] until the owner calls close().
        """
        if self._gone is not None:
            gone, self._gone = self._gone, _REPORTED
            if gone is _REPORTED:
                return []
            raise gone
        # Poll first: with pyserial's VMIN=0 an empty read means "gone" only on a readable port.
        if not select.select([self._port.fileno()], [], [], 0)[0]:
            return []
        try:
            data = read_available(self._port)
        except DeviceGone as exc:
            log.info("%s: device gone: %s", self.name, exc)
            events = self._account(self._codec.flush())
            if events:
                self._gone = exc
                return events
            self._gone = _REPORTED
            raise
        return self._account(self._codec.feed(data)) if data else []

    def _account(self, events: list[Event]) -> list[Event]:
        for event in events:
            if type(event) is ProtocolError:
                self.errors += 1
            else:
                self.records += 1
                self.last_record_at = time.monotonic()
        return events

    # ---- self-tests ----------------------------------------------------------------------

    def status(self) -> dict:
        return {**super().status(), "url": self.url,
                "gone": self._gone is not None, "records": self.records,
                "errors": self.errors, "last_record_at": self.last_record_at,
                "line": self._line_settings(), "detected": dict(self._codec.detected)}

    def _line_settings(self) -> str:
        """What the open port is really set to, e.g. "9600 7E2" ("" when closed)."""
        port = self._port
        if port is None:
            return ""
        stop = f"{port.stopbits:g}"
        return f"{port.baudrate} {port.bytesize}{port.parity}{stop}"

    def identify(self) -> dict:
        """Is the port there and can we open it? Does not disturb an open driver."""
        is_path = "://" not in self.url
        info = {"name": self.name, "url": self.url,
                "present": os.path.exists(self.url) if is_path else None,
                "openable": self.is_open, "error": ""}
        if self.is_open:
            return info
        try:
            port = open_serial(self.url, **self._settings)
        except DeviceError as exc:
            info["error"] = str(exc)
        else:
            port.close()
            info["openable"] = True
        return info
