"""Talk to systemd without libsystemd: sd_notify datagrams (readiness, status, liveness, the fd store) and sd_listen_fds."""
from __future__ import annotations

import array
import logging
import os
import re
import socket
import time
from collections.abc import Mapping, MutableMapping, Sequence

log = logging.getLogger("appliance.notify")

# `systemctl status` shows STATUS= on one line; keep it readable there.
STATUS_MAX_CHARS = 200
# systemd reads notifications into a PIPE_BUF (4096 byte) buffer and ignores anything longer.
DATAGRAM_MAX_BYTES = 4095

# sd_pid_notify_with_fds(3), fdname_is_valid(): printable ASCII but ":" (the LISTEN_FDNAMES separator).
FDNAME_MAX = 255
SCM_MAX_FD = 253             # the kernel's limit of descriptors in one message
SD_LISTEN_FDS_START = 3
LISTEN_VARIABLES = ("LISTEN_PID", "LISTEN_PIDFDID", "LISTEN_FDS", "LISTEN_FDNAMES")

_KEY = re.compile(r"[A-Z][A-Z0-9_]*")
_FDNAME = re.compile(r"[\x20-\x39\x3b-\x7e]{0,%d}" % FDNAME_MAX)
_NEWLINES = re.compile(r"[\r\n]")


class Notifier:
    """Sends state to the service manager over $NOTIFY_SOCKET; does nothing when that is unset.

    The environment is read once, when the notifier is made. Every method returns whether a
    datagram went out, and none of them raises: a lost notification must never take the daemon
    down. The first failure of a run of failures is logged at debug level.
    """

    def __init__(self, environ: Mapping[str, str] = os.environ, timeout_s: float = 1.0):
        self._timeout_s = timeout_s
        self._failing = False
        self._address = _socket_address(environ.get("NOTIFY_SOCKET", ""))
        self._watchdog_usec = environ.get("WATCHDOG_USEC", "")
        self._watchdog_pid = environ.get("WATCHDOG_PID", "")

    @property
    def enabled(self) -> bool:
        """True when started by systemd with a usable $NOTIFY_SOCKET."""
        return self._address is not None

    def ready(self, status: str | None = None) -> bool:
        """Start-up finished (Type=notify waits for this); also sent again after a reload."""
        fields = {"READY": "1"}
        if status is not None:
            fields["STATUS"] = _one_line(status)
        return self.send(fields)

    def status(self, text: str) -> bool:
        """Free-text state shown by `systemctl status`; flattened to one line and shortened."""
        return self.send({"STATUS": _one_line(text)})

    def watchdog(self) -> bool:
        """Keep-alive: systemd restarts the service if these stop for longer than WatchdogSec=."""
        return self.send({"WATCHDOG": "1"})

    def stopping(self) -> bool:
        return self.send({"STOPPING": "1"})

    def reloading(self) -> bool:
        """Reload begun (on SIGHUP); call ready() when the new configuration is in effect.

        MONOTONIC_USEC lets systemd tell this reload from an earlier one (CLOCK_MONOTONIC, like systemd).
        """
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send({"RELOADING": "1", "MONOTONIC_USEC": str(usec)})

    def store_fds(self, name: str, fds: Sequence[int]) -> bool:
        """FDSTORE=1: the manager keeps duplicates of `fds` under `name` (its file-descriptor store,
        FileDescriptorStoreMax=) and hands them back at the next start (`listen_fds()`)."""
        if not fdname_valid(name) or not 0 < len(fds) <= SCM_MAX_FD:
            log.warning("notify: not storing %d descriptor(s) under %r: invalid name or count", len(fds), name)
            return False
        return self.send({"FDSTORE": "1", "FDNAME": name}, fds=fds)

    def remove_fds(self, name: str) -> bool:
        """FDSTOREREMOVE=1: the manager closes every descriptor it keeps under `name`."""
        if not fdname_valid(name):
            log.warning("notify: cannot remove %r from the fd store: invalid name", name)
            return False
        return self.send({"FDSTOREREMOVE": "1", "FDNAME": name})

    def watchdog_interval(self) -> float | None:
        """WatchdogSec= in seconds, or None when the watchdog is off or meant for another process.

        Ping at half of this, as sd_watchdog_enabled(3) recommends.
        """
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            return None
        if usec <= 0:
            return None
        if self._watchdog_pid:
            try:
                if int(self._watchdog_pid) != os.getpid():
                    return None
            except ValueError:
                return None
        return usec / 1_000_000

    def send(self, fields: Mapping[str, str], fds: Sequence[int] = ()) -> bool:
        """One datagram of KEY=VALUE lines, `fds` as SCM_RIGHTS. Newlines inside values become spaces."""
        if self._address is None:
            return False
        try:
            lines = []
            for key, value in fields.items():
                if not _KEY.fullmatch(key):
                    raise ValueError(f"not a notification key: {key!r}")
                lines.append(f"{key}={_NEWLINES.sub(' ', str(value))}")
            payload = "\n".join(lines).encode("utf-8", errors="replace")
            if len(payload) > DATAGRAM_MAX_BYTES:
                raise ValueError(f"notification of {len(payload)} bytes; systemd ignores more than {DATAGRAM_MAX_BYTES}")
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                # Bounded: a stuck manager must not freeze the event loop that calls us.
                sock.settimeout(self._timeout_s)
                rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
                sock.sendmsg([payload], rights, 0, self._address)   # (socket.send_fds ignores the address)
        except Exception as exc:  # noqa: BLE001 - by contract nothing escapes to the caller
            if not self._failing:
                log.debug("notify: sending %s failed: %s", ",".join(fields), exc)
            self._failing = True
            return False
        self._failing = False
        return True


def fdname_valid(name: str) -> bool:
    """A name systemd accepts in FDNAME= (and passes back in LISTEN_FDNAMES)."""
    return _FDNAME.fullmatch(name) is not None


def listen_fds(environ: MutableMapping[str, str] = os.environ, *, pid: int | None = None,
               unset: bool = True) -> list[tuple[str, int]]:
    """The descriptors the manager passed at start, as (name, fd) from fd 3: what the fd store kept.

    As sd_listen_fds_with_names(3): only if $LISTEN_PID is this process (`pid`, default getpid());
    $LISTEN_FDS of them from fd 3, each made close-on-exec; names from $LISTEN_FDNAMES (":"
    between them; "unknown" for all when unset). With `unset` the variables are removed, whatever
    the outcome, so no child inherits them. Malformed variables give [] and a warning.
    (LISTEN_PIDFDID, systemd >= 257, is removed too but not compared: LISTEN_PID names us after exec.)
    """
    values = {key: environ.get(key) for key in LISTEN_VARIABLES}
    if unset:
        for key in LISTEN_VARIABLES:
            environ.pop(key, None)
    if values["LISTEN_PID"] is None or values["LISTEN_FDS"] is None:
        return []
    try:
        if int(values["LISTEN_PID"]) != (os.getpid() if pid is None else pid):
            return []                                       # meant for another process
        count = int(values["LISTEN_FDS"])
        if count <= 0:
            raise ValueError(f"LISTEN_FDS={count}")
        names = ["unknown"] * count if values["LISTEN_FDNAMES"] is None else values["LISTEN_FDNAMES"].split(":")
        if len(names) != count:
            raise ValueError(f"{len(names)} name(s) in LISTEN_FDNAMES for LISTEN_FDS={count}")
        fds = range(SD_LISTEN_FDS_START, SD_LISTEN_FDS_START + count)
        for fd in fds:
            os.set_inheritable(fd, False)
    except (ValueError, OSError) as exc:
        log.warning("notify: ignoring the descriptors passed at start: %s", exc)
        return []
    return list(zip(names, fds))


def _socket_address(value: str) -> bytes | None:
    """$NOTIFY_SOCKET -> an AF_UNIX address: an absolute path, or '@name' for the abstract namespace."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return os.fsencode(value)
    # vsock:CID:PORT (VM guests) and anything else: not for a site box; say so once, then stay quiet.
    log.debug("notify: unsupported NOTIFY_SOCKET %r; notifications disabled", value)
    return None


def _one_line(text: str, limit: int = STATUS_MAX_CHARS) -> str:
    flat = " ".join(text.split())
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat
