"""Disk policy for recordings: a quota for the recordings directory and a free-space reserve for call records.

Nothing is ever deleted here: a recording that does not fit is refused (the call is recorded as
not_recorded with the reason), never made room for by evicting audio not yet uploaded, and call
records keep the reserve. `can_start` is asked per call, so recording resumes by itself once
uploads free space.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SpaceUsage:
    used_bytes: int          # recordings directory, all files (apparent size)
    quota_bytes: int
    free_bytes: int          # filesystem space available to this process
    reserve_bytes: int


class RecordingSpace:
    """Whether a new recording may start in `directory` (quota and reserve in MiB)."""

    def __init__(self, directory: Path, quota_mb: float, reserve_mb: float):
        if quota_mb <= 0 or reserve_mb < 0:
            raise ValueError("quota_mb must be positive and reserve_mb not negative")
        self.directory = Path(directory)
        self.quota_bytes = int(quota_mb * MB)
        self.reserve_bytes = int(reserve_mb * MB)

    def usage(self) -> SpaceUsage:
        """Bytes used by recordings and free on their filesystem (the directory need not exist yet)."""
        used = 0
        stack = [self.directory]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        used += entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:      # uploaded and removed while we looked
                    continue
        probe = self.directory
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        st = os.statvfs(probe)
        return SpaceUsage(used, self.quota_bytes, st.f_bavail * st.f_frsize, self.reserve_bytes)

    def can_start(self, needed_bytes: int = 0) -> tuple[bool, str]:
        """(ok, reason): refuse when recordings plus `needed_bytes` would pass the quota, or the
        filesystem's free space less `needed_bytes` would fall below the reserve."""
        try:
            u = self.usage()
        except OSError as exc:
            return False, f"recordings directory unusable: {exc.strerror or exc}"
        if u.used_bytes + needed_bytes > u.quota_bytes:
            return False, (f"recording quota reached: {u.used_bytes / MB:.1f} MiB of {u.quota_bytes / MB:.1f} MiB "
                           f"used by recordings not yet uploaded")
        if u.free_bytes - needed_bytes < u.reserve_bytes:
            return False, (f"disk space low: {u.free_bytes / MB:.1f} MiB free, {u.reserve_bytes / MB:.1f} MiB "
                           f"reserved for call records")
        return True, "ok"
