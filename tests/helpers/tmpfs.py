"""A real small file system for disk-full tests: a tmpfs of a given size (needs root), and a filler."""
from __future__ import annotations

import errno
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest


def can_mount() -> bool:
    return os.geteuid() == 0


needs_root = pytest.mark.skipif(not can_mount(), reason="mounting a tmpfs needs root")


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
