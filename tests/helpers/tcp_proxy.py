"""A real TCP proxy on 127.0.0.1 for tests: forward, black-hole (stop forwarding, keep sockets open), cut."""
from __future__ import annotations

import selectors
import socket
import struct
import threading

_CHUNK = 65536
_BUFFER_LIMIT = 1 << 20


class _Pair:
    """One proxied connection: the client side `down` and the upstream side `up`, each with its outbox."""

    def __init__(self, down: socket.socket, up: socket.socket):
        self.down = down
        self.up = up
        self.connected = False          # upstream connect finished
        self.to_up = bytearray()
        self.to_down = bytearray()
        self.down_eof = False
        self.up_eof = False
        self.closed = False

    def peer(self, sock: socket.socket) -> socket.socket:
        return self.up if sock is self.down else self.down

    def outbox_to(self, sock: socket.socket) -> bytearray:
        return self.to_up if sock is self.up else self.to_down


class TcpProxy:
    """Listens on 127.0.0.1 (an ephemeral port unless given) and forwards each connection to `target`.

    `blackhole()` stops moving bytes in both directions and stops accepting, but closes nothing: like a
    network that silently drops packets, peers only notice through their own timeouts (keepalive,
    deadlines). Bytes already sent wait in the kernel and flow again after `resume()`, as TCP
    retransmission would deliver them. `cut()` resets every open connection (RST).
    """

    def __init__(self, target: str | tuple[str, int], *, port: int = 0, name: str = "tcp-proxy"):
        if isinstance(target, str):
            host, _, p = target.rpartition(":")
            target = (host, int(p))
        self.target = target
        self.name = name
        self._lock = threading.Lock()
        self._blackholed = False
        self._closing = False
        self._pairs: list[_Pair] = []
        self._cut_requested = False
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", port))
        self._listener.listen(64)
        self._listener.setblocking(False)
        self._port = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.accepted_total = 0

    # ---- control (any thread) ----

    @property
    def port(self) -> int:
        return self._port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "TcpProxy":
        self._thread.start()
        return self

    def blackhole(self) -> None:
        with self._lock:
            self._blackholed = True
        self._wake()

    def resume(self) -> None:
        with self._lock:
            self._blackholed = False
        self._wake()

    def cut(self) -> None:
        """Reset every open connection; new connections are still accepted."""
        done = threading.Event()
        with self._lock:
            self._cut_requested = done
        self._wake()
        done.wait(5.0)

    def open_connections(self) -> int:
        with self._lock:
            return sum(1 for p in self._pairs if not p.closed)

    def close(self) -> None:
        with self._lock:
            self._closing = True
        self._wake()
        if self._thread.is_alive():
            self._thread.join(5.0)
        for s in (self._listener, self._wake_r, self._wake_w):
            s.close()

    def __enter__(self) -> "TcpProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    # ---- the proxy thread ----

    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        try:
            while True:
                with self._lock:
                    closing, blackholed, cut = self._closing, self._blackholed, self._cut_requested
                    self._cut_requested = False
                if closing:
                    break
                if cut:
                    for pair in self._pairs:
                        self._close_pair(pair, reset=True)
                    cut.set()
                self._reap()
                self._register(sel, blackholed)
                for key, events in sel.select(timeout=1.0):
                    self._handle(key, events, blackholed)
        finally:
            for pair in self._pairs:
                self._close_pair(pair, reset=True)
            sel.close()

    def _register(self, sel: selectors.BaseSelector, blackholed: bool) -> None:
        for key in list(sel.get_map().values()):
            sel.unregister(key.fileobj)
        sel.register(self._wake_r, selectors.EVENT_READ, None)
        if not blackholed:
            sel.register(self._listener, selectors.EVENT_READ, None)
        for pair in self._pairs:
            if pair.closed:
                continue
            if not pair.connected:
                sel.register(pair.up, selectors.EVENT_WRITE, pair)
                continue
            if blackholed:
                continue
            for sock in (pair.down, pair.up):
                events = 0
                eof = pair.down_eof if sock is pair.down else pair.up_eof
                if not eof and len(pair.outbox_to(pair.peer(sock))) < _BUFFER_LIMIT:
                    events |= selectors.EVENT_READ
                if pair.outbox_to(sock):
                    events |= selectors.EVENT_WRITE
                if events:
                    sel.register(sock, events, pair)

    def _handle(self, key: selectors.SelectorKey, events: int, blackholed: bool) -> None:
        sock, pair = key.fileobj, key.data
        if sock is self._wake_r:
            try:
                while self._wake_r.recv(4096):
                    pass
            except BlockingIOError:
                pass
            return
        if sock is self._listener:
            self._accept()
            return
        if pair.closed:
            return
        if not pair.connected:
            err = pair.up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._close_pair(pair, reset=True)
            else:
                pair.connected = True
            return
        try:
            if events & selectors.EVENT_WRITE:
                box = pair.outbox_to(sock)
                sent = sock.send(box)
                del box[:sent]
                self._maybe_half_close(pair)
            if events & selectors.EVENT_READ:
                data = sock.recv(_CHUNK)
                if data:
                    pair.outbox_to(pair.peer(sock)).extend(data)
                else:
                    if sock is pair.down:
                        pair.down_eof = True
                    else:
                        pair.up_eof = True
                    self._maybe_half_close(pair)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            self._close_pair(pair, reset=True)

    def _accept(self) -> None:
        try:
            down, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        down.setblocking(False)
        up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        up.setblocking(False)
        up.connect_ex(self.target)
        with self._lock:
            self._pairs.append(_Pair(down, up))
            self.accepted_total += 1

    def _maybe_half_close(self, pair: _Pair) -> None:
        """Pass an orderly FIN on once everything before it has been delivered."""
        if pair.down_eof and not pair.to_up:
            _shutdown_write(pair.up)
        if pair.up_eof and not pair.to_down:
            _shutdown_write(pair.down)
        if pair.down_eof and pair.up_eof and not pair.to_up and not pair.to_down:
            self._close_pair(pair, reset=False)

    def _close_pair(self, pair: _Pair, *, reset: bool) -> None:
        if pair.closed:
            return
        pair.closed = True
        for sock in (pair.down, pair.up):
            if reset:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except OSError:
                    pass
            sock.close()

    def _reap(self) -> None:
        with self._lock:
            self._pairs = [p for p in self._pairs if not p.closed]


def _shutdown_write(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass
