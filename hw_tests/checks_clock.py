"""Is the system clock synchronised? CDR times and certificate checks depend on it."""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from .result import CheckResult, passed, warned

STA_UNSYNC = 0x0040          # status bit: the kernel clock is not synchronised (adjtimex(2))
TIME_ERROR = 5               # adjtimex return value: clock not synchronised
MAXERROR_UNSYNC_US = 16_000_000   # the kernel caps maxerror here when nothing disciplines it
TIMESYNCD_FLAG = "/run/systemd/timesync/synchronized"   # touched by systemd-timesyncd on each sync

_HINT = ("enable systemd-timesyncd or chrony (`timedatectl set-ntp true`) and make sure the box "
         "can reach an NTP server (UDP port 123); call times and certificate checks depend on it")


@dataclass(frozen=True)
class ClockState:
    synchronised: bool | None        # None: could not find out
    source: str                      # where the answer came from
    max_error_ms: float | None = None
    note: str = ""                   # why it could not be read


class _Timex(ctypes.Structure):
    """struct timex from <sys/timex.h> (the trailing padding is part of the kernel ABI)."""
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long), ("status", ctypes.c_int),
                ("constant", ctypes.c_long), ("precision", ctypes.c_long),
                ("tolerance", ctypes.c_long), ("time_sec", ctypes.c_long),
                ("time_usec", ctypes.c_long), ("tick", ctypes.c_long), ("ppsfreq", ctypes.c_long),
                ("jitter", ctypes.c_long), ("shift", ctypes.c_int), ("stabil", ctypes.c_long),
                ("jitcnt", ctypes.c_long), ("calcnt", ctypes.c_long), ("errcnt", ctypes.c_long),
                ("stbcnt", ctypes.c_long), ("tai", ctypes.c_int), ("_padding", ctypes.c_int * 11)]


def read_kernel_ntp() -> ClockState:
    """adjtimex with modes=0 only reads. Raises OSError where it is forbidden (ProtectClock=yes)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    tx = _Timex()
    state = libc.adjtimex(ctypes.byref(tx))
    if state == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"adjtimex: {os.strerror(err)}")
    unsync = bool(tx.status & STA_UNSYNC) or state == TIME_ERROR or tx.maxerror >= MAXERROR_UNSYNC_US
    return ClockState(not unsync, "kernel NTP state", tx.maxerror / 1000)


def read_timedatectl(timeout_s: float = 3.0) -> ClockState:
    """`timedatectl show -p NTPSynchronized --value` (asks systemd-timedated over D-Bus)."""
    exe = shutil.which("timedatectl")
    if exe is None:
        raise OSError("timedatectl not installed")
    proc = subprocess.run([exe, "show", "-p", "NTPSynchronized", "--value"], capture_output=True,
                          text=True, timeout=timeout_s)
    value = proc.stdout.strip()
    if proc.returncode != 0 or value not in ("yes", "no"):
        raise OSError(f"timedatectl: {(proc.stderr.strip() or value or 'no answer').splitlines()[0]}")
    return ClockState(value == "yes", "timedatectl")


def read_clock_state(readers: tuple[Callable[[], ClockState], ...] = (read_kernel_ntp, read_timedatectl),
                     timesyncd_flag: str = TIMESYNCD_FLAG) -> ClockState:
    """The kernel's own flag first; then timedatectl, then timesyncd's flag file.

    Under systemd's ProtectClock= (or a ~@clock / ~@privileged system call filter) even the
    read-only adjtimex fails with EPERM, hence the fallbacks.
    """
    notes = []
    for reader in readers:
        try:
            return reader()
        except (OSError, subprocess.SubprocessError) as exc:
            notes.append(str(exc))
    if os.path.exists(timesyncd_flag):
        return ClockState(True, timesyncd_flag)
    return ClockState(None, "", note="; ".join(notes))


def check_clock(read: Callable[[], ClockState] = read_clock_state,
                now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> CheckResult:
    state = read()
    stamp = now().strftime("%Y-%m-%d %H:%M:%S UTC")
    if state.synchronised is None:
        return warned("clock", f"cannot tell whether the clock is synchronised ({state.note}); "
                               f"box time {stamp}", _HINT)
    if not state.synchronised:
        return warned("clock", f"clock not synchronised ({state.source}); box time {stamp}", _HINT)
    error = f", max error {state.max_error_ms:.0f} ms" if state.max_error_ms is not None else ""
    return passed("clock", f"synchronised ({state.source}{error}); box time {stamp}")
