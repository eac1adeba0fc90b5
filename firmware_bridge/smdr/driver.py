"""Drivers for PBX SMDR outputs: a Panasonic serial port, and a small Avaya TCP listener."""
from __future__ import annotations

import logging
import os
import select
import socket
import time

from ..events import Event, ProtocolError
from ..exceptions import DeviceError, DeviceGone, DeviceNotFound
from ..serialport import close_serial, open_serial, read_available
from .avaya import AvayaCodec
from .panasonic import PanasonicCodec, PanasonicOptions

log = logging.getLogger("firmware_bridge.smdr")
_REPORTED = DeviceGone("already reported")     # marks a driver whose DeviceGone was raised


class _BurstLog:
    """Log the first bad line of a burst and, when a good record ends it, how many there were.

    Never logs the bytes themselves: they may hold phone numbers (ProtocolError.raw keeps them).
    """

    def __init__(self, name: str):
        self.name = name
        self.count = 0

    def note(self, events: list[Event]) -> None:
        for event in events:
            if type(event) is ProtocolError:
                if self.count == 0:
                    log.warning("%s: unparseable SMDR input (%s), %d bytes kept; further errors in "
                                "this burst are counted, not logged", self.name, event.reason,
                                len(event.raw))
                self.count += 1
            elif self.count:
                log.warning("%s: garbage burst ended after %d unparseable line(s)",
                            self.name, self.count)
                self.count = 0


class PanasonicSerialDriver:
    """Owns one RS-232C port a Panasonic PBX prints SMDR to. Synchronous and non-blocking.

    After DeviceGone the owner calls close() (fileno() stays valid until then, so it can be
    removed from a selector) and open() again once the port is back. Counters survive a reopen;
    a partial line does not.
    """

    def __init__(self, name: str, url: str, baudrate: int = 9600, bytesize: int = 8,
                 parity: str = "N", stopbits: float = 1,
                 options: PanasonicOptions | None = None):
        self.name = name
        self.url = url
        self._settings = {"baudrate": baudrate, "bytesize": bytesize, "parity": parity,
                          "stopbits": stopbits}
        self.options = options or PanasonicOptions()
        self._port = None
        self._codec = PanasonicCodec(self.options)
        self._gone: DeviceGone | None = None
        self._burst = _BurstLog(name)
        self.records = 0
        self.errors = 0
        self.last_record_at: float | None = None

    # ---- lifetime ------------------------------------------------------------------------

    def open(self) -> None:
        """Open the port (no-op when already open and healthy; reopens after DeviceGone)."""
        if self._port is not None and self._gone is None:
            return
        self.close()
        self._port = open_serial(self.url, **self._settings)
        self._codec = PanasonicCodec(self.options)    # nothing from a previous session carries over
        self._gone = None
        log.info("%s: opened %s", self.name, self.url)

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            close_serial(port)
            log.info("%s: closed %s", self.name, self.url)

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def __enter__(self) -> "PanasonicSerialDriver":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fileno(self) -> int:
        """The port's fd for select/add_reader; stays valid after DeviceGone until close()."""
        if self._port is None:
            raise ValueError(f"{self.name}: not open")     # like a closed file object
        return self._port.fileno()

    # ---- reading -------------------------------------------------------------------------

    def read_events(self) -> list[Event]:
        """Events from whatever the port has waiting; [] if nothing.

        When the device goes away, a half-received line first comes out as a ProtocolError, then
        DeviceGone is raised exactly once; later calls return [] until the owner calls close().
        """
        if self._port is None:
            raise DeviceError(f"{self.name}: not open")
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
        self._burst.note(events)
        return events

    # ---- self-tests ----------------------------------------------------------------------

    def status(self) -> dict:
        return {"name": self.name, "url": self.url, "open": self.is_open,
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


class AvayaTcpListener:
    """A small synchronous IP Office SMDR receiver for self-tests and the CLI.

    The daemon runs its own asyncio server and feeds AvayaCodec; this one is for tools that want
    records without an event loop: poll() accepts, reads and returns (peer, events) pairs.
    """

    def __init__(self, host: str = "0.0.0.0", port: int = 1150, *, name: str = "avaya"):
        self.name = name
        self.host = host
        self.port = port
        self._server: socket.socket | None = None
        self._conns: dict[socket.socket, tuple[str, AvayaCodec]] = {}
        self.records = 0
        self.errors = 0
        self.connections = 0

    def open(self) -> None:
        if self._server is not None:
            return
        server = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind((self.host, self.port))
            server.listen(8)
        except OSError as exc:
            server.close()
            raise DeviceNotFound(f"{self.name}: cannot listen on {self.host}:{self.port} ({exc})") from exc
        server.setblocking(False)
        self._server = server
        self.port = server.getsockname()[1]

    def close(self) -> None:
        for conn in list(self._conns):
            conn.close()
        self._conns.clear()
        if self._server is not None:
            self._server.close()
            self._server = None

    def __enter__(self) -> "AvayaTcpListener":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def filenos(self) -> list[int]:
        """The listening socket and every connection, for select()."""
        if self._server is None:
            return []
        return [self._server.fileno(), *(c.fileno() for c in self._conns)]

    def poll(self, timeout: float = 0.0) -> list[tuple[str, list[Event]]]:
        """Wait up to `timeout` for activity; return (peer, events) for each connection that spoke.

        A connection that closed gives its flushed rest (if any) and is dropped.
        """
        if self._server is None:
            raise DeviceError(f"{self.name}: not open")
        ready, _, _ = select.select([self._server, *self._conns], [], [], timeout)
        out: list[tuple[str, list[Event]]] = []
        for sock in ready:
            if sock is self._server:
                self._accept()
                continue
            peer, codec = self._conns[sock]
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            events = codec.feed(data) if data else codec.flush()
            if not data:
                del self._conns[sock]
                sock.close()
            if events:
                self.records += sum(type(e) is not ProtocolError for e in events)
                self.errors += sum(type(e) is ProtocolError for e in events)
                out.append((peer, events))
        return out

    def _accept(self) -> None:
        try:
            conn, addr = self._server.accept()
        except BlockingIOError:
            return
        conn.setblocking(False)
        self._conns[conn] = (f"{addr[0]}:{addr[1]}", AvayaCodec())
        self.connections += 1

    def status(self) -> dict:
        return {"name": self.name, "listening": self._server is not None, "host": self.host,
                "port": self.port, "peers": [peer for peer, _ in self._conns.values()],
                "connections": self.connections, "records": self.records, "errors": self.errors}
