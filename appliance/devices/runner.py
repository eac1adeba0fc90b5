"""Put the synchronous firmware_bridge drivers on the asyncio loop: read, reconnect, report up/down."""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Callable, Protocol

from firmware_bridge.exceptions import DeviceError, DeviceGone

EventSink = Callable[[str, list], None]   # (device name, events)


class SerialDriver(Protocol):
    def open(self) -> None: ...
    def close(self) -> None: ...
    def fileno(self) -> int: ...
    def read_events(self) -> list: ...
    def status(self) -> dict: ...


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
    reconnects: int = 0
    last_error: str = ""

    def as_dict(self, now: float) -> dict:
        return {
            "name": self.name, "kind": self.kind, "target": self.target,
            "state": "UP" if self.up else "DOWN",
            "for_s": round(now - self.since, 1),
            "last_event_age_s": None if self.last_event_at is None else round(now - self.last_event_at, 1),
            "events": self.events, "errors": self.errors, "reconnects": self.reconnects,
            "last_error": self.last_error,
        }


class Backoff:
    """Reconnect delay that doubles from `delay` up to `delay_max`; reset after a good open."""

    def __init__(self, delay: float, delay_max: float):
        self.base, self.cap = delay, delay_max
        self.current = delay

    def next(self) -> float:
        value = self.current
        self.current = min(self.current * 2, self.cap)
        return value

    def reset(self) -> None:
        self.current = self.base


class SerialDeviceRunner:
    """Owns one serial driver on the loop: add_reader, DeviceGone -> DOWN -> reopen with backoff."""

    def __init__(self, name: str, kind: str, target: str, make_driver: Callable[[], SerialDriver],
                 sink: EventSink, backoff: Backoff, *, on_down: Callable[[str], None] | None = None):
        self.state = DeviceState(name, kind, target, since=time.monotonic())
        self._make_driver = make_driver
        self._sink = sink
        self._backoff = backoff
        self._on_down = on_down
        self._driver: SerialDriver | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._closed = False
        self._paused = False
        self.log = logging.getLogger(f"appliance.device.{name}")

    @property
    def driver(self) -> SerialDriver | None:
        return self._driver

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._try_open()

    def _try_open(self) -> None:
        self._retry = None
        if self._closed:
            return
        driver = self._make_driver()
        try:
            driver.open()
        except DeviceError as exc:
            driver.close()
            self._went_down(str(exc), opening=True)
            return
        self._driver = driver
        if not self._paused:
            self._loop.add_reader(driver.fileno(), self._readable)
        self._backoff.reset()
        self.state.up = True
        self.state.since = time.monotonic()
        self.state.last_error = ""
        self.log.info("%s: UP on %s", self.state.name, self.state.target)

    def _readable(self) -> None:
        driver = self._driver
        if driver is None:
            return
        try:
            events = driver.read_events()
        except DeviceGone as exc:
            self._drop_driver()
            self._went_down(str(exc))
            return
        except Exception as exc:  # a driver bug must not kill the daemon
            self.log.exception("%s: driver failed, reopening: %s", self.state.name, exc)
            self._drop_driver()
            self._went_down(f"driver error: {exc}")
            return
        if events:
            self.state.events += len(events)
            self.state.last_event_at = time.monotonic()
            self._sink(self.state.name, events)

    def pause(self) -> None:
        """Stop reading (backpressure while the store catches up); the port buffers meanwhile."""
        if self._driver is not None and not self._paused:
            self._loop.remove_reader(self._driver.fileno())
        self._paused = True

    def resume(self) -> None:
        if self._driver is not None and self._paused:
            self._loop.add_reader(self._driver.fileno(), self._readable)
        self._paused = False

    def poll(self, now: float) -> None:
        """Called about once a second: command deadlines for drivers that have them."""
        driver = self._driver
        poll = getattr(driver, "poll", None)
        if poll is None:
            return
        try:
            events = poll(now)
        except DeviceGone as exc:
            self._drop_driver()
            self._went_down(str(exc))
            return
        if events:
            self._sink(self.state.name, list(events))

    def _drop_driver(self) -> None:
        driver, self._driver = self._driver, None
        if driver is not None:
            try:
                self._loop.remove_reader(driver.fileno())
            except (ValueError, OSError):
                pass
            driver.close()

    def _went_down(self, reason: str, *, opening: bool = False) -> None:
        delay = self._backoff.next()
        was_up = self.state.up
        if was_up or not self.state.last_error or self.state.last_error != reason:
            self.log.warning("%s: DOWN (%s); retrying in %.1fs", self.state.name, reason, delay)
        if was_up:
            self.state.since = time.monotonic()
            if self._on_down:
                self._on_down(self.state.name)
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
            self._drop_driver()
        self.state.up = False


class TcpFeedRunner:
    """A TCP listener for PBXs that push records (Avaya IP Office): one codec per connection."""

    def __init__(self, name: str, kind: str, listen: str, make_codec: Callable[[], object], sink: EventSink):
        host, _, port = listen.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.state = DeviceState(name, kind, listen, since=time.monotonic())
        self._make_codec = make_codec
        self._sink = sink
        self._server: asyncio.base_events.Server | None = None
        self._conns: dict[asyncio.Task, asyncio.StreamWriter] = {}
        self.peers: list[str] = []
        self._reading = asyncio.Event()
        self._reading.set()
        self.log = logging.getLogger(f"appliance.device.{name}")

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        self.state.up = True
        self.state.last_error = ""
        self.state.since = time.monotonic()
        bound = self._server.sockets[0].getsockname()
        self.port = bound[1]
        self.log.info("%s: listening on %s:%d", self.state.name, self.host, self.port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = "%s:%s" % writer.get_extra_info("peername")[:2]
        self.peers.append(peer)
        task = asyncio.current_task()
        self._conns[task] = writer
        self.log.info("%s: PBX connected from %s", self.state.name, peer)
        codec = self._make_codec()
        try:
            while True:
                await self._reading.wait()   # cleared while the store catches up (backpressure)
                data = await reader.read(65536)
                if not data:
                    break
                events = codec.feed(data)
                if events:
                    self.state.events += len(events)
                    self.state.last_event_at = time.monotonic()
                    self._sink(self.state.name, events)
        except (ConnectionError, OSError) as exc:
            self.log.warning("%s: connection from %s lost: %s", self.state.name, peer, exc)
        finally:
            tail = codec.flush()   # a record cut short by the disconnect: kept as rejected raw
            if tail:
                self._sink(self.state.name, tail)
            self.peers.remove(peer)
            self._conns.pop(task, None)
            writer.close()
            self.log.info("%s: PBX %s disconnected", self.state.name, peer)

    def pause(self) -> None:
        """Stop reading from every PBX connection (backpressure); TCP flow control holds the rest."""
        self._reading.clear()

    def resume(self) -> None:
        self._reading.set()

    def status(self) -> dict:
        return {"listening": self.state.up, "port": self.port, "connections": list(self.peers)}

    async def close(self) -> None:
        self._reading.set()   # let paused handlers see their connection close
        if self._server is not None:
            self._server.close()
            for writer in list(self._conns.values()):
                writer.close()           # the reader sees EOF and the handler finishes cleanly
            await asyncio.gather(*self._conns, return_exceptions=True)
            await self._server.wait_closed()
        self.state.up = False
