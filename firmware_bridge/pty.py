"""A pseudo-terminal standing in for a serial device, behind a stable path that can be unplugged."""
from __future__ import annotations

import os
import tty


class EmulatedPort:
    """The far end of an emulated serial device.

    `path` is a symlink to the pty slave, like `/dev/serial/by-id/...`: the code under test opens
    it. The emulator reads and writes `master_fd`. `unplug()` closes the master (the reader sees
    EIO or an empty read, exactly like a USB unplug); `replug()` makes a new pty behind `path`.
    """

    def __init__(self, path: str):
        self.path = path
        self.master_fd: int = -1
        self._slave_fd: int = -1
        self.replug()

    def replug(self) -> None:
        self.unplug()
        master, slave = os.openpty()
        # Both ends raw at once: a fresh pty echoes and translates CR until someone sets it raw.
        tty.setraw(master)
        tty.setraw(slave)
        os.set_blocking(master, False)
        self.master_fd, self._slave_fd = master, slave
        tmp = f"{self.path}.tmp{os.getpid()}"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.ttyname(slave), tmp)
        os.replace(tmp, self.path)

    def unplug(self) -> None:
        if self.master_fd >= 0:
            os.close(self.master_fd)
            self.master_fd = -1
        if self._slave_fd >= 0:
            # We keep the slave open only until the device is unplugged, so the pty does not
            # hang up before the client opens it.
            os.close(self._slave_fd)
            self._slave_fd = -1
        if os.path.lexists(self.path):
            os.unlink(self.path)

    @property
    def plugged(self) -> bool:
        return self.master_fd >= 0

    def write(self, data: bytes) -> None:
        """Write everything (the pty buffers kilobytes; loop on a full buffer)."""
        view = memoryview(data)
        while view:
            try:
                n = os.write(self.master_fd, view)
            except BlockingIOError:
                import select
                select.select([], [self.master_fd], [], 1.0)
                continue
            view = view[n:]

    def read(self, limit: int = 65536) -> bytes:
        """Non-blocking read of what the host wrote; b"" if nothing is waiting."""
        try:
            return os.read(self.master_fd, limit)
        except BlockingIOError:
            return b""
        except OSError:
            return b""  # no slave open right now (host closed the port)

    def fileno(self) -> int:
        return self.master_fd

    def close(self) -> None:
        self.unplug()

    def __enter__(self) -> "EmulatedPort":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
