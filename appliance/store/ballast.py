"""The ballast: a file of reserved space in the data dir, given back when the disk fills so what was
already accepted can still be committed and the outbox emptied, and taken again when space returns."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from appliance.common.files import replace_durably

log = logging.getLogger("appliance.store")

BALLAST_NAME = "appliance.ballast"
MIB = 1 << 20


class Ballast:
    """`size` bytes held in DATA_DIR/appliance.ballast (0 = no ballast).

    The blocks are allocated (posix_fallocate), not a sparse hole, so deleting the file really
    frees that much space. Creation goes through a temporary name: a half-made ballast is never
    taken for a whole one.
    """

    def __init__(self, data_dir: str | Path, size: int):
        self.path = Path(data_dir) / BALLAST_NAME
        self.size = max(0, int(size))

    @property
    def enabled(self) -> bool:
        return self.size > 0

    @property
    def present(self) -> bool:
        try:
            return self.path.stat().st_blocks * 512 >= self.size
        except FileNotFoundError:
            return False

    def resume_free_bytes(self) -> int:
        """Free space needed before taking the ballast back: the ballast and as much again, so
        the disk does not fill the moment input resumes (at least 1 MiB without a ballast)."""
        return 2 * self.size if self.size else MIB

    def release(self) -> int:
        """Delete the ballast; returns the bytes given back (0 if there was none)."""
        try:
            size = self.path.stat().st_blocks * 512
            self.path.unlink()
        except FileNotFoundError:
            return 0
        log.warning("store: released the %d MiB ballast %s so what was accepted can be committed",
                    size // MIB, self.path)
        return size

    def create(self) -> None:
        """Reserve the ballast (raises OSError, e.g. ENOSPC, leaving nothing behind)."""
        if not self.enabled or self.present:
            return
        tmp = self.path.with_name(self.path.name + ".new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.posix_fallocate(fd, 0, self.size)
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        replace_durably(tmp, self.path)

    def status(self) -> dict:
        return {"path": str(self.path), "bytes": self.size, "present": self.present}
