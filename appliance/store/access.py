"""Operator commands act as the data directory's owner: files they make belong to the daemon's user."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def as_owner(data_dir: str | Path):
    """Run the block with the effective uid/gid of the data dir's owner when we are root.

    SQLite creates -wal and -shm (even for a read-only connection) and the lock file is made on
    first use; made by root, the daemon (user appliance) could no longer open its own database.
    Effective ids only, restored afterwards. Not root, or the directory root's own, or missing:
    nothing changes (the command then reports what it finds).
    """
    path = Path(data_dir)
    if os.geteuid() != 0 or not path.is_dir():
        yield
        return
    st = path.stat()
    if st.st_uid == 0:
        yield
        return
    groups = os.getgroups()
    os.setgroups([st.st_gid])
    os.setegid(st.st_gid)
    os.seteuid(st.st_uid)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)
        os.setgroups(groups)
