"""A service manager for tests that speaks systemd's protocol: NOTIFY_SOCKET, the fd store, LISTEN_FDS on restart.

What it does as systemd does (sd_notify(3), sd_listen_fds(3), systemd.service(5), docs/FILE_DESCRIPTOR_STORE.md):
- binds a SOCK_DGRAM socket for $NOTIFY_SOCKET with SO_PASSCRED and reads each datagram with recvmsg():
  the KEY=VALUE lines, SCM_RIGHTS descriptors and the sender's SCM_CREDENTIALS;
- NotifyAccess=main: a message from any other process is ignored and its descriptors closed;
- FDSTORE=1 (+ FDNAME=, + FDPOLL=0) keeps the descriptors, up to FileDescriptorStoreMax= (`fd_store_max`;
  0 = the store is off and descriptors are closed), skipping one already stored; an invalid FDNAME is
  ignored (the descriptors are stored as "stored"); descriptors sent without FDSTORE=1 are closed;
- FDSTOREREMOVE=1 + FDNAME= closes every descriptor stored under that name;
- a stored descriptor that reports POLLHUP or POLLERR is closed and removed (unless FDPOLL=0);
- messages the main process sent before it died are processed before the next start;
- each start passes the store's descriptors from fd 3 with $LISTEN_FDS, $LISTEN_FDNAMES and $LISTEN_PID
  (the child's own pid: a small exec wrapper renumbers the descriptors and execs the service);
- the store outlives kill -9 and stop/start of the same object (a restart job); `close()` flushes it.
"""
from __future__ import annotations

import array
import fcntl
import os
import select
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading

SCM_MAX_FD = 253
_UCRED = struct.Struct("iII")          # struct ucred: pid, uid, gid
_HIGH_FD = 1000                          # where descriptors wait before the wrapper renumbers them
# Runs in the child between fork and the service: move the stored descriptors to 3, 4, ... (as systemd
# does before exec), set LISTEN_PID to this process, which exec() keeps, and exec the service.
_WRAPPER = (
    "import os, sys\n"
    "sep = sys.argv.index('--')\n"
    "fds = [int(a) for a in sys.argv[1:sep]]\n"
    "for i, fd in enumerate(fds):\n"
    "    os.dup2(fd, 3 + i)\n"
    "    os.close(fd)\n"
    "if fds:\n"
    "    os.environ['LISTEN_PID'] = str(os.getpid())\n"
    "os.execv(sys.argv[sep + 1], sys.argv[sep + 1:])\n"
)


class Stored:
    """One descriptor in the store."""

    def __init__(self, name: str, fd: int, poll: bool):
        self.name, self.fd, self.poll = name, fd, poll


class Supervisor:
    """Runs `argv` as the service's main process; `start()` again after `kill()` is a restart."""

    def __init__(self, argv: list[str], *, env: dict | None = None, fd_store_max: int = 0):
        self.argv = list(argv)
        self.env = {k: v for k, v in dict(os.environ, **(env or {})).items() if not k.startswith("LISTEN_")}
        self.fd_store_max = fd_store_max
        self.proc: subprocess.Popen | None = None
        self.notifications: list[str] = []   # every accepted datagram's text, in order
        self.journal: list[str] = []         # what systemd would log about the service
        self.log_lines: list[str] = []       # the service's stdout and stderr
        self.starts = 0
        self._store: list[Stored] = []
        self._lock = threading.RLock()
        self._ready = threading.Event()
        self._main_pid = 0
        self._dir = tempfile.mkdtemp(prefix="supervisor-")   # short: AF_UNIX paths are limited to 108 bytes
        self.notify_path = os.path.join(self._dir, "notify.sock")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(self.notify_path)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._sock.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()
        self._closing = False
        self._threads = [threading.Thread(target=self._serve, name="test-supervisor", daemon=True)]
        self._threads[0].start()

    # ---- the service -------------------------------------------------------------------------

    def start(self, timeout: float = 20.0) -> "Supervisor":
        """Start (or restart) the main process with the stored descriptors; wait for READY=1."""
        if self.proc is not None and self.proc.poll() is None:
            raise RuntimeError("the service is still running")
        with self._lock:
            self._settle()                  # what the previous process said before it died
            names = [s.name for s in self._store]
            high = [fcntl.fcntl(s.fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD) for s in self._store]
            env = dict(self.env, NOTIFY_SOCKET=self.notify_path, PYTHONUNBUFFERED="1")
            if names:
                env.update(LISTEN_FDS=str(len(names)), LISTEN_FDNAMES=":".join(names))
            self._ready.clear()
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, "-I", "-S", "-c", _WRAPPER, *map(str, high), "--", *self.argv],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, pass_fds=high)
            finally:
                for fd in high:
                    os.close(fd)
            self._main_pid = self.proc.pid
            self.starts += 1
        pump = threading.Thread(target=self._pump, args=(self.proc,), name="test-service-log", daemon=True)
        pump.start()
        self._threads.append(pump)
        if not self._ready.wait(timeout):
            self.kill()
            raise AssertionError("service did not send READY=1 within %ss; log:\n%s" % (timeout, self.log_text()))
        return self

    def kill(self) -> None:
        """A real kill -9: nothing runs in the service; the store keeps its descriptors."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait: the exit status. The store is kept (as for a restart job)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout)
        return self.proc.returncode if self.proc else 0

    def log_text(self) -> str:
        return "\n".join(self.log_lines)

    def stored_names(self) -> list[str]:
        """The store's names, one per descriptor, after what was already sent is processed."""
        with self._lock:
            self._settle()
            return [s.name for s in self._store]

    def attach(self, pid: int) -> None:
        """Take `pid` as the main process without starting one (unit tests: this process is the service)."""
        with self._lock:
            self._main_pid = pid

    def copies(self, name: str) -> list[int]:
        """Duplicates of the descriptors stored under `name`, for a test to look through (it closes them)."""
        with self._lock:
            self._settle()
            return [os.dup(s.fd) for s in self._store if s.name == name]

    def _settle(self) -> None:
        """Handle what was sent and drop what hung up, from a caller's thread (under the lock)."""
        before = {s.fd for s in self._store}
        self._receive_pending()
        self._drop_hung_up()
        if before - {s.fd for s in self._store}:
            # The serve thread may sleep in poll() with a descriptor just closed here still registered,
            # which keeps its file open (a peer would not see the close): wake it to let go.
            self._wake_w.send(b"x")

    def close(self) -> None:
        """Stop the service and flush the store (the unit is stopped for good)."""
        self.kill()
        self._closing = True
        self._wake_w.send(b"x")
        for t in self._threads:
            t.join(5)
        with self._lock:
            for s in self._store:
                os.close(s.fd)
            self._store = []
        for sock in (self._sock, self._wake_r, self._wake_w):
            sock.close()
        try:
            os.unlink(self.notify_path)
            os.rmdir(self._dir)
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- the manager's side -----------------------------------------------------------------

    def _serve(self) -> None:
        while not self._closing:
            poller = select.poll()
            poller.register(self._sock, select.POLLIN)
            poller.register(self._wake_r, select.POLLIN)
            with self._lock:
                for s in self._store:
                    if s.poll:
                        poller.register(s.fd, 0)       # only POLLHUP / POLLERR are reported
            poller.poll()
            with self._lock:
                self._receive_pending()
                self._drop_hung_up()
            try:
                self._wake_r.recv(4096, socket.MSG_DONTWAIT)
            except BlockingIOError:
                pass

    def _pump(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.log_lines.append(line.rstrip("\n"))
        proc.stdout.close()

    def _receive_pending(self) -> None:
        ancillary = socket.CMSG_SPACE(SCM_MAX_FD * 4) + socket.CMSG_SPACE(_UCRED.size)
        while True:
            try:
                data, cmsgs, flags, _ = self._sock.recvmsg(4096, ancillary)
            except (BlockingIOError, OSError):
                return
            fds, pid = [], 0
            for level, kind, payload in cmsgs:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    arr = array.array("i")
                    arr.frombytes(payload[:len(payload) - len(payload) % arr.itemsize])
                    fds += list(arr)
                elif level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = _UCRED.unpack(payload[:_UCRED.size])[0]
            if flags & (socket.MSG_CTRUNC | socket.MSG_TRUNC):
                self.journal.append("got a truncated notification message, ignoring")
                fds = _close_all(fds)
            elif pid != self._main_pid:
                self.journal.append(f"got a notification message from pid {pid}, not the main process "
                                    f"{self._main_pid}: ignoring (NotifyAccess=main)")
                fds = _close_all(fds)
            else:
                fds = self._handle(data.decode("utf-8", "replace"), fds)
            if fds:
                self.journal.append("got extra file descriptors, ignoring")
                _close_all(fds)

    def _handle(self, text: str, fds: list[int]) -> list[int]:
        """One message from the main process; returns the descriptors it did not keep."""
        self.notifications.append(text)
        fields = dict(line.split("=", 1) for line in text.split("\n") if "=" in line)
        if fields.get("READY") == "1":
            self._ready.set()
        name = fields.get("FDNAME")
        if fields.get("FDSTOREREMOVE") == "1":
            if name is None or not _fdname_valid(name):
                self.journal.append("FDSTOREREMOVE=1 without a valid FDNAME=, ignoring")
            else:
                for s in [s for s in self._store if s.name == name]:
                    self._store.remove(s)
                    os.close(s.fd)
        if fields.get("FDSTORE") != "1":
            return fds
        if name is not None and not _fdname_valid(name):
            self.journal.append("passed FDNAME= name is invalid, ignoring")
            name = None
        left = []
        for fd in fds:
            if any(_same_fd(s.fd, fd) for s in self._store):
                os.close(fd)                                   # already stored
            elif len(self._store) >= self.fd_store_max:
                self.journal.append("hit the fd store limit (FileDescriptorStoreMax=%d)" % self.fd_store_max)
                left.append(fd)
            else:
                self._store.append(Stored(name if name is not None else "stored", fd, fields.get("FDPOLL") != "0"))
        return left

    def _drop_hung_up(self) -> None:
        watched = [s for s in self._store if s.poll]
        if not watched:
            return
        poller = select.poll()
        for s in watched:
            poller.register(s.fd, 0)
        hung = {fd for fd, ev in poller.poll(0) if ev & (select.POLLHUP | select.POLLERR)}
        for s in [s for s in watched if s.fd in hung]:
            self.journal.append(f"fd store: {s.name} reported POLLHUP/POLLERR, closed and removed")
            self._store.remove(s)
            os.close(s.fd)


def _fdname_valid(name: str) -> bool:
    """systemd's fdname_is_valid(): printable ASCII but ':', at most 255 characters."""
    return len(name) <= 255 and all(32 <= ord(c) < 127 and c != ":" for c in name)


def _same_fd(a: int, b: int) -> bool:
    """systemd's same_fd() where kcmp is not used: the same socket or file by inode and status flags;
    two descriptors of a character device (a tty) are never taken for the same one."""
    sa, sb = os.fstat(a), os.fstat(b)
    if stat.S_ISCHR(sa.st_mode) or stat.S_ISBLK(sa.st_mode) or (sa.st_dev, sa.st_ino) != (sb.st_dev, sb.st_ino):
        return False
    return fcntl.fcntl(a, fcntl.F_GETFL) == fcntl.fcntl(b, fcntl.F_GETFL)


def _close_all(fds: list[int]) -> list[int]:
    for fd in fds:
        os.close(fd)
    return []
