"""Put one firmware_bridge driver on the event loop: read when readable, reconnect with back-off, UP/DOWN, kept descriptors."""
from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from typing import Callable

from firmware_bridge.base import Driver
from firmware_bridge.exceptions import DeviceError, DeviceGone

from appliance.common.backoff import Backoff

EventSink = Callable[[str, list, object], None]   # (device name, events, the driver's mark or None)
KeptChange = Callable[[str, dict, list], None]     # (device name, {local name: fd} opened, [local name] closed)


@dataclass
class DeviceState:
    name: str
    kind: str
    target: str                  # port path or listen address, for the technician
    up: bool = False
    since: float = 0.0           # monotonic time of the last up/down change
    last_event_at: float | None = None
    events: int = 0
    errors: int = 0
    reconnects: int = 0          # times it was lost after being UP
    open_attempts: int = 0       # opens tried (a missing device is retried with back-off)
    last_error: str = ""

    def as_dict(self, now: float) -> dict:
        return {
            "name": self.name, "kind": self.kind, "target": self.target,
            "state": "UP" if self.up else "DOWN",
            "for_s": round(now - self.since, 1),
            "last_event_age_s": None if self.last_event_at is None else round(now - self.last_event_at, 1),
            "events": self.events, "errors": self.errors, "reconnects": self.reconnects,
            "open_attempts": self.open_attempts,
            "last_error": self.last_error,
        }


class DeviceRunner:
    """Owns one driver on the loop: a reader per descriptor, DeviceGone -> DOWN -> reopen with back-off.

    The same driver object is reopened after each loss (it keeps its counters and what it learnt,
    such as a SIM PIN the SIM refused). `pause()` stops reading (the device's buffer, or TCP flow
    control, holds what arrives meanwhile); `resume()` reads again.
    """

    def __init__(self, kind: str, driver: Driver, sink: EventSink, backoff: Backoff, *,
                 on_up: Callable[[str], None] | None = None,
                 on_down: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.driver = driver
        self.state = DeviceState(driver.name, kind, driver.target, since=clock())
        self._sink = sink
        self._backoff = backoff
        self._on_up, self._on_down = on_up, on_down
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._readers: set[int] = set()
        self._closed = False
        self._paused = False
        self._on_kept: KeptChange | None = None
        self._kept: dict[str, tuple[int, int, int]] = {}   # local name -> (fd, st_dev, st_ino) last reported
        self.log = logging.getLogger(f"appliance.device.{driver.name}")

    @property
    def name(self) -> str:
        return self.driver.name

    def keep_descriptors(self, adopted: dict[str, int], on_change: KeptChange) -> None:
        """Before start(): hand the driver the descriptors kept for it across a restart, and report
        every descriptor it opens or closes from now on to `on_change` (the fd store follows).
        Closing at shutdown is not reported: what is kept then survives a restart too."""
        self.driver.adopt(adopted)
        self._kept = {name: _identity(fd) for name, fd in adopted.items()}
        self._on_kept = on_change

    def _sync_kept(self) -> None:
        if self._on_kept is None:
            return
        now = {name: _identity(fd) for name, fd in self.driver.descriptors().items()}
        added = {name: ident[0] for name, ident in now.items() if self._kept.get(name) != ident}
        removed = [name for name, ident in self._kept.items() if now.get(name) != ident]
        self._kept = now
        if added or removed:
            self._on_kept(self.name, added, removed)

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._try_open()

    def _try_open(self) -> None:
        self._retry = None
        if self._closed:
            return
        self.state.open_attempts += 1
        try:
            self.driver.open()
        except DeviceError as exc:
            self.driver.close()
            self._sync_kept()
            self._went_down(str(exc), opening=True)
            return
        except OSError as exc:
            self.driver.close()
            self._sync_kept()
            self._went_down(f"cannot open: {exc}", opening=True)
            return
        self._sync_kept()
        self._backoff.reset()
        self.state.up = True
        self.state.since = self._clock()
        self.state.last_error = ""
        self._sync_readers()
        self.log.info("%s: UP on %s", self.name, self.state.target)
        if self._on_up:
            self._on_up(self.name)

    def _sync_readers(self) -> None:
        """Watch exactly the driver's descriptors now (a listener's connections come and go)."""
        wanted = set() if self._paused or not self.driver.is_open else set(self.driver.filenos())
        for fd in self._readers - wanted:
            self._loop.remove_reader(fd)
        for fd in wanted - self._readers:
            self._loop.add_reader(fd, self._readable)
        self._readers = wanted

    def _readable(self) -> None:
        self._deliver(self.driver.read_events)

    def poll(self, now: float) -> None:
        """About once a second: the driver's deadlines and periodic requests."""
        if self.driver.is_open:
            self._deliver(lambda: self.driver.poll(now))

    def _deliver(self, read: Callable[[], list]) -> None:
        if not self.driver.is_open:
            return
        try:
            events = read()
        except DeviceGone as exc:
            self._drop()
            self._sync_kept()
            self._went_down(str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a driver bug must not kill the daemon
            self.log.exception("%s: driver failed, reopening: %s", self.name, exc)
            self._drop()
            self._sync_kept()
            self._went_down(f"driver error: {exc}")
            return
        mark = self.driver.mark()
        if events:
            self.state.events += len(events)
            self.state.last_event_at = self._clock()
        self._sync_kept()                         # before the sink: a new connection is kept at once
        if events or mark is not None:
            self._sink(self.name, events, mark)   # the sink releases the mark, in order
        self._sync_readers()

    def release(self, mark: object) -> None:
        """The records from the events handed over with `mark` are durable."""
        if mark is not None and self.driver.is_open:
            self.driver.release(mark)
            self._sync_readers()
            self._sync_kept()

    def pause(self) -> None:
        """Stop reading (backpressure while the store catches up)."""
        self._paused = True
        if self._loop is not None:
            self._sync_readers()

    def resume(self) -> None:
        self._paused = False
        if self._loop is not None:
            self._sync_readers()

    def _drop(self) -> None:
        for fd in self._readers:
            try:
                self._loop.remove_reader(fd)
            except (ValueError, OSError):
                pass
        self._readers = set()
        self.driver.close()

    def _went_down(self, reason: str, *, opening: bool = False) -> None:
        delay = self._backoff.next()
        was_up = self.state.up
        if was_up or self.state.last_error != reason:
            self.log.warning("%s: DOWN (%s); retrying in %.2fs", self.name, reason, delay)
        if was_up:
            self.state.since = self._clock()
            if self._on_down:
                self._on_down(self.name)
        self.state.up = False
        self.state.last_error = reason
        if not opening or was_up:
            self.state.reconnects += 1
        if not self._closed:
            self._retry = self._loop.call_later(delay, self._try_open)

    def close(self) -> None:
        self._closed = True
        if self._retry:
            self._retry.cancel()
        if self._loop is not None:
            self._drop()
        else:
            self.driver.close()
        self.state.up = False


def _identity(fd: int) -> tuple[int, int, int]:
    """A descriptor by number and by what it refers to: a number reused for a new socket is a change."""
    try:
        st = os.fstat(fd)
    except OSError:
        return (fd, -1, -1)
    return (fd, st.st_dev, st.st_ino)
