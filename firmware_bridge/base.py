"""The driver contract every device kind fills: one port, typed events out, bytes in, self-test hooks.

A driver is synchronous and non-blocking so the daemon (one asyncio adapter), the self-tests and
the CLI can all use it without an event loop of their own. Its life:

    driver = SomeDriver(settings)          # nothing opened yet
    driver.open()                          # DeviceNotFound / DeviceBusy when it cannot
    for fd in driver.filenos(): ...        # wait for readability (select, add_reader)
    events = driver.read_events()          # [] when nothing complete has arrived; DeviceGone once
    events += driver.poll(now)             # about once a second: deadlines, periodic requests
    driver.close()                         # idempotent; after DeviceGone the owner closes, then reopens

Across a restart of the process (systemd's file-descriptor store): `descriptors()` names what is
worth keeping open, and `adopt(fds)` before `open()` hands the same descriptors to the next process.

Not open: `fileno()`, `read_events()`, `write()` and `poll()` raise `NotOpen` (a DeviceError), the
one behaviour every driver shares. `filenos()` is then empty and `is_open` False.
"""
from __future__ import annotations

import abc
import glob
import os
from typing import Any, ClassVar

from .events import Event
from .exceptions import NotOpen

# Never opened or scanned: the console on most gateways (and on the build machines).
CONSOLE_PORTS = frozenset({"/dev/ttyS0", "/dev/console", "/dev/tty0"})


class Driver(abc.ABC):
    """Owns one device on one port (or one listening socket and its connections).

    Subclasses fill the protected hooks `_open`, `_close`, `_filenos` and `_read`; `_write` and
    `_poll` where the device takes commands or has deadlines. The public methods here check the
    open state once, so every kind behaves the same when closed.
    """

    kind: ClassVar[str] = ""

    def __init__(self, name: str, target: str):
        self.name = name            # the device's name from the config: every log line carries it
        self.target = target        # port path, URL or listen address, for the technician
        self._open = False
        self._adopt: dict[str, int] = {}   # descriptors kept across a restart, for the next open()

    # ---- life --------------------------------------------------------------------------

    def open(self) -> None:
        """Open the port. Opening an open driver reopens it (re-initialises the device)."""
        if self._open:
            self.close()
        try:
            self._open_port()
        finally:
            for fd in self._adopt.values():      # kept descriptors the driver did not take
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._adopt = {}
        self._open = True

    def close(self) -> None:
        """Release the port. Safe to call at any time, any number of times."""
        was_open, self._open = self._open, False
        if was_open:
            self._close_port()

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def ready(self) -> bool:
        """Open and able to take commands (a modem whose init sequence finished). Default: open."""
        return self._open

    def __enter__(self):
        if not self._open:
            self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- the event loop's side ------------------------------------------------------------

    def fileno(self) -> int:
        """The descriptor to wait on (the first of `filenos()`)."""
        fds = self.filenos()
        if not fds:
            raise NotOpen(f"{self.name}: not open")
        return fds[0]

    def filenos(self) -> list[int]:
        """Every descriptor to wait on; may change after each read (a listener's connections)."""
        return self._filenos() if self._open else []

    def read_events(self) -> list[Event]:
        """What the device said since last time, parsed. Raises DeviceGone once when it goes away."""
        self._require_open()
        return self._read()

    def write(self, data: bytes) -> None:
        """Send bytes to the device as one contiguous block. Raises DeviceGone on failure."""
        self._require_open()
        self._write(data)

    def poll(self, now: float) -> list[Event]:
        """Time-driven work (command deadlines, periodic requests); `now` is monotonic seconds."""
        self._require_open()
        return self._poll(now)

    def _require_open(self) -> None:
        if not self._open:
            raise NotOpen(f"{self.name}: not open")

    # ---- durability ------------------------------------------------------------------------

    def mark(self) -> object | None:
        """How far the events returned so far reach in the device's own buffer (None: nothing kept).

        A driver that can leave unprocessed bytes with the device (a TCP socket read by peeking)
        returns a mark; its owner passes it to `release()` once the records made from those
        events are durable, in the order the marks were made.
        """
        return None

    def release(self, mark: object) -> None:
        """Everything up to `mark` is durable: the driver may drop it from the device's buffer."""

    # ---- restarts ----------------------------------------------------------------------------

    def descriptors(self) -> dict[str, int]:
        """Open descriptors worth keeping across a restart of the process, by names stable for as
        long as each stays open (a listening socket, each connection, a serial port); {} when closed.

        Kept open by a supervisor (systemd's file-descriptor store) while the process is down, a
        socket or tty goes on buffering what the device sends, and holds what was not yet consumed.
        """
        return self._descriptors() if self._open else {}

    def adopt(self, fds: dict[str, int]) -> None:
        """Descriptors an earlier process kept, by the names `descriptors()` gave them: the next
        `open()` takes them over instead of opening afresh. The driver owns them from now on; those
        it does not take are closed when that `open()` ends."""
        self._adopt = dict(fds)

    # ---- self-tests ----------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """Plain values for status pages and metrics."""
        return {"name": self.name, "kind": self.kind, "target": self.target, "open": self._open}

    def identify(self, timeout: float = 2.0) -> dict[str, Any]:
        """Who is on the port, asked over its own protocol (self-tests). Default: nothing to ask."""
        return {"kind": self.kind}

    @classmethod
    def detect(cls) -> list[str]:
        """Candidate ports where a device of this kind could be (never the console)."""
        return []

    # ---- hooks ---------------------------------------------------------------------------

    @abc.abstractmethod
    def _open_port(self) -> None: ...

    @abc.abstractmethod
    def _close_port(self) -> None: ...

    @abc.abstractmethod
    def _filenos(self) -> list[int]: ...

    @abc.abstractmethod
    def _read(self) -> list[Event]: ...

    def _write(self, data: bytes) -> None:
        raise NotImplementedError(f"{type(self).__name__} takes no input")

    def _poll(self, now: float) -> list[Event]:
        return []

    def _descriptors(self) -> dict[str, int]:
        return {}


def serial_candidates(*patterns: str) -> list[str]:
    """Serial ports matching the globs, stable names first, never the console."""
    found: list[str] = []
    for pattern in ("/dev/serial/by-id/*", *patterns):
        for path in sorted(glob.glob(pattern)):
            real = os.path.realpath(path)
            if path in CONSOLE_PORTS or real in CONSOLE_PORTS or os.path.basename(real).startswith("ttyS"):
                continue
            if path not in found:
                found.append(path)
    return found
