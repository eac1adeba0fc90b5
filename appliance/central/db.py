"""The central's SQLite store: one row per (site_id, key) record and per (site_id, run_id) self-test."""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

SCHEMA_VERSION = 1
_MAX_PARAMS = 500   # keys per "IN (...)" lookup; well under SQLite's bound-parameter limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    site_id     TEXT NOT NULL,
    key         TEXT NOT NULL,
    received_at TEXT NOT NULL,        -- RFC 3339 UTC, when the central committed it
    started_at  TEXT NOT NULL,
    source      TEXT NOT NULL,
    direction   INTEGER NOT NULL,     -- appliance.v1.Direction
    disposition INTEGER NOT NULL,     -- appliance.v1.Disposition
    pbx_call_id TEXT NOT NULL,
    payload     BLOB NOT NULL,        -- serialized appliance.v1.CallRecord, the whole record
    PRIMARY KEY (site_id, key)
);
CREATE INDEX IF NOT EXISTS records_by_start ON records (site_id, started_at);
CREATE TABLE IF NOT EXISTS selftests (
    site_id     TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    received_at TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    verdict     INTEGER NOT NULL,     -- appliance.v1.CheckStatus
    payload     BLOB NOT NULL,        -- serialized appliance.v1.SelfTestReport
    PRIMARY KEY (site_id, run_id)
);
"""


class RecordRow(NamedTuple):
    """One validated record ready to insert (a tuple so executemany binds it without conversion)."""
    key: str
    started_at: str
    source: str
    direction: int
    disposition: int
    pbx_call_id: str
    payload: bytes


@dataclass(frozen=True)
class StoredRecord:
    site_id: str
    key: str
    received_at: str
    payload: bytes


@dataclass(frozen=True)
class StoredSelfTest:
    site_id: str
    run_id: str
    received_at: str
    payload: bytes


class CentralDbError(Exception):
    """The central's database cannot be used (missing, made by a newer central, not a central db)."""


class CentralDb:
    """A connection to the central's database. Not thread-safe: the server keeps it on one thread."""

    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = os.fspath(path)
        if not create and not os.path.exists(self.path):
            raise CentralDbError(f"no central database at {self.path}")
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is exactly one transaction.
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise CentralDbError(f"cannot open {self.path}: {exc}") from exc
        try:
            self._conn.execute("PRAGMA busy_timeout = 5000")
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise CentralDbError(f"{self.path} has schema v{version}; this central knows up to v{SCHEMA_VERSION}")
            if not create and version == 0:
                raise CentralDbError(f"{self.path} is not a central database")
            mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise CentralDbError(f"{self.path}: cannot switch to WAL journal (got {mode})")
            self._conn.execute("PRAGMA synchronous = FULL")   # COMMIT returns only after fsync
            if create:
                self._conn.executescript(_SCHEMA)
                self._conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except CentralDbError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise CentralDbError(f"{self.path}: {exc}") from exc

    def store_records(self, site_id: str, received_at: str, rows: Sequence[RecordRow]) -> list[bool]:
        """Insert rows in one transaction; returns, per row, True if new and False if (site_id, key) existed.

        A key repeated inside the batch counts as new once. Returns only after COMMIT (fsync'd).
        """
        if not rows:
            return []
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            keys = [row.key for row in rows]
            existing: set[str] = set()
            for start in range(0, len(keys), _MAX_PARAMS):
                chunk = keys[start:start + _MAX_PARAMS]
                marks = ",".join("?" * len(chunk))
                existing.update(k for (k,) in conn.execute(
                    f"SELECT key FROM records WHERE site_id = ? AND key IN ({marks})", (site_id, *chunk)))
            fresh: list[tuple] = []
            is_new: list[bool] = []
            for row in rows:
                if row.key in existing:
                    is_new.append(False)
                else:
                    existing.add(row.key)
                    is_new.append(True)
                    fresh.append((site_id, row.key, received_at, *row[1:]))
            # Plain INSERT: duplicates were filtered above under the write lock, so any constraint failure
            # here is a real error and must roll back the batch rather than be skipped and acked.
            conn.executemany(
                "INSERT INTO records (site_id, key, received_at, started_at, source, direction,"
                " disposition, pbx_call_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", fresh)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return is_new

    def store_selftest(self, site_id: str, run_id: str, received_at: str, started_at: str,
                       verdict: int, payload: bytes) -> bool:
        """Store one self-test report; False if (site_id, run_id) was already stored."""
        cur = self._conn.execute(
            "INSERT OR IGNORE INTO selftests (site_id, run_id, received_at, started_at, verdict, payload)"
            " VALUES (?, ?, ?, ?, ?, ?)", (site_id, run_id, received_at, started_at, verdict, payload))
        return cur.rowcount == 1

    def records(self, site_id: str | None = None) -> Iterator[StoredRecord]:
        """Every stored record in arrival order (optionally one site's)."""
        sql = "SELECT site_id, key, received_at, payload FROM records"
        params: tuple = ()
        if site_id is not None:
            sql += " WHERE site_id = ?"
            params = (site_id,)
        for row in self._conn.execute(sql + " ORDER BY rowid", params):
            yield StoredRecord(*row)

    def selftests(self) -> Iterator[StoredSelfTest]:
        for row in self._conn.execute(
                "SELECT site_id, run_id, received_at, payload FROM selftests ORDER BY rowid"):
            yield StoredSelfTest(*row)

    def count_records(self, site_id: str | None = None) -> int:
        if site_id is None:
            return self._conn.execute("SELECT count(*) FROM records").fetchone()[0]
        return self._conn.execute("SELECT count(*) FROM records WHERE site_id = ?", (site_id,)).fetchone()[0]

    def close(self) -> None:
        self._conn.close()
