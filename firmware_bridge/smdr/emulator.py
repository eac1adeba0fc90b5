"""The PBX side of the SMDR wire: an IP Office TCP client and a Panasonic printer port, with faults."""
from __future__ import annotations

import random
import select
import socket
import threading
from collections import deque
from dataclasses import dataclass
from typing import Iterable

from ..events import AvayaSmdrRecord, PanasonicSmdrRecord
from ..pty import EmulatedPort
from .avaya import encode_record as encode_avaya
from .panasonic import PanasonicOptions, encode_page_header
from .panasonic import encode_record as encode_panasonic


@dataclass(frozen=True, slots=True)
class _Item:
    data: bytes                 # exactly what goes on the wire
    line: bytes | None = None   # the record line (no CR LF) when this is a record, else None


class AvayaEmulator:
    """Behaves like IP Office's SMDR output: a TCP client that pushes CSV records to the appliance.

    Records are kept until written (up to `buffer_limit`, oldest dropped first, like IP Office's
    3,000-record buffer); a dropped connection is retried with a doubling delay and the backlog is
    sent after reconnecting. `resend_on_reconnect=N` first re-sends the last N records written
    before the drop: the PBX cannot know whether they arrived, so the appliance must de-duplicate.

    Faults: send_raw() (garbage), send_truncated() (a record cut short), drop_connection(), and
    `max_chunk`/`chunk_delay` to split writes at random byte boundaries with pauses (slow bytes).
    `sent` lists every record line written, re-sends included, in write order.
    """

    def __init__(self, host: str, port: int, *, resend_on_reconnect: int = 0,
                 leading_nuls: int = 0, buffer_limit: int = 3000, reconnect_delay: float = 0.05,
                 reconnect_delay_max: float = 2.0, max_chunk: int | None = None,
                 chunk_delay: float = 0.0, seed: int = 0, name: str = "avaya-emulator"):
        self.host, self.port, self.name = host, port, name
        self.resend_on_reconnect = resend_on_reconnect
        self.leading_nuls = leading_nuls
        self.buffer_limit = buffer_limit
        self.reconnect_delay, self.reconnect_delay_max = reconnect_delay, reconnect_delay_max
        self.max_chunk, self.chunk_delay = max_chunk, chunk_delay
        self._rng = random.Random(seed)
        self._queue: deque[_Item] = deque()
        self._inflight: _Item | None = None
        self._recent: deque[_Item] = deque(maxlen=max(resend_on_reconnect, 1))
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._drop = False
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._thread: threading.Thread | None = None
        self.sent: list[bytes] = []
        self.connections = 0
        self.connected = False
        self.failed_connects = 0
        self.dropped = 0            # records discarded because the buffer was full
        self.bytes_written = 0

    # ---- control -------------------------------------------------------------------------

    def start(self) -> "AvayaEmulator":
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the sender thread and close the connection; unsent records stay queued."""
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise RuntimeError(f"{self.name}: sender thread did not stop")
            self._thread = None

    def close(self) -> None:
        self.stop()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> "AvayaEmulator":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- what to send --------------------------------------------------------------------

    def send(self, records: Iterable[AvayaSmdrRecord]) -> None:
        """Queue records (each encoded as IP Office would)."""
        self._enqueue([_Item(line, line[:-2]) for line in map(encode_avaya, records)])

    def send_lines(self, lines: Iterable[bytes]) -> None:
        """Queue ready-made record lines (CR LF added when missing)."""
        items = []
        for line in lines:
            body = line.rstrip(b"\r\n")
            items.append(_Item(body + b"\r\n", body))
        self._enqueue(items)

    def send_raw(self, data: bytes) -> None:
        """Fault: queue bytes that are written as they are (garbage, NULs); not listed in `sent`."""
        self._enqueue([_Item(data)])

    def send_truncated(self, record: AvayaSmdrRecord, keep: int, *, terminate: bool = True) -> None:
        """Fault: only the first `keep` bytes of a record, then CR LF unless terminate=False
        (then the next record is glued onto it, as when a PBX loses bytes mid-line)."""
        self.send_raw(encode_avaya(record)[:keep] + (b"\r\n" if terminate else b""))

    def drop_connection(self) -> None:
        """Fault: close the current connection after the write in progress; reconnect follows."""
        with self._cond:
            self._drop = True
        self._wake()

    # ---- waiting -------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue) + (self._inflight is not None)

    def wait_sent(self, timeout: float) -> bool:
        """True once everything queued so far has been written to a connection."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and self._inflight is None, timeout)

    def wait_connections(self, count: int, timeout: float) -> bool:
        """True once the emulator has connected `count` times in all."""
        with self._cond:
            return self._cond.wait_for(lambda: self.connections >= count, timeout)

    # ---- the sender thread ---------------------------------------------------------------

    def _enqueue(self, items: list[_Item]) -> None:
        with self._cond:
            for item in items:
                if len(self._queue) >= self.buffer_limit:
                    self._queue.popleft()
                    self.dropped += 1
                self._queue.append(item)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):
            pass            # already woken, or closed

    def _run(self) -> None:
        delay = self.reconnect_delay
        while not self._stop.is_set():
            try:
                sock = socket.create_connection((self.host, self.port), timeout=2.0)
            except OSError:
                self.failed_connects += 1
                self._stop.wait(delay)
                delay = min(delay * 2, self.reconnect_delay_max)
                continue
            delay = self.reconnect_delay
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._cond:
                if self.connections and self.resend_on_reconnect:
                    self._queue.extendleft(reversed(self._recent))
                self.connections += 1
                self.connected = True
                self._drop = False
                self._cond.notify_all()
            try:
                if self.leading_nuls:
                    self._write(sock, b"\x00" * self.leading_nuls)
                self._serve(sock)
            except (_Disconnected, OSError):
                pass
            finally:
                with self._cond:
                    if self._inflight is not None:           # not known to be written: keep it
                        self._queue.appendleft(self._inflight)
                        self._inflight = None
                    self.connected = False
                sock.close()

    def _serve(self, sock: socket.socket) -> None:
        while not self._stop.is_set():
            with self._cond:
                if self._drop:
                    return
                item = self._queue.popleft() if self._queue else None
                self._inflight = item
            if item is None:
                self._idle(sock)
                continue
            self._write(sock, item.data)
            with self._cond:
                self._inflight = None
                if item.line is not None:
                    self.sent.append(item.line)
                    if self.resend_on_reconnect:
                        self._recent.append(item)
                self._cond.notify_all()

    def _idle(self, sock: socket.socket) -> None:
        readable, _, _ = select.select([sock, self._wake_r], [], [])
        if self._wake_r in readable:
            self._drain_wake()
        if sock in readable:
            self._check_peer(sock)

    def _write(self, sock: socket.socket, data: bytes) -> None:
        view = memoryview(data)
        while view:
            size = len(view) if not self.max_chunk else self._rng.randint(1, self.max_chunk)
            chunk = view[:size]
            while chunk:
                readable, writable, _ = select.select([sock, self._wake_r], [sock], [])
                if self._stop.is_set():
                    raise _Disconnected()
                if self._wake_r in readable:
                    self._drain_wake()
                if sock in readable:
                    self._check_peer(sock)
                if sock in writable:
                    try:
                        n = sock.send(chunk)
                    except BlockingIOError:
                        continue
                    self.bytes_written += n
                    chunk, view = chunk[n:], view[n:]
            if view and self.chunk_delay and self._stop.wait(self.chunk_delay):
                raise _Disconnected()

    def _check_peer(self, sock: socket.socket) -> None:
        """The appliance sends nothing; readable means it closed (or said something we ignore)."""
        try:
            if not sock.recv(4096):
                raise _Disconnected()
        except BlockingIOError:
            pass

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except BlockingIOError:
            pass


class _Disconnected(Exception):
    """The connection ended (peer closed, drop requested, or stopping)."""


class PanasonicEmulator:
    """A Panasonic PBX printing SMDR to an EmulatedPort (pty): records, page furniture, faults.

    With `page_length` set, a form feed and the column header start every page, as a printer
    port configured with programs [802]/[803] does. Writes are synchronous.
    """

    def __init__(self, port: EmulatedPort, options: PanasonicOptions | None = None, *,
                 page_length: int = 0, newline: bytes = b"\r\n"):
        self.port = port
        self.options = options or PanasonicOptions()
        self.page_length = page_length
        self.newline = newline
        self._on_page = 0
        self.written: list[bytes] = []          # record lines written (no newline)

    def write_records(self, records: Iterable[PanasonicSmdrRecord]) -> None:
        for record in records:
            self.write_record(record)

    def write_record(self, record: PanasonicSmdrRecord) -> None:
        line = encode_panasonic(record, self.options)[:-2]
        if self.page_length and self._on_page % self.page_length == 0:
            self.write_header()
        self._write(line + self.newline)
        self._on_page += 1
        self.written.append(line)

    def write_header(self) -> None:
        """Form feed + column titles + rule (the page header a parser must skip)."""
        self._write(encode_page_header(self.options).replace(b"\r\n", self.newline))

    def write_separator(self) -> None:
        self._write(b"-" * 79 + self.newline)

    def write_blank(self, count: int = 1) -> None:
        self._write(self.newline * count)

    def write_stars(self) -> None:
        """A line of '*', printed when the PBX clock was changed several times."""
        self._write(b"*" * 40 + self.newline)

    def write_garbage(self, data: bytes = b"\x15\xfe#@!GARBAGE-LINE%%") -> None:
        """Fault: a line of noise (line noise, a wrong baud rate)."""
        self._write(data + self.newline)

    def write_raw(self, data: bytes, *, chunk: int = 0, pause: float = 0.0) -> None:
        """Write bytes as they are; with `chunk`, in pieces of that size `pause` seconds apart."""
        if not chunk:
            self._write(data)
            return
        gap = threading.Event()
        for start in range(0, len(data), chunk):
            self._write(data[start:start + chunk])
            if pause:
                gap.wait(pause)

    def unplug(self) -> None:
        self.port.unplug()

    def replug(self) -> None:
        self.port.replug()
        self._on_page = 0

    def _write(self, data: bytes) -> None:
        self.port.write(data)
