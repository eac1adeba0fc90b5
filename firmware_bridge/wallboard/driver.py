"""One serial port (RS-232, or an RS-485 line with several signs) carrying Alpha packets, one at a time.

    driver = WallboardDriver.from_settings(group)     # one WallboardSettings, or the entries of a port
    driver.open()
    driver.send("01", packet_bytes)                    # queued; written whole, in order
    events = driver.read_events()                      # on readability: SignAck, answers, errors
    driver.poll(now)                                   # ~10x a second in ack mode: ACK deadlines
    driver.identify(timeout)                           # self-test: F$ asked, table or "write-only"

Without `ack` packets are fire and forget, written back to back as they are sent. With `ack`
(Alpha 2.0) each packet waits for the sign's ACK/NAK before the next goes out; a NAK or a missing
ACK resends it up to `retries` times (not when the sign calls it illegal: resending cannot help),
then it is given up (`given_up(address)` counts them; an owner re-syncs the sign on an increase).
Reads (F$, H) wait for their answer the same way, since a response does not say which sign sent it.
Writes never raise: a failed write marks the device gone, and DeviceGone comes out of the next
read_events()/poll(), exactly once. The queue does not survive close(): after a replug the owner
rewrites everything anyway.
"""
from __future__ import annotations

import logging
import select
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import serial

from ..base import Driver
from ..events import Event, ProtocolError, SignAck, SignMemoryTable, SignString
from ..exceptions import DeviceGone
from ..serialport import close_serial, enable_rs485, open_serial, read_available, write_all
from .alpha import AlphaDecoder, ack_nak, is_read, packet, packet_address, read_memory_table
from .settings import WallboardSettings, group_by_port

log = logging.getLogger("firmware_bridge.wallboard")


@dataclass(eq=False)
class _Outgoing:
    address: str
    data: bytes
    read: bool
    tolerant: bool = False           # no answer is fine (the Es1 sent at open)
    attempts: int = 0
    deadline: float = 0.0
    acked: bool = False
    heard: bool = False              # the sign said anything about it (ACK, NAK or an answer)
    answer: Event | None = None
    done: bool = False


@dataclass
class _Sign:
    """What one address has told us."""
    acks: int = 0
    naks: int = 0
    timeouts: int = 0
    retries: int = 0
    given_up: int = 0
    last_status: int | None = None
    reasons: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()    # reasons of the last NAK (kept after later ACKs)
    answering: bool | None = None    # None until the first answer or missing answer (ack mode, reads)
    logged: set = field(default_factory=set)


class WallboardDriver(Driver):
    """Owns one port and every sign on it (by address); see the module docstring."""

    kind = "alpha"

    def __init__(self, name: str, port: str, *, addresses: Iterable[str] = ("00",),
                 type_code: str = "Z", baudrate: int = 9600, bytesize: int = 7, parity: str = "E",
                 stopbits: float = 1, ack: bool = False, ack_timeout_s: float = 1.0,
                 retries: int = 2, rs485: bool = False, clock: Callable[[], float] = time.monotonic):
        super().__init__(name, port)
        self.addresses = tuple(a.upper() for a in addresses)
        self.type_code = type_code
        self.line = {"baudrate": baudrate, "bytesize": bytesize, "parity": parity, "stopbits": stopbits}
        self.ack, self.ack_timeout_s, self.retries, self.rs485 = ack, ack_timeout_s, retries, rs485
        self._clock = clock
        self._char_s = (1 + bytesize + (parity != "N") + stopbits) / baudrate   # one byte's wire time
        self._port: serial.SerialBase | None = None
        self._decoder = AlphaDecoder()
        self._queue: deque[_Outgoing] = deque()
        self._inflight: _Outgoing | None = None
        self._wire_free_at = 0.0
        self._backlog: list[Event] = []
        self._gone: DeviceGone | None = None
        self._gone_reported = False
        self._signs: dict[str, _Sign] = {}
        self._last_address = self.addresses[0] if self.addresses else "00"
        self.rs485_state = "off"
        self.packets_written = self.bytes_written = self.dropped = self.errors = 0

    @classmethod
    def from_settings(cls, settings: WallboardSettings | Iterable[WallboardSettings], *,
                      clock: Callable[[], float] = time.monotonic) -> "WallboardDriver":
        """One entry, or all entries on one port (see settings.group_by_port)."""
        group = (settings,) if isinstance(settings, WallboardSettings) else tuple(settings)
        for entry in group:
            entry.validate()
        groups = group_by_port(group)
        if len(groups) != 1:
            raise ValueError("port: one driver serves exactly one port")
        first = group[0]
        return cls("+".join(e.name for e in group), first.port, addresses=[e.address for e in group],
                   type_code=first.type, baudrate=first.baudrate, bytesize=first.bytesize,
                   parity=first.parity, stopbits=first.stopbits, ack=first.ack,
                   ack_timeout_s=first.ack_timeout_s, retries=first.retries, rs485=first.rs485,
                   clock=clock)

    # ---- the host's side -------------------------------------------------------------------

    def send(self, address: str, data: bytes) -> None:
        """Queue one encoded packet for `address`; it goes out whole, after those queued before it."""
        self._require_open()
        if self._gone is not None:
            self.dropped += 1
            return
        self._queue.append(_Outgoing(address.upper(), bytes(data), is_read(data)))
        self._pump()

    @property
    def pending(self) -> int:
        """Packets queued or waiting for their answer."""
        return len(self._queue) + (self._inflight is not None)

    def given_up(self, address: str) -> int:
        """Packets for `address` that never got an ACK (or answer) after every retry."""
        return self._sign(address).given_up

    def drain(self, timeout: float) -> bool:
        """Block until every queued packet is out and answered (self-tests, tools); False on timeout."""
        self._require_open()
        deadline = time.monotonic() + timeout
        while self.pending and self._gone is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._wait_readable(min(left, 0.05))
        return self.pending == 0 and self._gone is None

    def identify(self, timeout: float = 2.0, address: str | None = None) -> dict[str, Any]:
        """Ask a sign for its memory table (F$). Opens and closes the port when not open."""
        address = (address or self._last_address).upper()
        opened_here = not self.is_open
        if opened_here:
            self.open()
        info: dict[str, Any] = {"kind": self.kind, "name": self.name, "port": self.target,
                                "address": address, "answered": False, "mode": "write-only",
                                "files": [], "status": []}
        try:
            self.drain(timeout)
            item = _Outgoing(address, packet(read_memory_table(), address=address,
                                             type_code=self.type_code), True)
            self._queue.append(item)
            self._pump()
            deadline = time.monotonic() + timeout
            while not item.done and time.monotonic() < deadline and self._gone is None:
                self._wait_readable(min(deadline - time.monotonic(), 0.05))
            if self._inflight is item:
                self._inflight = None
                self._pump()
            sign = self._sign(address)
            if isinstance(item.answer, SignMemoryTable):
                info["files"] = [{"label": f.label, "kind": f.kind, "size": f.size,
                                  "locked": f.locked} for f in item.answer.entries]
            if item.heard:
                info.update(answered=True, mode="two-way")
            info["status"] = list(sign.reasons)
            self._raise_gone()
        finally:
            if opened_here:
                self.close()
        return info

    def status(self) -> dict[str, Any]:
        out = super().status()
        out.update(addresses=list(self.addresses), ack=self.ack, line=self._line_text(),
                   rs485=self.rs485_state, queued=self.pending, gone=self._gone is not None,
                   packets_written=self.packets_written, bytes_written=self.bytes_written,
                   dropped=self.dropped, errors=self.errors,
                   signs={a: {"acks": s.acks, "naks": s.naks, "timeouts": s.timeouts,
                              "retries": s.retries, "given_up": s.given_up,
                              "last_status": s.last_status, "reasons": list(s.reasons), "refused": list(s.refused),
                              "answering": s.answering} for a, s in self._signs.items()})
        return out

    # ---- Driver hooks --------------------------------------------------------------------

    def _open_port(self) -> None:
        self._port = open_serial(self.target, **self.line)
        self._decoder = AlphaDecoder()
        self._queue.clear()
        self._inflight, self._backlog = None, []
        self._gone, self._gone_reported = None, False
        self._wire_free_at = 0.0
        self.rs485_state = enable_rs485(self._port, self.name, self.target) if self.rs485 else "off"
        log.info("%s: opened %s (%s, ack %s)", self.name, self.target, self._line_text(),
                 "on" if self.ack else "off")
        if self.ack:    # tell every sign to answer; a sign already answering just ACKs this too
            for address in self.addresses:
                self._queue.append(_Outgoing(address, packet(ack_nak(True), address=address,
                                                             type_code=self.type_code),
                                             False, tolerant=True))
            self._pump()

    def _close_port(self) -> None:
        port, self._port = self._port, None
        self._queue.clear()
        self._inflight = None
        if port is not None:
            close_serial(port)
            log.info("%s: closed %s", self.name, self.target)

    def _filenos(self) -> list[int]:
        return [self._port.fileno()] if self._port is not None else []

    def _read(self) -> list[Event]:
        events, self._backlog = self._backlog, []
        return events + self._receive()

    def _write(self, data: bytes) -> None:
        self.send(packet_address(data), data)

    def _poll(self, now: float) -> list[Event]:
        events, self._backlog = self._backlog, []
        self._raise_gone()
        events += self._handle(self._decoder.flush_garbage())
        item = self._inflight
        if item is not None and now >= item.deadline:
            events += self._handle(self._decoder.flush())    # a lone ACK whose status never came
            if self._inflight is item:
                self._missing_answer(item)
            self._pump()
        self._raise_gone()
        return events

    # ---- internals -------------------------------------------------------------------------

    def _sign(self, address: str) -> _Sign:
        return self._signs.setdefault(address.upper(), _Sign())

    def _line_text(self) -> str:
        """What the open port is really set to (the configured values while closed)."""
        line = self.line if self._port is None else {k: getattr(self._port, k) for k in self.line}
        return f"{line['baudrate']} {line['bytesize']}{line['parity']}{line['stopbits']:g}"

    def _wait_readable(self, timeout: float) -> None:
        fds = self._filenos()
        if fds and select.select(fds, [], [], max(timeout, 0))[0]:
            self._backlog += self._receive()
        self._backlog += self._poll(self._clock())

    def _receive(self) -> list[Event]:
        if self._gone is not None:
            self._raise_gone()
            return []
        try:
            data = read_available(self._port)
        except DeviceGone as exc:
            self._went(exc)
            events = self._handle(self._decoder.flush())
            if events:
                return events          # DeviceGone comes out of the next call
            self._raise_gone()
        events = self._handle(self._decoder.feed(data)) if data else []
        self._pump()
        return events

    def _went(self, exc: DeviceGone) -> None:
        if self._gone is None:
            log.warning("%s: device gone: %s", self.name, exc)
            self._gone = exc
            self._queue.clear()
            self._inflight = None

    def _raise_gone(self) -> None:
        if self._gone is not None and not self._gone_reported:
            self._gone_reported = True
            raise self._gone

    def _handle(self, events: list[Event]) -> list[Event]:
        item = self._inflight
        for event in events:
            if isinstance(event, SignAck):
                self._on_ack(event, item if item is not None and not item.done else None)
            elif isinstance(event, (SignMemoryTable, SignString)):
                if item is not None and item.read and not item.done:
                    item.answer, item.heard = event, True
                    self._answered(item.address)
                    if item.acked or not self.ack:
                        self._complete(item)
            elif isinstance(event, ProtocolError):
                self.errors += 1
                if self.errors == 1 or self.errors % 100 == 0:
                    log.warning("%s: unparseable input from the sign (%s), %d bytes kept; %d so far",
                                self.name, event.reason, len(event.raw), self.errors)
        return events

    def _on_ack(self, event: SignAck, item: _Outgoing | None) -> None:
        address = item.address if item is not None else self._last_address
        sign = self._sign(address)
        sign.last_status, sign.reasons = event.status, event.reasons
        self._answered(address)
        if item is not None:
            item.heard = True
        if event.ok:
            sign.acks += 1
        else:
            sign.naks += 1
            sign.refused = event.reasons
            if event.reasons not in sign.logged:
                sign.logged.add(event.reasons)
                log.warning("%s: sign %s refused a packet: %s", self.name, address,
                            ", ".join(event.reasons) or "no reason given")
        if item is None or not (self.ack or item.tolerant):
            return
        if event.ok:
            item.acked = True
            if not item.read or item.answer is not None:
                self._complete(item)
        elif item.tolerant or "illegal command or label" in event.reasons:
            self._give_up(item, quiet=item.tolerant)
        else:
            self._retry(item)

    def _missing_answer(self, item: _Outgoing) -> None:
        if item.answer is not None:             # the answer came, its ACK did not: good enough
            self._complete(item)
            return
        sign = self._sign(item.address)
        if item.tolerant:
            self._give_up(item, quiet=True)
            return
        sign.timeouts += 1
        self._retry(item)

    def _retry(self, item: _Outgoing) -> None:
        if item.attempts > self.retries:
            self._give_up(item)
            return
        self._sign(item.address).retries += 1
        self._inflight = None
        self._queue.appendleft(item)

    def _give_up(self, item: _Outgoing, quiet: bool = False) -> None:
        self._complete(item)
        if quiet:
            return
        sign = self._sign(item.address)
        sign.given_up += 1
        if not item.acked and sign.answering is not False:
            sign.answering = False
            log.warning("%s: sign %s did not answer after %d tries; further packets are retried "
                        "and counted, not logged", self.name, item.address, item.attempts)

    def _answered(self, address: str) -> None:
        sign = self._sign(address)
        if sign.answering is False:
            log.info("%s: sign %s answers again", self.name, address)
        sign.answering = True

    def _complete(self, item: _Outgoing) -> None:
        item.done = True
        if self._inflight is item:
            self._inflight = None

    def _pump(self) -> None:
        """Write what may go now: everything in fire-and-forget mode, up to the next read or ACK wait."""
        while self._inflight is None and self._queue and self._gone is None and self._port is not None:
            item = self._queue.popleft()
            now = self._clock()
            try:
                write_all(self._port, item.data)
            except DeviceGone as exc:
                self._went(exc)
                return
            item.attempts += 1
            self.packets_written += 1
            self.bytes_written += len(item.data)
            self._last_address = item.address
            self._wire_free_at = max(now, self._wire_free_at) + len(item.data) * self._char_s
            if self.ack or item.read:
                item.deadline = self._wire_free_at + self.ack_timeout_s
                self._inflight = item
            else:
                item.done = True
