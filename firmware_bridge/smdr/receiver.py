"""The one Avaya IP Office SMDR receiver: a TCP listener whose connections are read by peeking.

IP Office is the TCP client: it connects to the appliance and pushes CSV records. The receiver
parses what the kernel holds with MSG_PEEK and takes bytes out of the socket only when the owner
says the records made from them are durable (`release(mark)`): until then a crash leaves them in
the kernel's receive buffer, and a supervisor that keeps the descriptors across the restart
(systemd's file-descriptor store) hands them back with those bytes still unread.
"""
from __future__ import annotations

import fcntl
import ipaddress
import logging
import os
import select
import socket
import struct
import termios
from dataclasses import dataclass, field

from ..base import Driver
from ..events import Event, ProtocolError
from ..exceptions import DeviceGone, DeviceNotFound
from ..settings import split_hostport
from .avaya import AvayaCodec

log = logging.getLogger("firmware_bridge.smdr")

READ_CHUNK = 65536
RCVBUF = 1 << 20          # room for records read but not yet durable (the kernel may cap it)


@dataclass(slots=True)
class _Conn:
    sock: socket.socket
    peer: str
    codec: AvayaCodec = field(default_factory=AvayaCodec)
    taken: int = 0         # bytes removed from the kernel (durable)
    parsed: int = 0        # bytes peeked and fed to the codec (taken <= parsed)
    closing: bool = False  # the PBX closed its side: flushed; drop once everything is taken
    limit: int = 0         # at most this many bytes held back; then wait for a release

    @property
    def held(self) -> int:
        return self.parsed - self.taken

    def wake_after_held(self) -> None:
        """Readable only once new bytes wait beyond the held ones (or at end of stream): SO_RCVLOWAT.

        The bytes held back stay in the kernel, so the socket would otherwise look readable
        all the time and the loop would spin. Each peek copies the held bytes again: while whole
        lines are held (their records not yet durable, so a release will come and lower the mark),
        wait for as many new bytes (up to READ_CHUNK), or a PBX that writes record by record costs
        a copy of everything held per record and the receiver falls further behind. A line not yet
        complete needs one more byte, which may be its end.
        """
        releasable = self.held - self.codec.pending
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT,
                                 self.held + 1 + min(releasable, READ_CHUNK))
        except OSError:
            pass


class AvayaReceiver(Driver):
    """Listens on `target` ("host:port"); each PBX connection has its own codec.

    `read_events()` accepts new connections and parses what every connection has waiting.
    `mark()` then names how far the events returned so far reach; `release(mark)` takes those
    bytes out of the kernel. Marks must be released in the order they were made. Owners that do
    not care (self-tests, the CLI) pass `consume=True` and bytes are taken as they are parsed.
    """

    kind = "avaya-ipo"

    def __init__(self, name: str, target: str, *, consume: bool = False):
        super().__init__(name, target)
        self.host, self.port = split_hostport(target, port_zero=True)
        self.consume = consume
        self._server: socket.socket | None = None
        self._conns: dict[int, _Conn] = {}
        self._next_conn = 0
        self.records = 0
        self.errors = 0
        self.connections = 0

    @classmethod
    def from_settings(cls, settings, **kw) -> "AvayaReceiver":
        return cls(settings.name, settings.listen, **kw)

    # ---- hooks ---------------------------------------------------------------------------

    def _open_port(self) -> None:
        server = self._adopted_listener()
        if server is None:
            server = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET)
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                server.bind((self.host, self.port))
                server.listen(8)
            except OSError as exc:
                server.close()
                raise DeviceNotFound(f"{self.name}: cannot listen on {self.host}:{self.port} "
                                     f"({exc.strerror or exc})") from exc
        server.setblocking(False)
        self._server = server
        self.port = server.getsockname()[1]
        log.info("%s: listening on %s:%d", self.name, self.host, self.port)
        for name in sorted(self._adopt, key=_conn_id):
            if _conn_id(name) >= 0:
                self._add(socket.socket(fileno=self._adopt.pop(name)), _conn_id(name))
        if self._conns:
            log.info("%s: took over %d PBX connection(s) kept across the restart, %d byte(s) "
                     "not yet durable waiting in them", self.name, len(self._conns), self._waiting())

    def _close_port(self) -> None:
        for conn in self._conns.values():
            conn.sock.close()
        self._conns.clear()
        if self._server is not None:
            self._server.close()
            self._server = None

    def _filenos(self) -> list[int]:
        if self._server is None:
            return []
        return [self._server.fileno(), *(c.sock.fileno() for c in self._conns.values() if self._watch(c))]

    @staticmethod
    def _watch(conn: _Conn) -> bool:
        """Read it now? Not once closed, nor while as much as the kernel can signal is held back."""
        return not conn.closing and conn.held < conn.limit

    def _read(self) -> list[Event]:
        waiting = [self._server, *(c.sock for c in self._conns.values() if self._watch(c))]
        ready, _, _ = select.select(waiting, [], [], 0)
        events: list[Event] = []
        for sock in ready:
            if sock is self._server:
                self._accept()
            else:
                events += self._receive(self._by_sock(sock))
        self.records += sum(type(e) is not ProtocolError for e in events)
        self.errors += sum(type(e) is ProtocolError for e in events)
        return events

    # ---- durability ------------------------------------------------------------------------

    def mark(self) -> dict[int, int]:
        """How far the events returned so far reach, per connection (complete lines only)."""
        return {cid: c.parsed - c.codec.pending for cid, c in self._conns.items()}

    def release(self, mark: dict[int, int]) -> None:
        """The records of everything up to `mark` are durable: take those bytes out of the kernel."""
        for cid, upto in mark.items():
            conn = self._conns.get(cid)
            if conn is None:
                continue
            self._take(conn, upto - conn.taken)
            if conn.closing and conn.taken >= conn.parsed:
                self._drop(cid)
            elif not conn.closing:
                conn.wake_after_held()

    # ---- the systemd file-descriptor store -------------------------------------------------

    def _descriptors(self) -> dict[str, int]:
        """The listener and every connection, closing ones too: their bytes not yet taken are still
        in the kernel, and a connection keeps its name (conn<N>) across restarts."""
        out = {} if self._server is None else {"listen": self._server.fileno()}
        out.update({f"conn{cid}": c.sock.fileno() for cid, c in self._conns.items()})
        return out

    def _adopted_listener(self) -> socket.socket | None:
        """The listening socket kept across a restart, if it still listens where the settings say."""
        fd = self._adopt.pop("listen", None)
        if fd is None:
            return None
        try:
            sock = socket.socket(fileno=fd)
        except OSError:
            os.close(fd)
            return None
        try:
            host, port = sock.getsockname()[:2]
            listening = sock.type == socket.SOCK_STREAM and sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
        except OSError:
            host, port, listening = "", 0, False
        if listening and self.port in (0, port) and _same_host(host, self.host):
            return sock
        log.warning("%s: the socket kept across the restart listens on %s:%s, not %s:%s: opening afresh",
                    self.name, host, port, self.host, self.port)
        sock.close()
        return None

    def _waiting(self) -> int:
        """Bytes waiting in the connections' receive buffers (FIONREAD)."""
        total = 0
        for conn in self._conns.values():
            try:
                total += struct.unpack("i", fcntl.ioctl(conn.sock.fileno(), termios.FIONREAD, b"\0" * 4))[0]
            except OSError:
                pass
        return total

    # ---- internals ---------------------------------------------------------------------------

    def _by_sock(self, sock: socket.socket) -> tuple[int, _Conn]:
        for cid, conn in self._conns.items():
            if conn.sock is sock:
                return cid, conn
        raise KeyError(sock)

    def _accept(self) -> None:
        try:
            sock, _ = self._server.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            raise DeviceGone(f"{self.name}: listening socket failed: {exc}") from exc
        self._add(sock)
        log.info("%s: PBX connected from %s", self.name, self._conns[self._next_conn - 1].peer)

    def _add(self, sock: socket.socket, cid: int | None = None) -> None:
        """A connection, accepted now or kept across a restart (under the id it had then)."""
        cid = self._next_conn if cid is None else cid
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
            peer = "%s:%s" % sock.getpeername()[:2]
            rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except OSError:
            peer, rcvbuf = "?", 4 * READ_CHUNK
        # The kernel caps SO_RCVLOWAT at half the buffer: stay well under it so "readable" always
        # means new bytes or the end of the stream.
        conn = self._conns[cid] = _Conn(sock, peer, limit=max(READ_CHUNK, rcvbuf // 4))
        conn.wake_after_held()        # a kept socket still has the low-water mark of its last holder
        self._next_conn = max(self._next_conn, cid + 1)
        self.connections += 1

    def _receive(self, item: tuple[int, _Conn]) -> list[Event]:
        """Peek past what is held back. Readable with nothing new (SO_RCVLOWAT) = end of stream."""
        cid, conn = item
        held = conn.held
        try:
            data = conn.sock.recv(held + READ_CHUNK, socket.MSG_PEEK)[held:]
        except (BlockingIOError, InterruptedError):
            return []
        except OSError as exc:
            log.warning("%s: connection from %s lost: %s", self.name, conn.peer, exc)
            data = b""
        if data:
            conn.parsed += len(data)
            events = conn.codec.feed(data)
            if self.consume:
                self._take(conn, conn.parsed - conn.codec.pending - conn.taken)
            conn.wake_after_held()
            return events
        events = conn.codec.flush()          # a record cut short by the disconnect: kept as rejected raw
        conn.closing = True
        log.info("%s: PBX %s disconnected", self.name, conn.peer)
        if self.consume or conn.taken >= conn.parsed:
            self._drop(cid)
        return events

    def _take(self, conn: _Conn, n: int) -> None:
        while n > 0:
            try:
                got = len(conn.sock.recv(min(n, READ_CHUNK)))
            except (BlockingIOError, InterruptedError, OSError):
                return
            if not got:
                return
            conn.taken += got
            n -= got

    def _drop(self, cid: int) -> None:
        conn = self._conns.pop(cid, None)
        if conn is not None:
            conn.sock.close()

    def status(self) -> dict:
        held = sum(c.parsed - c.taken for c in self._conns.values())
        return {**super().status(), "listening": self._server is not None, "host": self.host,
                "port": self.port, "peers": [c.peer for c in self._conns.values() if not c.closing],
                "connections": self.connections, "records": self.records, "errors": self.errors,
                "bytes_not_durable": held}


def _conn_id(name: str) -> int:
    """conn<N> -> N; -1 for any other name."""
    digits = name[4:] if name.startswith("conn") else ""
    return int(digits) if digits.isdigit() else -1


def _same_host(bound: str, wanted: str) -> bool:
    """Does a socket bound to `bound` serve the settings' host? Names (not addresses) are trusted."""
    try:
        return ipaddress.ip_address(bound) == ipaddress.ip_address(wanted)
    except ValueError:
        return True
