"""Serial ports as a technician sees them: is it there, can we open it, and if not, who holds it."""
from __future__ import annotations

import errno
import os
from dataclasses import dataclass

import psutil

from firmware_bridge.exceptions import DeviceBusy, DeviceError
from firmware_bridge.serialport import close_serial, open_serial

BUSY_HINT_TAIL = ("if it is ModemManager, stop it (`systemctl stop ModemManager`) or tag the "
                  "device ID_MM_DEVICE_IGNORE=1 in udev (see docs/udev.md)")


@dataclass(frozen=True)
class Holder:
    """A process that has the port open."""
    pid: int
    cmdline: str
    is_daemon: bool             # `appliance run`: the appliance daemon itself
    locks: bool                 # holds the flock that makes the port busy
    far_end: bool               # holds the pseudo-terminal's master: it *is* the (emulated) device


def is_url(port: str) -> bool:
    return "://" in port


DAEMON_COMMANDS = ("run", "demo")     # `appliance demo` runs the daemon in its own process


def is_daemon_cmdline(args: list[str]) -> bool:
    """`appliance run ...`, `/opt/appliance/venv/bin/appliance run`, `python -m appliance run`,
    and the same with `demo`, whose process is the daemon (with its emulated devices)."""
    return any(os.path.basename(arg) == "appliance" and nxt in DAEMON_COMMANDS
               for arg, nxt in zip(args, args[1:]))


def _fdinfo(pid: int, fd: str) -> str:
    try:
        with open(f"/proc/{pid}/fdinfo/{fd}") as fh:
            return fh.read()
    except OSError:
        return ""


def holders(port: str) -> list[Holder]:
    """Processes (that we may inspect) with `port` open, from /proc/<pid>/fd and fdinfo.

    psutil lists the processes; their tty fds come from /proc because psutil's open_files() shows
    regular files only. fdinfo names the fd holding a flock ("lock: ... FLOCK") and, for a pty
    master, the pty it drives ("tty-index: N"). Other users' processes are invisible without
    privileges: an empty list proves nothing.
    """
    try:
        target = os.path.realpath(port)
    except OSError:
        return []
    pty_index = target[len("/dev/pts/"):] if target.startswith("/dev/pts/") else None
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        pid = proc.info["pid"]
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        opens = locks = far_end = False
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link == target:
                opens = True
                locks = locks or any(line.startswith("lock:") and "FLOCK" in line
                                     for line in _fdinfo(pid, fd).splitlines())
            elif pty_index is not None and link in ("/dev/ptmx", "/dev/pts/ptmx"):
                far_end = far_end or f"tty-index:\t{pty_index}\n" in _fdinfo(pid, fd)
        if opens or far_end:
            args = proc.info["cmdline"] or []
            found.append(Holder(pid, " ".join(args) or f"pid {pid}", is_daemon_cmdline(args),
                                locks, far_end))
    return found


def busy_cause(exc: DeviceError) -> bool:
    """DeviceBusy, or the kernel's EBUSY from TIOCEXCL (open_serial reports it as not found)."""
    if isinstance(exc, DeviceBusy):
        return True
    cause = exc.__cause__
    return getattr(cause, "errno", None) == errno.EBUSY or "Device or resource busy" in str(exc)


def permission_cause(exc: DeviceError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "errno", None) in (errno.EACCES, errno.EPERM) or "Permission denied" in str(exc)


def release(port) -> None:
    """Close a port opened with open_serial (clears TIOCEXCL first)."""
    close_serial(port)


def try_open(url: str, **settings) -> None:
    """Open and release at once; raises DeviceBusy / DeviceNotFound like open_serial."""
    release(open_serial(url, **settings))
