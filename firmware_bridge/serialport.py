"""Open a serial port the way every driver here needs it: by URL, exclusive, non-blocking."""
from __future__ import annotations

import errno
import fcntl
import os
import select
import termios

import serial

from .exceptions import DeviceBusy, DeviceGone, DeviceNotFound


def open_serial(url: str, *, baudrate: int = 9600, bytesize: int = 8, parity: str = "N",
                stopbits: float = 1, exclusive: bool = True) -> serial.SerialBase:
    """Open `url` (a device path or any pyserial URL such as `spy://...`), raising our errors.

    Real ports get pyserial's advisory flock plus kernel TIOCEXCL (blocks unprivileged openers).
    """
    is_url = "://" in url
    try:
        return _open(url, is_url, baudrate, bytesize, parity, stopbits, exclusive)
    except DeviceNotFound as exc:
        if bytesize == 8 and parity == "N" or not _is_pty(url) or "Invalid argument" not in str(exc):
            raise
        # A pseudo-terminal carries 8N1 only: Linux accepts a 7E1 request once, then refuses it
        # (EINVAL) on later opens. The emulated device sees the same bytes either way.
        return _open(url, is_url, baudrate, 8, "N", stopbits, exclusive)


def _is_pty(url: str) -> bool:
    return "://" not in url and os.path.realpath(url).startswith("/dev/pts/")


def _open(url: str, is_url: bool, baudrate: int, bytesize: int, parity: str, stopbits: float,
          exclusive: bool) -> serial.SerialBase:
    try:
        if is_url:
            port = serial.serial_for_url(url, baudrate=baudrate, bytesize=bytesize, parity=parity,
                                         stopbits=stopbits, timeout=0, write_timeout=2)
        else:
            port = serial.Serial(url, baudrate=baudrate, bytesize=bytesize, parity=parity,
                                 stopbits=stopbits, timeout=0, write_timeout=2,
                                 exclusive=exclusive)
    except serial.SerialException as exc:
        err = getattr(exc, "errno", None)
        text = str(exc)
        if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EBUSY) or "exclusively lock" in text:
            raise DeviceBusy(f"{url}: held by another process ({text})") from exc
        raise DeviceNotFound(f"{url}: cannot open ({text})") from exc
    except termios.error as exc:                          # the line settings were refused
        raise DeviceNotFound(f"{url}: cannot open: line settings refused ({exc.args[-1]})") from exc
    except (OSError, ValueError) as exc:
        if getattr(exc, "errno", None) == errno.EBUSY:   # kernel TIOCEXCL held by another opener
            raise DeviceBusy(f"{url}: held by another process ({exc})") from exc
        raise DeviceNotFound(f"{url}: cannot open ({exc})") from exc
    fd = getattr(port, "fd", None)
    if exclusive and fd is not None:
        try:
            fcntl.ioctl(fd, termios.TIOCEXCL)
        except OSError:
            pass  # not a tty that supports it; flock still applies
    return port


def read_available(port: serial.SerialBase, limit: int = 65536) -> bytes:
    """Non-blocking read of what is waiting. Raises DeviceGone on EIO or a readable-but-empty port."""
    fd = getattr(port, "fd", None)
    if fd is not None:
        # A tty with VMIN=0 returns b"" both when idle and when gone: only an empty read on a
        # port that select() calls readable means the device went away.
        if not select.select([fd], [], [], 0)[0]:
            return b""
        if type(port) is not serial.Serial:
            # A URL handler such as spy:// hooks read() to write its wire trace: go through it.
            try:
                data = port.read(limit)
            except (OSError, serial.SerialException) as exc:
                raise DeviceGone(f"{port.port}: {exc}") from exc
            if not data:
                raise DeviceGone(f"{port.port}: device reports readiness to read but returned no data")
            return data
        try:
            data = os.read(fd, limit)
        except BlockingIOError:
            return b""
        except OSError as exc:
            raise DeviceGone(f"{port.port}: {exc}") from exc
        if not data:
            raise DeviceGone(f"{port.port}: device reports readiness to read but returned no data")
        return data
    try:
        waiting = port.in_waiting
        return port.read(min(waiting, limit)) if waiting else b""
    except (OSError, serial.SerialException) as exc:
        raise DeviceGone(f"{port.port}: {exc}") from exc


def write_all(port: serial.SerialBase, data: bytes) -> None:
    """Write one contiguous block; a failure means the device is gone."""
    try:
        port.write(data)
    except (OSError, serial.SerialException) as exc:
        raise DeviceGone(f"{port.port}: write failed: {exc}") from exc


def close_serial(port: serial.SerialBase) -> None:
    """Close a port opened with open_serial, clearing TIOCEXCL first.

    The exclusive flag lives on the tty, not the descriptor: left set, it refuses the next
    unprivileged open (the daemon's) for as long as anything else keeps the tty open.
    """
    fd = getattr(port, "fd", None)
    if fd is not None:
        try:
            fcntl.ioctl(fd, termios.TIOCNXCL)
        except OSError:
            pass
    try:
        port.close()
    except OSError:
        pass   # closing a port whose device vanished
