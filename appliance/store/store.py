"""The durable record store: one SQLite connection on DATA_DIR/appliance.db, opened, checked and migrated."""
from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable

from appliance.store.errors import NoDatabase, StoreError, is_corruption
from appliance.store.files import (CACHE_KIB, DB_NAME, configure, connect, connect_read_only, create_file,
                                   integrity_problem, move_aside, restrict_files)
from appliance.store.inspect import InspectionMixin
from appliance.store.open_calls import OpenCallsMixin
from appliance.store.records import AddResult, RecordsMixin, RejectedRaw
from appliance.store.rows import iso
from appliance.store.schema import migrate

log = logging.getLogger("appliance.store")

__all__ = ["CACHE_KIB", "DB_NAME", "AddResult", "NoDatabase", "RejectedRaw", "Store", "StoreError"]


class Store(RecordsMixin, InspectionMixin, OpenCallsMixin):
    """One SQLite connection on `data_dir/appliance.db`, used by the thread that made it.

    Each thread opens its own Store on the same directory (WAL lets readers and one writer share
    the file). The first open of a process runs the integrity check (`check=True`); further opens
    pass `check=False` and cost only a connect. Only damage found by the check (SQLITE_CORRUPT,
    SQLITE_NOTADB, quick_check rows) moves the file aside; a full disk, an I/O error, a lock or a
    permission problem is raised as it came and the file is left alone.

    `create=False` never creates the data directory or the database (NoDatabase instead): what
    operator commands use. `read_only=True` also reads without writing or creating any file (not
    even -wal/-shm), so any user, root included, may run it.
    `now` is the epoch clock behind `stored_at` and backlog ages; `max_db_bytes` caps the file
    (SQLite then answers "database or disk is full").
    """

    def __init__(self, data_dir: str | Path, *, site_id: str, check: bool = True,
                 now: Callable[[], float] = time.time, max_db_bytes: int | None = None,
                 busy_timeout_s: float = 10.0, cache_kib: int = CACHE_KIB,
                 create: bool = True, read_only: bool = False):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.site_id = site_id
        self.recovered_from: Path | None = None
        self.read_only = read_only
        self._now = now
        self._busy_timeout_s = busy_timeout_s
        self._cache_kib = cache_kib
        self._conn: sqlite3.Connection | None = None
        if read_only or not create:
            if not self.path.is_file():
                raise NoDatabase(self.path)
        else:
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.data_dir, 0o700)   # mkdir's mode is filtered by the umask
        if read_only:
            self._conn = connect_read_only(self.path, busy_timeout_s)
            return
        self._conn = self._open(max_db_bytes, check)
        restrict_files(self.path)

    # ---- opening ------------------------------------------------------------------------

    def _open(self, max_db_bytes: int | None, check: bool) -> sqlite3.Connection:
        conn = self._connect()
        try:
            if check:
                problem = integrity_problem(conn)
                if problem is None:
                    try:
                        self._prepare(conn, max_db_bytes)
                        return conn
                    except sqlite3.DatabaseError as exc:
                        if not is_corruption(exc):
                            raise
                        problem = str(exc)   # damage quick_check did not name
                # Move the files while this connection is still open: closing the last connection
                # makes SQLite unlink -wal and -shm by name, and those may hold the only copy of data.
                self.recovered_from = move_aside(self.path, problem, self._now())
                conn.close()
                conn = self._connect()
            self._prepare(conn, max_db_bytes)
            return conn
        except BaseException:
            conn.close()
            raise

    def _prepare(self, conn: sqlite3.Connection, max_db_bytes: int | None) -> None:
        configure(conn, max_db_bytes, self._cache_kib)
        before, after = migrate(conn)
        if before == 0:
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             [("site_id", self.site_id), ("created_at", iso(self._now()))])
        else:
            row = conn.execute("SELECT value FROM meta WHERE key = 'site_id'").fetchone()
            if row and row[0] != self.site_id:
                log.warning("store %s: created for site %r, now opened as site %r",
                            self.path, row[0], self.site_id)
        if before and before != after:
            log.info("store %s: schema migrated from version %d to %d", self.path, before, after)

    def _connect(self) -> sqlite3.Connection:
        create_file(self.path)
        restrict_files(self.path)
        return connect(self.path, self._busy_timeout_s)

    # ---- plumbing -----------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"store {self.path} is closed")
        return self._conn

    @contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE ... COMMIT; rolled back on any exception."""
        if self.read_only:
            raise StoreError(f"store {self.path} is open read-only")
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass   # SQLite already rolled back after an I/O error
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]
