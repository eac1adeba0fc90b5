"""The database's files: create 0600, connect, configure, check integrity, move a corrupt one aside."""
from __future__ import annotations

import logging
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

from appliance.store.errors import StoreError, is_corruption

log = logging.getLogger("appliance.store")

DB_NAME = "appliance.db"
SIDE_FILES = ("-wal", "-shm")
CORRUPT_INFIX = ".corrupt-"
CACHE_KIB = 8192


def side_files(path: Path) -> list[Path]:
    return [Path(f"{path}{s}") for s in SIDE_FILES]


def create_file(path: Path) -> None:
    """Create the database file 0600 if it is missing.

    SQLite gives -wal and -shm the mode of the database file, so creating the file 0600 ourselves
    (instead of touching the process-wide umask) covers all three. Never open+close the file once
    it exists: closing any descriptor of a file drops every POSIX lock this process holds on it, so
    SQLite's locks of our other connections would vanish and another process closing its
    connection would delete the live -wal/-shm.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    os.close(fd)


def restrict_files(path: Path) -> None:
    for p in [path, *side_files(path)]:
        try:
            if p.stat().st_mode & 0o077:
                os.chmod(p, 0o600)
        except FileNotFoundError:
            pass


def connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_s)


def connect_read_only(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    """A connection that reads and creates no file, whoever runs it (root included).

    Even a `mode=ro` connection creates -wal and -shm when they are missing (and leaves them, owned
    by whoever ran it). With both present (a daemon has the database open) `mode=ro` uses them
    as they are; with no WAL (no writer has it open) the file is read as immutable, which
    creates nothing; a WAL without its -shm (a crash leftover) cannot be read without creating
    one, so that is refused.
    """
    wal, shm = side_files(path)
    if wal.exists() and shm.exists():
        uri = f"file:{path}?mode=ro"
    elif not wal.exists() or wal.stat().st_size == 0:
        uri = f"file:{path}?mode=ro&immutable=1"
    else:
        raise StoreError(f"{wal} is left from a crash and reading it would create files: start the "
                         f"daemon once (it recovers the WAL), then try again")
    return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=busy_timeout_s)


def configure(conn: sqlite3.Connection, max_db_bytes: int | None, cache_kib: int) -> None:
    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode.lower() != "wal":
        log.warning("store: journal_mode is %s, not wal: readers will block the writer", mode)
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    # The writer's page cache holds the inner pages of the key index while it grows
    # (the default is 2 MB); readers such as the sync client pass a smaller cache_kib.
    conn.execute(f"PRAGMA cache_size=-{cache_kib}")
    # Checkpoint the WAL every ~32 MB rather than every 4 MB: fewer fsyncs of the main file.
    conn.execute("PRAGMA wal_autocheckpoint=8000")
    if max_db_bytes is not None:
        page = conn.execute("PRAGMA page_size").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count={max(1, int(max_db_bytes) // page)}")


def integrity_problem(conn: sqlite3.Connection) -> str | None:
    """What `PRAGMA quick_check` found damaged, or None when the file is sound.

    Only damage is returned. Any other failure (a full disk, an I/O error, a lock, no permission)
    is raised as it came: it says nothing about the file, and must never get it moved aside.
    """
    try:
        rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        if is_corruption(exc):
            return str(exc)
        raise
    if rows == ["ok"]:
        return None
    return "; ".join(str(r) for r in rows[:3]).replace("\n", " ")


def move_aside(path: Path, problem: str, now: float) -> Path:
    """Rename the damaged database (and its -wal/-shm) to appliance.db.corrupt-<time>; returns the new path."""
    stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}{CORRUPT_INFIX}{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}{CORRUPT_INFIX}{stamp}.{n}")
        n += 1
    os.replace(path, target)
    for side, suffix in zip(side_files(path), SIDE_FILES):
        if side.exists():
            os.replace(side, Path(f"{target}{suffix}"))
    log.error("store %s failed its integrity check (%s): moved it aside to %s and started an "
              "empty database; nothing was deleted", path, problem[:200], target)
    return target


def moved_aside_files(data_dir: Path) -> list[Path]:
    """Databases moved aside as corrupt in data_dir (not their -wal/-shm), oldest first."""
    found = [p for p in Path(data_dir).glob(f"{DB_NAME}{CORRUPT_INFIX}*")
             if not p.name.endswith(SIDE_FILES) and p.is_file()]
    return sorted(found)
