"""The durable record store: SQLite CDR table + outbox, written in one transaction per batch."""
from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

from appliance.calls.record import FIELD_NAMES, CallRecord, recording_from_dict
from appliance.store.schema import migrate

log = logging.getLogger("appliance.store")

DB_NAME = "appliance.db"
_SIDE_FILES = ("-wal", "-shm")

_CDR_COLS = ", ".join(FIELD_NAMES)
_INSERT_CDR = (f"INSERT OR IGNORE INTO cdr ({_CDR_COLS}, stored_at) "
               f"VALUES ({', '.join('?' * (len(FIELD_NAMES) + 1))})")
_SELECT_CDR = f"SELECT cdr.id, {', '.join('cdr.' + f for f in FIELD_NAMES)}, cdr.stored_at"
_BOOLS = tuple(FIELD_NAMES.index(f) for f in ("final_leg", "headset_lost", "interrupted"))
_MUTES = FIELD_NAMES.index("mute_intervals")
_RECORDING = FIELD_NAMES.index("recording")


CACHE_KIB = 8192


class StoreError(Exception):
    """The store cannot be used as asked (an unknown export name, a closed store)."""


@dataclass(frozen=True, slots=True)
class RejectedRaw:
    """Device input that did not parse, kept whole for inspection and replay."""
    source: str
    reason: str
    raw: bytes
    received_at: str


@dataclass(frozen=True, slots=True)
class AddResult:
    """What one `add` made durable: the new cdr ids in input order, and how many keys were known."""
    inserted: list[int]
    duplicates: int


def _is_corruption(exc: sqlite3.DatabaseError) -> bool:
    """SQLITE_CORRUPT or SQLITE_NOTADB: the file is damaged, as opposed to busy, full or too new."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) in (11, 26)


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _row_values(r: CallRecord) -> tuple:
    """A record as the cdr table's column values: nested parts as JSON text ("" when empty)."""
    values = [getattr(r, f) for f in FIELD_NAMES]
    values[_MUTES] = json.dumps(values[_MUTES]) if values[_MUTES] else ""
    rec = values[_RECORDING]
    values[_RECORDING] = json.dumps(dataclasses.asdict(rec), separators=(",", ":")) if rec else ""
    return tuple(values)


def _record_from_row(row: Sequence) -> CallRecord:
    values = list(row[1:1 + len(FIELD_NAMES)])
    for i in _BOOLS:
        values[i] = bool(values[i])
    mutes = values[_MUTES]
    values[_MUTES] = tuple((float(a), float(b)) for a, b in json.loads(mutes)) if mutes else ()
    rec = values[_RECORDING]
    values[_RECORDING] = recording_from_dict(json.loads(rec)) if rec else None
    return CallRecord(*values)


def _cdr_dict(row: Sequence) -> dict:
    out = {"id": row[0]}
    out.update(_record_from_row(row).to_dict())
    out["stored_at"] = _iso(row[1 + len(FIELD_NAMES)])
    return out


class Store:
    """One SQLite connection on `data_dir/appliance.db`, used by the thread that made it.

    Each thread opens its own Store on the same directory (WAL lets readers and one writer share
    the file). The first open of a process runs the integrity check (`check=True`); further opens
    pass `check=False` and cost only a connect. `now` is the epoch clock behind `stored_at` and
    backlog ages; `max_db_bytes` caps the file (SQLite then answers "database or disk is full").
    """

    def __init__(self, data_dir: str | Path, *, site_id: str, check: bool = True,
                 now: Callable[[], float] = time.time, max_db_bytes: int | None = None,
                 busy_timeout_s: float = 10.0, cache_kib: int = CACHE_KIB):
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / DB_NAME
        self.site_id = site_id
        self.recovered_from: Path | None = None
        self._now = now
        self._busy_timeout_s = busy_timeout_s
        self._cache_kib = cache_kib
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)   # mkdir's mode is filtered by the umask
        conn = self._open(max_db_bytes, check)
        self._conn: sqlite3.Connection | None = conn
        self._restrict_files()

    # ---- opening ------------------------------------------------------------------------

    def _open(self, max_db_bytes: int | None, check: bool) -> sqlite3.Connection:
        conn = self._connect()
        try:
            if check:
                problem = self._integrity_problem(conn)
                if problem is None:
                    try:
                        self._prepare(conn, max_db_bytes)
                        return conn
                    except sqlite3.DatabaseError as exc:
                        if not _is_corruption(exc):
                            raise
                        problem = str(exc)   # damage quick_check did not name
                # Move the files while this connection is still open: closing the last connection
                # makes SQLite unlink -wal and -shm by name, and those may hold the only copy of data.
                self.recovered_from = self._move_aside(problem)
                conn.close()
                conn = self._connect()
            self._prepare(conn, max_db_bytes)
            return conn
        except BaseException:
            conn.close()
            raise

    def _prepare(self, conn: sqlite3.Connection, max_db_bytes: int | None) -> None:
        self._configure(conn, max_db_bytes, self._cache_kib)
        before, after = migrate(conn)
        if before == 0:
            conn.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                             [("site_id", self.site_id), ("created_at", _iso(self._now()))])
        else:
            row = conn.execute("SELECT value FROM meta WHERE key = 'site_id'").fetchone()
            if row and row[0] != self.site_id:
                log.warning("store %s: created for site %r, now opened as site %r",
                            self.path, row[0], self.site_id)
        if before and before != after:
            log.info("store %s: schema migrated from version %d to %d", self.path, before, after)

    def _connect(self) -> sqlite3.Connection:
        # SQLite gives -wal and -shm the mode of the database file, so creating the file 0600
        # ourselves (instead of touching the process-wide umask) covers all three.
        # Never open+close the file once it exists: closing any descriptor of a file drops every
        # POSIX lock this process holds on it, so SQLite's locks of our other connections would
        # vanish and another process closing its connection would delete the live -wal/-shm.
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            os.close(fd)
        self._restrict_files()
        return sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_timeout_s)

    def _restrict_files(self) -> None:
        for path in [self.path] + [Path(f"{self.path}{s}") for s in _SIDE_FILES]:
            try:
                if path.stat().st_mode & 0o077:
                    os.chmod(path, 0o600)
            except FileNotFoundError:
                pass

    @staticmethod
    def _integrity_problem(conn: sqlite3.Connection) -> str | None:
        try:
            rows = [r[0] for r in conn.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as exc:
            return str(exc)
        if rows == ["ok"]:
            return None
        return "; ".join(str(r) for r in rows[:3]).replace("\n", " ")

    def _move_aside(self, problem: str) -> Path:
        stamp = datetime.fromtimestamp(self._now(), timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{DB_NAME}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{DB_NAME}.corrupt-{stamp}.{n}")
            n += 1
        os.replace(self.path, target)
        for suffix in _SIDE_FILES:
            side = Path(f"{self.path}{suffix}")
            if side.exists():
                os.replace(side, Path(f"{target}{suffix}"))
        log.error("store %s failed its integrity check (%s): moved it aside to %s and started an "
                  "empty database; nothing was deleted", self.path, problem[:200], target)
        return target

    @staticmethod
    def _configure(conn: sqlite3.Connection, max_db_bytes: int | None, cache_kib: int) -> None:
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

    # ---- plumbing -----------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"store {self.path} is closed")
        return self._conn

    @contextmanager
    def _tx(self):
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

    # ---- writer side --------------------------------------------------------------------

    def add(self, records: Sequence[CallRecord], rejected: Sequence[RejectedRaw] = ()) -> AddResult:
        """Store records (each with its outbox row) and rejected input in ONE durable transaction.

        A record whose key is already stored is counted as a duplicate, not an error.
        """
        return self.add_many([(records, rejected)])[0]

    def add_many(self, batches: Sequence[tuple[Sequence[CallRecord], Sequence[RejectedRaw]]]
                 ) -> list[AddResult]:
        """Like `add` for several callers' batches at once: one transaction, one result each."""
        stored_at = self._now()
        results = []
        with self._tx() as conn:
            last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM cdr").fetchone()[0]
            for records, rejected in batches:
                inserted: list[int] = []
                if records:
                    cur = conn.executemany(
                        _INSERT_CDR, ((*_row_values(r), stored_at) for r in records))
                    if cur.rowcount:
                        inserted = [row[0] for row in conn.execute(
                            "SELECT id FROM cdr WHERE id > ? ORDER BY id", (last,))]
                        conn.execute("INSERT INTO outbox (cdr_id) SELECT id FROM cdr WHERE id > ?", (last,))
                        last = inserted[-1]
                if rejected:
                    conn.executemany(
                        "INSERT INTO rejected_raw (source, reason, raw, received_at) VALUES (?, ?, ?, ?)",
                        ((r.source, r.reason, bytes(r.raw), r.received_at) for r in rejected))
                results.append(AddResult(inserted=inserted, duplicates=len(records) - len(inserted)))
        return results

    # ---- sync side ----------------------------------------------------------------------

    def pending(self, after_id: int = 0, limit: int = 500) -> list[tuple[int, CallRecord]]:
        """Undelivered records with cdr id > after_id, oldest first."""
        rows = self.conn.execute(
            f"{_SELECT_CDR} FROM outbox JOIN cdr ON cdr.id = outbox.cdr_id "
            "WHERE outbox.cdr_id > ? ORDER BY outbox.cdr_id LIMIT ?", (after_id, limit))
        return [(row[0], _record_from_row(row)) for row in rows]

    def mark_delivered(self, cdr_ids: Sequence[int]) -> int:
        """The central acknowledged these: drop them from the outbox. Returns how many were pending."""
        with self._tx() as conn:
            cur = conn.executemany("DELETE FROM outbox WHERE cdr_id = ?", ((int(i),) for i in cdr_ids))
            return max(cur.rowcount, 0)

    def mark_rejected(self, items: Sequence[tuple[int, str]]) -> int:
        """The central refused these for good: move them from the outbox to dead_letter with the reason."""
        now = self._now()
        moved = 0
        with self._tx() as conn:
            for cdr_id, reason in items:
                conn.execute("DELETE FROM outbox WHERE cdr_id = ?", (int(cdr_id),))
                cur = conn.execute(
                    "INSERT INTO dead_letter (cdr_id, reason, rejected_at, attempts, replayed_at) "
                    "SELECT id, ?, ?, 1, NULL FROM cdr WHERE id = ? "
                    "ON CONFLICT (cdr_id) DO UPDATE SET reason = excluded.reason, "
                    "rejected_at = excluded.rejected_at, attempts = dead_letter.attempts + 1, "
                    "replayed_at = NULL", (str(reason), now, int(cdr_id)))
                moved += cur.rowcount
        return moved

    def replay_rejected(self, cdr_ids: Sequence[int] | None = None) -> int:
        """Put dead letters (all, or the given ids) back in the outbox. Returns how many moved.

        The dead_letter row stays as history (replayed_at set) so `attempts` keeps counting.
        """
        now = self._now()
        with self._tx() as conn:
            if cdr_ids is None:
                conn.execute("INSERT OR IGNORE INTO outbox (cdr_id) "
                             "SELECT cdr_id FROM dead_letter WHERE replayed_at IS NULL")
                cur = conn.execute("UPDATE dead_letter SET replayed_at = ? WHERE replayed_at IS NULL", (now,))
                return cur.rowcount
            moved = 0
            for cdr_id in cdr_ids:
                cur = conn.execute("UPDATE dead_letter SET replayed_at = ? "
                                   "WHERE cdr_id = ? AND replayed_at IS NULL", (now, int(cdr_id)))
                if cur.rowcount:
                    conn.execute("INSERT OR IGNORE INTO outbox (cdr_id) VALUES (?)", (int(cdr_id),))
                    moved += 1
            return moved

    def backlog(self) -> tuple[int, float | None]:
        """(undelivered count, seconds since the oldest undelivered record was stored, or None)."""
        count, oldest = self.conn.execute(
            "SELECT COUNT(*), MIN(cdr.stored_at) FROM outbox JOIN cdr ON cdr.id = outbox.cdr_id").fetchone()
        return count, (None if oldest is None else max(0.0, self._now() - oldest))

    def open_pbx_legs(self, source: str, since_iso: str) -> dict[str, int]:
        """SMDR call ids of `source` (legs started at or after since_iso; "" = all) whose last stored
        leg was not final, mapped to the highest leg number stored (= legs stored)."""
        rows = self.conn.execute(
            "SELECT pbx_call_id, MAX(leg), final_leg FROM cdr "
            "WHERE source = ? AND pbx_call_id != '' AND started_at >= ? GROUP BY pbx_call_id",
            (source, since_iso))
        # SQLite takes the bare column final_leg from the row that holds MAX(leg).
        return {call_id: legs for call_id, legs, final in rows if not final}

    def records_started_since(self, since_iso: str, *, margin_s: float = 2 * 86400.0) -> Iterator[CallRecord]:
        """Every stored record whose call started at or after `since_iso` (queue figures after a
        restart). Rows are found by id: stored_at grows with id, so a binary search finds the first
        row stored `margin_s` before `since` (a call is stored after it started) without a scan."""
        since_epoch = datetime.fromisoformat(since_iso.replace("Z", "+00:00")).timestamp()
        conn = self.conn
        lo, hi = conn.execute("SELECT COALESCE(MIN(id), 1), COALESCE(MAX(id), 0) FROM cdr").fetchone()
        target = since_epoch - margin_s
        while lo < hi:
            mid = (lo + hi) // 2
            row = conn.execute("SELECT id, stored_at FROM cdr WHERE id >= ? ORDER BY id LIMIT 1", (mid,)).fetchone()
            if row is None or row[1] >= target:
                hi = mid
            else:
                lo = row[0] + 1
        cur = conn.execute(f"{_SELECT_CDR} FROM cdr WHERE cdr.id >= ? ORDER BY cdr.id", (lo,))
        since = since_iso[:19]
        while rows := cur.fetchmany(1000):
            for row in rows:
                record = _record_from_row(row)
                if record.started_at[:19] >= since:
                    yield record

    # ---- inspection ---------------------------------------------------------------------

    def stats(self) -> dict:
        conn = self.conn
        pending, age = self.backlog()
        page_bytes = conn.execute("PRAGMA page_count").fetchone()[0] * \
            conn.execute("PRAGMA page_size").fetchone()[0]
        wal = Path(f"{self.path}-wal")
        return {
            "stored": conn.execute("SELECT COUNT(*) FROM cdr").fetchone()[0],
            "pending": pending,
            "oldest_pending_age_s": None if age is None else round(age, 3),
            "dead_letter": conn.execute(
                "SELECT COUNT(*) FROM dead_letter WHERE replayed_at IS NULL").fetchone()[0],
            "rejected_raw": conn.execute("SELECT COUNT(*) FROM rejected_raw").fetchone()[0],
            "db_bytes": page_bytes + (wal.stat().st_size if wal.exists() else 0),
        }

    EXPORTS = ("cdr", "outbox", "dead_letter", "rejected_raw")

    def export(self, what: str = "cdr") -> Iterator[dict]:
        """Stream one table as JSON-safe dicts, oldest first, fetching a page at a time."""
        if what not in self.EXPORTS:
            raise StoreError(f"unknown export {what!r}: choose one of {', '.join(self.EXPORTS)}")
        return self._export(what)

    def _export(self, what: str) -> Iterator[dict]:
        if what == "cdr":
            sql, shape = f"{_SELECT_CDR} FROM cdr ORDER BY cdr.id", _cdr_dict
        elif what == "outbox":
            sql, shape = (f"{_SELECT_CDR} FROM outbox JOIN cdr ON cdr.id = outbox.cdr_id "
                          "ORDER BY outbox.cdr_id"), _cdr_dict
        elif what == "dead_letter":
            sql = (f"{_SELECT_CDR}, d.reason, d.rejected_at, d.attempts FROM dead_letter d "
                   "JOIN cdr ON cdr.id = d.cdr_id WHERE d.replayed_at IS NULL ORDER BY d.cdr_id")

            def shape(row):
                out = _cdr_dict(row)
                reason, rejected_at, attempts = row[-3:]
                out.update(reason=reason, rejected_at=_iso(rejected_at), attempts=attempts)
                return out
        else:
            sql = "SELECT id, source, reason, raw, received_at FROM rejected_raw ORDER BY id"

            def shape(row):
                raw = bytes(row[3])
                return {"id": row[0], "source": row[1], "reason": row[2], "received_at": row[4],
                        "raw_b64": base64.b64encode(raw).decode("ascii"),
                        "raw_text": raw.decode("ascii", "backslashreplace")}
        cur = self.conn.execute(sql)
        try:
            while rows := cur.fetchmany(500):
                for row in rows:
                    yield shape(row)
        finally:
            cur.close()

    # ---- self-test results --------------------------------------------------------------

    def save_selftest(self, run_id: str, started_at: str, verdict: str, report_json: str) -> None:
        with self._tx() as conn:
            conn.execute("INSERT OR REPLACE INTO selftest (run_id, started_at, verdict, report_json) "
                         "VALUES (?, ?, ?, ?)", (run_id, started_at, verdict, report_json))

    def selftests(self, limit: int = 20) -> list[dict]:
        rows = self.conn.execute("SELECT run_id, started_at, verdict, report_json FROM selftest "
                                 "ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(zip(("run_id", "started_at", "verdict", "report_json"), r)) for r in rows]

    @property
    def schema_version(self) -> int:
        return self.conn.execute("PRAGMA user_version").fetchone()[0]
