"""The central store in one SQLite file (WAL, synchronous=FULL): the embedded default for one central process."""
from __future__ import annotations

import functools
import itertools
import os
import sqlite3
from collections.abc import Iterator, Sequence

from appliance.central.store import (LIVE_KINDS, CentralStore, LiveRow, RecordBatch, RecordingRow, StoredLive,
                                     StoredRecord, StoredSelfTest, StoreError, StoreUnavailable, finish_is_new)

# Version n is reached by running MIGRATIONS[n - 1] (in one transaction) on a database at version n - 1.
MIGRATIONS = (
    # v1: records and self-tests (the first reference central).
    """
    CREATE TABLE records (
        site_id TEXT NOT NULL, key TEXT NOT NULL, received_at TEXT NOT NULL, started_at TEXT NOT NULL,
        source TEXT NOT NULL, direction INTEGER NOT NULL, disposition INTEGER NOT NULL,
        pbx_call_id TEXT NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (site_id, key));
    CREATE INDEX records_by_start ON records (site_id, started_at);
    CREATE TABLE selftests (
        site_id TEXT NOT NULL, run_id TEXT NOT NULL, received_at TEXT NOT NULL, started_at TEXT NOT NULL,
        verdict INTEGER NOT NULL, payload BLOB NOT NULL, PRIMARY KEY (site_id, run_id));
    """,
    # v2: records keep only what de-duplication and arrival order need (every extra column or index
    # is paid on every record; the payload has all fields); live events, statistics, recordings.
    """
    DROP INDEX records_by_start;
    ALTER TABLE records DROP COLUMN source;
    ALTER TABLE records DROP COLUMN direction;
    ALTER TABLE records DROP COLUMN disposition;
    ALTER TABLE records DROP COLUMN pbx_call_id;
    CREATE TABLE live_events (
        id INTEGER PRIMARY KEY, site_id TEXT NOT NULL, site_seq INTEGER NOT NULL, at TEXT NOT NULL,
        kind TEXT NOT NULL, queue TEXT NOT NULL, received_at TEXT NOT NULL, payload BLOB NOT NULL);
    CREATE TABLE site_snapshots (
        site_id TEXT PRIMARY KEY, updated_at TEXT NOT NULL, payload BLOB NOT NULL);
    CREATE TABLE recordings (
        site_id TEXT NOT NULL, call_key TEXT NOT NULL, segment_index INTEGER NOT NULL, name TEXT NOT NULL,
        size INTEGER NOT NULL, sha256 TEXT NOT NULL, path TEXT NOT NULL, stored_at TEXT NOT NULL,
        PRIMARY KEY (site_id, call_key, segment_index));
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)
_ROWS_PER_STATEMENT = 2000      # 3 parameters a row: far below SQLite's 32766


@functools.lru_cache(maxsize=64)
def _insert_sql(rows: int, returning: bool) -> str:
    """?1 = site_id and ?2 = received_at are bound once; each row adds (key, started_at, payload)."""
    values = ",".join(f"(?1,?{3 * i + 3},?2,?{3 * i + 4},?{3 * i + 5})" for i in range(rows))
    sql = f"INSERT INTO records (site_id, key, received_at, started_at, payload) VALUES {values}"
    return f"{sql} ON CONFLICT DO NOTHING RETURNING key" if returning else sql


def _insert(conn: sqlite3.Connection, site_id: str, received_at: str, batch: RecordBatch) -> list[bool]:
    """Per statement of up to _ROWS_PER_STATEMENT rows, optimistic first: a plain INSERT either stores
    every row (all new) or fails on the (site_id, key) key and, by SQLite's statement atomicity, stores
    none; then INSERT ... ON CONFLICT DO NOTHING RETURNING key says which rows were new."""
    keys = batch.keys
    flat = itertools.chain.from_iterable(zip(keys, batch.started_at, batch.payloads))
    is_new: list[bool] = []
    for start in range(0, len(keys), _ROWS_PER_STATEMENT):
        rows = min(_ROWS_PER_STATEMENT, len(keys) - start)
        params = [site_id, received_at, *itertools.islice(flat, 3 * rows)]
        try:
            conn.execute(_insert_sql(rows, False), params)
            is_new += [True] * rows
        except sqlite3.IntegrityError:
            inserted = [key for (key,) in conn.execute(_insert_sql(rows, True), params)]
            is_new += finish_is_new(keys[start:start + rows], inserted)
    return is_new


class SqliteStore(CentralStore):
    backend = "sqlite"

    def __init__(self, path: str | os.PathLike, *, create: bool = True):
        self.path = self.location = os.fspath(path)
        if not create and not os.path.exists(self.path):
            raise StoreError(f"no central database at {self.path}")
        if create and not os.path.exists(self.path):
            # Created 0600 (SQLite's -wal and -shm take the database's mode): records are personal data.
            try:
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
            except FileExistsError:
                pass
            except OSError as exc:
                raise StoreError(f"cannot open {self.path}: {exc}") from exc
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a batch is exactly one transaction.
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                         cached_statements=256)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open {self.path}: {exc}") from exc
        try:
            self._open(create)
        except StoreError:
            self._conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise StoreError(f"{self.path}: {exc}") from exc

    def _open(self, create: bool) -> None:
        conn = self._conn
        conn.execute("PRAGMA busy_timeout = 10000")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema v{version}; this central knows up to v{SCHEMA_VERSION}")
        if not create and version == 0:
            raise StoreError(f"{self.path} is not a central database")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{self.path}: cannot switch to WAL journal (got {mode})")
        conn.execute("PRAGMA synchronous = FULL")      # COMMIT returns only after fsync
        conn.execute("PRAGMA cache_size = -16384")     # 16 MiB: the tail of the key index stays hot
        if version < SCHEMA_VERSION:
            if not create:
                raise StoreError(f"{self.path} has schema v{version}; run `central serve` once to upgrade it")
            self._migrate()

    def _migrate(self) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")     # one process migrates; the others wait, then see the new version
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # ---- writing -------------------------------------------------------------------------

    def _write(self, work):
        """Run work(conn) in one IMMEDIATE transaction; any database error rolls it back -> StoreUnavailable."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc
        return result

    def store_batches(self, received_at: str, batches: Sequence[tuple[str, RecordBatch]]) -> list[list[bool]]:
        return self._write(lambda conn: [_insert(conn, site_id, received_at, batch) for site_id, batch in batches])

    def store_selftest(self, site_id: str, run_id: str, received_at: str, started_at: str,
                       verdict: int, payload: bytes) -> bool:
        return self._write(lambda conn: conn.execute(
            "INSERT INTO selftests (site_id, run_id, received_at, started_at, verdict, payload)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (site_id, run_id, received_at, started_at, verdict, payload)).rowcount == 1)

    def store_live(self, received_at: str, rows: Sequence[LiveRow], snapshots: dict[str, bytes],
                   origin: str) -> None:
        def write(conn: sqlite3.Connection) -> None:
            conn.executemany("INSERT INTO live_events (site_id, site_seq, at, kind, queue, received_at, payload)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?)", [(*row[:5], received_at, row.payload) for row in rows])
            conn.executemany("INSERT INTO site_snapshots (site_id, updated_at, payload) VALUES (?, ?, ?)"
                             " ON CONFLICT (site_id) DO UPDATE SET updated_at = excluded.updated_at,"
                             " payload = excluded.payload",
                             [(site, received_at, payload) for site, payload in snapshots.items()])
        # Live events are state, not records: no fsync of their own (WAL + NORMAL never corrupts; the next
        # record commit or checkpoint makes them durable; the site's next snapshot restores a lost moment).
        self._conn.execute("PRAGMA synchronous = NORMAL")
        try:
            self._write(write)
        finally:
            self._conn.execute("PRAGMA synchronous = FULL")

    def store_recording(self, row: RecordingRow) -> bool:
        return self._write(lambda conn: conn.execute(
            "INSERT INTO recordings (site_id, call_key, segment_index, name, size, sha256, path, stored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", tuple(row)).rowcount == 1)

    # ---- reading -------------------------------------------------------------------------

    def _read(self, sql: str, params: tuple = ()) -> list[tuple]:
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"{self.path}: {exc}") from exc

    def record_payload(self, site_id: str, key: str) -> bytes | None:
        rows = self._read("SELECT payload FROM records WHERE site_id = ? AND key = ?", (site_id, key))
        return rows[0][0] if rows else None

    def recording(self, site_id: str, call_key: str, segment_index: int) -> RecordingRow | None:
        rows = self._read("SELECT site_id, call_key, segment_index, name, size, sha256, path, stored_at"
                          " FROM recordings WHERE site_id = ? AND call_key = ? AND segment_index = ?",
                          (site_id, call_key, segment_index))
        return RecordingRow(*rows[0]) if rows else None

    def site_snapshots(self) -> dict[str, bytes]:
        return dict(self._read("SELECT site_id, payload FROM site_snapshots"))

    def live_payload(self, event_id: int) -> bytes | None:
        rows = self._read("SELECT payload FROM live_events WHERE id = ?", (event_id,))
        return rows[0][0] if rows else None

    def ping(self) -> None:
        self._read("SELECT count(*) FROM sqlite_master")

    def _site_filter(self, sql: str, site_id: str | None, order: str) -> Iterator[tuple]:
        if site_id is None:
            return self._conn.execute(f"{sql} ORDER BY {order}")
        return self._conn.execute(f"{sql} WHERE site_id = ? ORDER BY {order}", (site_id,))

    def records(self, site_id: str | None = None) -> Iterator[StoredRecord]:
        for row in self._site_filter("SELECT site_id, key, received_at, payload FROM records", site_id, "rowid"):
            yield StoredRecord(*row)

    def selftests(self, site_id: str | None = None) -> Iterator[StoredSelfTest]:
        for row in self._site_filter("SELECT site_id, run_id, received_at, payload FROM selftests", site_id,
                                     "rowid"):
            yield StoredSelfTest(*row)

    def live_events(self, site_id: str | None = None, kinds: Sequence[str] = LIVE_KINDS) -> Iterator[StoredLive]:
        wanted = set(kinds)
        for row in self._site_filter("SELECT id, site_id, site_seq, at, kind, received_at, payload"
                                     " FROM live_events", site_id, "id"):
            if row[4] in wanted:
                yield StoredLive(*row)

    def recordings(self, site_id: str | None = None) -> Iterator[RecordingRow]:
        for row in self._site_filter("SELECT site_id, call_key, segment_index, name, size, sha256, path, stored_at"
                                     " FROM recordings", site_id, "stored_at, site_id, call_key, segment_index"):
            yield RecordingRow(*row)

    def count_records(self, site_id: str | None = None) -> int:
        if site_id is None:
            return self._read("SELECT count(*) FROM records")[0][0]
        return self._read("SELECT count(*) FROM records WHERE site_id = ?", (site_id,))[0][0]

    def close(self) -> None:
        self._conn.close()
