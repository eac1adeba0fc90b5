"""Durable file operations: a rename is only kept through a power cut once its directory is fsynced."""
from __future__ import annotations

import os
from pathlib import Path


def fsync_dir(directory: str | Path) -> None:
    """Make the directory's entries (files created, renamed, removed in it) durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(src: str | Path, dst: str | Path) -> None:
    """os.replace, then fsync the destination's directory (and the source's, when another)."""
    os.replace(src, dst)
    fsync_dir(Path(dst).parent)
    if Path(src).parent.resolve() != Path(dst).parent.resolve():
        fsync_dir(Path(src).parent)
