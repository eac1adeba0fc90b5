"""One daemon per data directory: an flock on DATA_DIR/appliance.lock, the file naming the holder's pid."""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from appliance.store.errors import StoreError

LOCK_NAME = "appliance.lock"


class DataDirBusy(StoreError):
    """Another process (a running daemon, or an operator command acting for it) holds the data dir."""

    def __init__(self, data_dir: Path, pid: int | None):
        self.data_dir, self.pid = Path(data_dir), pid
        who = f"pid {pid}" if pid else "another process"
        super().__init__(f"data directory {data_dir} is in use by another appliance daemon ({who}); "
                         f"stop it first (systemctl stop appliance) or give this one its own site.data_dir")


class DataDirLock:
    """Held from `acquire()` until `release()` (or the process ends: the kernel drops an flock with
    its last descriptor, so a kill -9 never leaves a stale lock; the pid in the file is only a name).

    flock, not fcntl/POSIX locks: those are dropped when the process closes ANY descriptor of the
    file, and they are what SQLite uses on the database; the lock file is a file of its own.
    """

    def __init__(self, data_dir: str | Path):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "DataDirLock":
        """Take the lock at once or raise DataDirBusy naming the holder; never waits."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise DataDirBusy(self.data_dir, holder) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass        # a full disk: the lock holds all the same, only the holder goes unnamed
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "DataDirLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0) or None
    except (OSError, ValueError):
        return None
