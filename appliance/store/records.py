"""The store's records and outbox: add (CDR + outbox row in one transaction), pending, acks, dead letters."""
from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import chain
from datetime import datetime
from typing import Iterator, Sequence

from appliance.calls.record import CallRecord
from appliance.store.rows import ROWS_PER_INSERT, SELECT_CDR, Serialize, cdr_row, insert_cdr_rows, record_from_row


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


class RecordsMixin:
    """Writer and sync side of Store (needs `conn`, `transaction()` and `_now`)."""

    # ---- writer side --------------------------------------------------------------------

    def add(self, records: Sequence[CallRecord], rejected: Sequence[RejectedRaw] = (), *,
            serialize: Serialize | None = None) -> AddResult:
        """Store records (each with its outbox row) and rejected input in ONE durable transaction.

        A record whose key is already stored is counted as a duplicate, not an error. With
        `serialize`, each record's wire bytes are stored beside it (cdr.payload) for the sync.
        """
        return self.add_many([(records, rejected)], serialize=serialize)[0]

    def add_many(self, batches: Sequence[tuple[Sequence[CallRecord], Sequence[RejectedRaw]]], *,
                 serialize: Serialize | None = None) -> list[AddResult]:
        """Like `add` for several callers' batches at once: one transaction, one result each."""
        stored_at = self._now()
        results = []
        # Rows (and their wire bytes) are built before the write lock is taken: Python work inside
        # the transaction would hold every other writer of the database back for as long.
        rows = [[cdr_row(r, stored_at, serialize) for r in records] for records, _ in batches]
        with self.transaction() as conn:
            last = conn.execute("SELECT COALESCE(MAX(id), 0) FROM cdr").fetchone()[0]
            for (records, rejected), batch_rows in zip(batches, rows):
                inserted: list[int] = []
                if records:
                    added = insert_rows(conn, batch_rows)
                    if added:
                        inserted = new_ids(conn, last, added)
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
            f"{SELECT_CDR} FROM outbox JOIN cdr ON cdr.id = outbox.cdr_id "
            "WHERE outbox.cdr_id > ? ORDER BY outbox.cdr_id LIMIT ?", (after_id, limit))
        return [(row[0], record_from_row(row)) for row in rows]

    def pending_payloads(self, after_id: int = 0, limit: int = 500) -> list[tuple[int, str, bytes | None]]:
        """Undelivered (cdr id, key, wire bytes) with id > after_id, oldest first; the bytes are
        None for rows stored without them (before schema 6, or not encodable): use `pending`.

        The rows come back aggregated into one result row: Python's sqlite3 releases the GIL for
        every row it steps through, and each time may wait up to a switch interval (5 ms) to get
        it back from the busy event loop thread; one step per batch waits once."""
        ids, keys, sizes, blob = self.conn.execute(
            "SELECT json_group_array(id), json_group_array(key), group_concat(size), group_concat(hexed, '') "
            "FROM (SELECT cdr.id AS id, cdr.key AS key, ifnull(length(cdr.payload), -1) AS size, "
            "      ifnull(hex(cdr.payload), '') AS hexed "
            "      FROM outbox JOIN cdr ON cdr.id = outbox.cdr_id "
            "      WHERE outbox.cdr_id > ? ORDER BY outbox.cdr_id LIMIT ?)", (after_id, limit)).fetchone()
        if sizes is None:
            return []
        data = bytes.fromhex(blob)
        rows, at = [], 0
        for cdr_id, key, size in zip(json.loads(ids), json.loads(keys), map(int, sizes.split(","))):
            if size < 0:
                rows.append((cdr_id, key, None))
            else:
                rows.append((cdr_id, key, data[at:at + size]))
                at += size
        rows.sort()            # the aggregates' order follows the ordered subquery; do not rely on it
        return rows

    def mark_delivered(self, cdr_ids: Sequence[int]) -> int:
        """The central acknowledged these: drop them from the outbox. Returns how many were pending.

        Consecutive ids (the usual acknowledged batch) go as one range delete each."""
        with self.transaction() as conn:
            return sum(max(conn.execute("DELETE FROM outbox WHERE cdr_id BETWEEN ? AND ?", run).rowcount, 0)
                       for run in id_runs(cdr_ids))

    def mark_rejected(self, items: Sequence[tuple[int, str]]) -> int:
        """The central refused these for good: move them from the outbox to dead_letter with the reason."""
        now = self._now()
        moved = 0
        with self.transaction() as conn:
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
        with self.transaction() as conn:
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
        # stored_at grows with id, so the oldest undelivered record is the lowest id in the outbox:
        # no join over the whole backlog (this runs about once a second during a drain).
        count, first = self.conn.execute("SELECT COUNT(*), MIN(cdr_id) FROM outbox").fetchone()
        row = None if first is None else self.conn.execute(
            "SELECT stored_at FROM cdr WHERE id = ?", (first,)).fetchone()
        return count, (None if row is None else max(0.0, self._now() - row[0]))

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
        cur = conn.execute(f"{SELECT_CDR} FROM cdr WHERE cdr.id >= ? ORDER BY cdr.id", (lo,))
        since = since_iso[:19]
        while rows := cur.fetchmany(1000):
            for row in rows:
                record = record_from_row(row)
                if record.started_at[:19] >= since:
                    yield record


def insert_rows(conn, rows: list[tuple]) -> int:
    """Insert cdr rows (`cdr_row`'s, INSERT OR IGNORE) in order; returns how many were new.

    Rows of one width go ROWS_PER_INSERT per statement, the rest in power-of-two statements: a
    handful of statement shapes, each prepared once and then found in sqlite3's statement cache."""
    added = start = 0
    while start < len(rows):
        width = len(rows[start])
        end = start + 1
        while end < len(rows) and end - start < ROWS_PER_INSERT and len(rows[end]) == width:
            end += 1
        n = end - start if end - start == ROWS_PER_INSERT else 1 << ((end - start).bit_length() - 1)
        cur = conn.execute(insert_cdr_rows(n, width), list(chain.from_iterable(rows[start:start + n])))
        added += max(cur.rowcount, 0)
        start += n
    return added


def new_ids(conn, last: int, added: int) -> list[int]:
    """Ids of the rows just inserted after id `last`. In our write transaction SQLite gives each new
    row MAX(id) + 1, so they are last+1 .. last+added; read them back only if that ever is not so."""
    if conn.execute("SELECT MAX(id) FROM cdr").fetchone()[0] == last + added:
        return list(range(last + 1, last + added + 1))
    return [row[0] for row in conn.execute("SELECT id FROM cdr WHERE id > ? ORDER BY id", (last,))]


def id_runs(ids: Sequence[int]) -> list[tuple[int, int]]:
    """Sorted, de-duplicated ids as (first, last) runs of consecutive integers: [1,2,3,7] -> [(1,3),(7,7)]."""
    runs: list[tuple[int, int]] = []
    ordered = sorted({int(i) for i in ids})
    if not ordered:
        return runs
    first = prev = ordered[0]
    for i in ordered[1:]:
        if i != prev + 1:
            runs.append((first, prev))
            first = i
        prev = i
    runs.append((first, prev))
    return runs
