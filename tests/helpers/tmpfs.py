"""A real small file system for disk-full tests: a tmpfs of a given size (needs root), and a filler."""
from __future__ import annotations

import errno
import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest


def _mount_refused() -> str:
    """Why this machine cannot mount a tmpfs ("" when it can): not root, or a container without
    the privilege. Tried once, for real, at import."""
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root"
    probe = Path(tempfile.mkdtemp(prefix="tmpfs-probe-"))
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(probe)], capture_output=True)
        if done.returncode != 0:
            return f"this machine refuses to mount a tmpfs: {done.stderr.decode().strip()}"
        subprocess.run(["umount", str(probe)], capture_output=True)
        return ""
    except OSError as exc:               # no mount(8)
        return f"cannot mount a tmpfs: {exc}"
    finally:
        probe.rmdir()


MOUNT_REFUSED = _mount_refused()
needs_root = pytest.mark.skipif(bool(MOUNT_REFUSED), reason=MOUNT_REFUSED or "can mount")


@contextmanager
def tmpfs(path: Path, size: str, mode: str = "0700"):
    """Mount a tmpfs of `size` (e.g. "16m") on `path` for the block; unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs", str(path)],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(directory: Path, name: str = "filler") -> Path:
    """Write a file in `directory` until the file system has no block left; returns its path.
    Deleting it is "space returns"."""
    path = directory / name
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 16, 1 << 12, 1):
            block = b"\xff" * chunk
            while True:
                try:
                    f.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return path
