"""Open a serial port the way every driver here needs it: by URL, exclusive, non-blocking; or take over one kept open."""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import select
import termios

import serial
import serial.rs485

from .exceptions import DeviceBusy, DeviceGone, DeviceNotFound

log = logging.getLogger("firmware_bridge.serialport")


class AdoptedSerial(serial.Serial):
    """A pyserial port over a tty descriptor that is already open (kept across a restart).

    pyserial can only open a path, and opening the path again would make a new open file
    description: it would not hold the flock the kept one holds (so it would be refused), and
    pyserial's open() discards the input buffer, which holds exactly the bytes worth keeping.
    This configures the kept descriptor as open() would (lock, line settings, DTR/RTS) and keeps
    the input buffer. If that fails the descriptor stays open: the caller still owns it.
    """

    def __init__(self, fd: int, port: str, **kw):
        self._kept_fd = fd
        super().__init__(port, **kw)      # pyserial opens (here: adopts) when given a port

    def open(self) -> None:
        if self.is_open:
            raise serial.SerialException("Port is already open.")
        self.fd, self._kept_fd = self._kept_fd, None
        if self.fd is None:
            raise serial.SerialException(f"{self.portstr}: the kept descriptor was already used")
        pipes: list[int] = []
        try:
            os.set_blocking(self.fd, False)
            self._reconfigure_port(force_update=True)
            try:
                if not self._dsrdtr:
                    self._update_dtr_state()
                if not self._rtscts:
                    self._update_rts_state()
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.ENOTTY):    # a pty has no modem lines
                    raise
            for _ in range(2):
                read_end, write_end = os.pipe()
                os.set_blocking(read_end, False)
                pipes += [read_end, write_end]
        except BaseException:
            for fd in pipes:
                os.close(fd)
            self.fd = None
            raise
        self.pipe_abort_read_r, self.pipe_abort_read_w, self.pipe_abort_write_r, self.pipe_abort_write_w = pipes
        self.is_open = True


def open_serial(url: str, *, baudrate: int = 9600, bytesize: int = 8, parity: str = "N",
                stopbits: float = 1, exclusive: bool = True, fd: int | None = None) -> serial.SerialBase:
    """Open `url` (a device path or any pyserial URL such as `spy://...`), raising our errors.

    Real ports get pyserial's advisory flock plus kernel TIOCEXCL (blocks unprivileged openers).
    `fd`: the port's descriptor kept across a restart (`kept_port()`), taken over instead of
    opening the path; what arrived meanwhile is still in its input buffer.
    """
    is_url = "://" in url
    try:
        try:
            return _open(url, is_url, baudrate, bytesize, parity, stopbits, exclusive, fd)
        except DeviceNotFound as exc:
            if bytesize == 8 and parity == "N" or not _is_pty(url) or "Invalid argument" not in str(exc):
                raise
            # A pseudo-terminal carries 8N1 only: Linux accepts a 7E1 request once, then refuses it
            # (EINVAL) on later opens. The emulated device sees the same bytes either way.
            return _open(url, is_url, baudrate, 8, "N", stopbits, exclusive, fd)
    except BaseException:
        if fd is not None:
            os.close(fd)                 # a kept descriptor that cannot be used: ours to close
        raise


def _is_pty(url: str) -> bool:
    return "://" not in url and os.path.realpath(url).startswith("/dev/pts/")


def _open(url: str, is_url: bool, baudrate: int, bytesize: int, parity: str, stopbits: float,
          exclusive: bool, kept: int | None) -> serial.SerialBase:
    try:
        if kept is not None:
            port = AdoptedSerial(kept, url, baudrate=baudrate, bytesize=bytesize, parity=parity,
                                 stopbits=stopbits, timeout=0, write_timeout=2, exclusive=exclusive)
        elif is_url:
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


def kept_port(port: serial.SerialBase | None) -> dict[str, int]:
    """{"port": fd} for a port worth keeping across a restart (a device path, not a URL handler)."""
    return {"port": port.fd} if _plain(port) and port.fd is not None else {}


def read_available(port: serial.SerialBase, limit: int = 65536) -> bytes:
    """Non-blocking read of what is waiting. Raises DeviceGone on EIO or a readable-but-empty port."""
    fd = getattr(port, "fd", None)
    if fd is not None:
        # A tty with VMIN=0 returns b"" both when idle and when gone: only an empty read on a
        # port that select() calls readable means the device went away.
        if not select.select([fd], [], [], 0)[0]:
            return b""
        if not _plain(port):
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


def _plain(port) -> bool:
    """A tty opened by path or kept across a restart, not a URL handler that hooks read()."""
    return type(port) in (serial.Serial, AdoptedSerial)


def enable_rs485(port: serial.SerialBase, name: str, target: str) -> str:
    """Kernel RS-485 direction control (RTS high while sending) on a real serial device; what happened.
    Skipped on ptys; an adapter without kernel support keeps its own direction control (warned)."""
    fd = getattr(port, "fd", None)
    try:
        if fd is None or os.ttyname(fd).startswith("/dev/pts/"):
            return "skipped (not a serial device)"
    except OSError:
        return "skipped (not a tty)"
    try:
        port.rs485_mode = serial.rs485.RS485Settings(rts_level_for_tx=True, rts_level_for_rx=False)
    except (ValueError, OSError) as exc:
        log.warning("%s: kernel RS-485 not available on %s (%s); relying on the adapter's own "
                    "direction control", name, target, exc)
        return f"unsupported ({exc})"
    return "on"
