"""What went wrong with the store, in an operator's words: a corrupt file versus a full, failing or locked disk."""
from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

# SQLite primary result codes (https://www.sqlite.org/rescode.html)
_PERM, _BUSY, _LOCKED, _READONLY, _IOERR = 3, 5, 6, 8, 10
_CORRUPT, _FULL, _CANTOPEN, _AUTH, _NOTADB = 11, 13, 14, 23, 26

# Below this much free space an I/O error is taken for a full disk (SQLite reports a -shm it
# cannot grow as SQLITE_IOERR_SHMSIZE, not SQLITE_FULL).
FULL_BELOW_BYTES = 1 << 20

CORRUPT, FULL, IO, PERMISSION, READONLY, LOCKED, TOO_NEW, OTHER = (
    "corrupt", "disk full", "I/O error", "permission denied", "read-only", "locked",
    "schema too new", "error")


class StoreError(Exception):
    """The store cannot be used as asked (an unknown export name, a closed store)."""


class NoDatabase(StoreError):
    """A command found no database where the configuration points; it creates none."""

    def __init__(self, path: Path):
        self.path = Path(path)
        where = self.path.parent
        if not where.exists():
            text = (f"no database at {self.path}: the data directory {where} does not exist "
                    f"(check site.data_dir in the configuration; nothing was created)")
        else:
            text = (f"no database at {self.path}: the daemon creates it on its first start "
                    f"(systemctl start appliance); nothing was created")
        super().__init__(text)


class StoreUnavailable(StoreError):
    """The daemon has not opened its store yet (the disk is full or unusable): nothing may use it."""


def is_corruption(exc: BaseException) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB: the file is damaged, as opposed to busy, full or too new."""
    return isinstance(exc, sqlite3.DatabaseError) and _primary(exc) in (_CORRUPT, _NOTADB)


def _primary(exc: BaseException) -> int:
    return getattr(exc, "sqlite_errorcode", 0) & 0xFF


def free_bytes(path: Path) -> int | None:
    """Space left to an unprivileged writer on the file system holding `path` (None if unknown)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def classify(exc: BaseException, data_dir: Path | None = None) -> str:
    """One of CORRUPT, FULL, IO, PERMISSION, READONLY, LOCKED, TOO_NEW, OTHER.

    Only CORRUPT may ever lead to moving a database aside: every other kind is a property of the
    disk or of another program, and the file itself is fine.
    """
    from appliance.store.schema import SchemaTooNew
    if isinstance(exc, SchemaTooNew):
        return TOO_NEW
    if isinstance(exc, OSError):
        return {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EACCES: PERMISSION,
                errno.EPERM: PERMISSION, errno.EROFS: READONLY}.get(exc.errno, IO)
    if not isinstance(exc, sqlite3.Error):
        return OTHER
    code = _primary(exc)
    if code in (_CORRUPT, _NOTADB):
        return CORRUPT
    if code == _FULL:
        return FULL
    if code in (_BUSY, _LOCKED):
        return LOCKED
    if code in (_PERM, _AUTH):
        return PERMISSION
    if code == _READONLY:
        return READONLY
    if code in (_IOERR, _CANTOPEN):
        if data_dir is not None:
            free = free_bytes(data_dir)
            if free is not None and free < FULL_BELOW_BYTES:
                return FULL
            if code == _CANTOPEN and data_dir.exists() and not os.access(data_dir, os.W_OK | os.X_OK):
                return PERMISSION
        return IO
    text = str(exc).lower()
    if "disk is full" in text:
        return FULL
    if "locked" in text:
        return LOCKED
    return OTHER


def fix_for(kind: str, data_dir: Path) -> str:
    """What an operator does about a store problem of this kind."""
    db = data_dir / "appliance.db"
    return {
        FULL: (f"free space on the disk holding {data_dir} (old logs: `journalctl --vacuum-size=200M`), "
               f"or fit a bigger disk; device input resumes by itself once there is room"),
        IO: "the disk reports I/O errors: look at `dmesg`; replace the disk if they repeat",
        PERMISSION: (f"the daemon's user cannot write there: `chown -R appliance:appliance {data_dir}` "
                     f"and `chmod 0700 {data_dir}`"),
        READONLY: (f"cannot write {db}: check the files' owner (appliance, 0600: "
                   f"`ls -l {data_dir}`) and that the file system is not mounted read-only (`dmesg`)"),
        LOCKED: f"another program holds the database: `fuser -v {db}`, then close that program",
        TOO_NEW: ("the database was written by a newer release: reinstall that release; never "
                  "downgrade over a newer database"),
        CORRUPT: ("restart the daemon (systemctl restart appliance): it moves the damaged file aside "
                  "and salvages its records into a new one"),
    }.get(kind, "see the daemon's log (journalctl -u appliance)")
