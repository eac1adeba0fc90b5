"""Salvage a database moved aside as corrupt: every readable record, outbox row, dead letter and rejected
input goes into the live store, undelivered records are re-queued, and a report says what was lost."""
from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from appliance.calls.record import FIELD_NAMES
from appliance.store.pages import PageError, PageReader, Walk
from appliance.store.rows import INSERT_CDR, record_from_row, row_values
from appliance.store.schema import migrate

log = logging.getLogger("appliance.store")

_TABLES = ("cdr", "outbox", "dead_letter", "rejected_raw", "retired")
LOST_IDS_SHOWN = 20


@lru_cache(maxsize=None)
def _columns(table: str) -> tuple[tuple[str, object], ...]:
    """(name, default) of each column of `table` in the current schema, in table order."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(conn)
        cols = []
        for _cid, name, _type, _notnull, default, _pk in conn.execute(f"PRAGMA table_info({table})"):
            value = None
            if default is not None:
                value = conn.execute(f"SELECT {default}").fetchone()[0]
            cols.append((name, value))
        return tuple(cols)
    finally:
        conn.close()


def _as_columns(table: str, rowid: int, values: list) -> dict:
    """A row's values by column name; columns added after the row was written take their default."""
    cols = _columns(table)
    if len(values) > len(cols):
        raise PageError(f"{len(values)} values for {len(cols)} columns")
    out = {name: (values[i] if i < len(values) else default) for i, (name, default) in enumerate(cols)}
    out[cols[0][0]] = rowid                     # the INTEGER PRIMARY KEY is the rowid
    return out


def _shape(values: list) -> str | None:
    """Which of our tables a row found on an orphaned page belongs to, by its shape."""
    if not values or values[0] is not None:
        return None
    if len(values) >= 26 and isinstance(values[1], str):
        return "cdr"
    if len(values) == 1:
        return "outbox"
    if len(values) == 5 and isinstance(values[3], bytes):
        return "rejected_raw"
    if len(values) == 5 and isinstance(values[1], str) and isinstance(values[2], (int, float)) \
            and isinstance(values[3], int):
        return "dead_letter"
    return None


@dataclass
class Recovered:
    """Rows read from a damaged file, by table: rowid -> values."""
    rows: dict[str, dict[int, list]] = field(default_factory=lambda: {t: {} for t in _TABLES})
    outbox_intact: bool = False          # the outbox b-tree read whole: it says exactly what was pending
    retired_intact: bool = True          # the retired b-tree (ids retention deleted) read whole, or absent
    unreadable_pages: int = 0
    bad_cells: int = 0
    wal_frames: int = 0


def read_damaged(path: Path) -> Recovered:
    """Walk every b-tree named in the file's schema, then read leaf pages no walk reached."""
    reader = PageReader(path, Path(f"{path}-wal"))
    found = Recovered(wal_frames=reader.wal_frames, unreadable_pages=0 if reader.header_ok else 1)
    schema = reader.schema()
    reached: set[int] = {1}
    for name, (_kind, root) in schema.items():
        walk = reader.walk(root)
        reached |= walk.pages
        found.unreadable_pages += len(walk.bad_pages)
        found.bad_cells += walk.bad_cells
        if name in _TABLES:
            found.rows[name].update(walk.rows)
            if name == "outbox":
                found.outbox_intact = not walk.bad_pages and not walk.bad_cells
            if name == "retired":
                found.retired_intact = not walk.bad_pages and not walk.bad_cells
    free = reader.freelist()
    for pgno in range(1, reader.page_count + 1):
        if pgno in reached or pgno in free:
            continue
        orphan = Walk()
        try:
            reader.leaf_rows(pgno, orphan)
        except PageError:
            continue                            # overflow, index, free or damaged page
        for rowid, values in orphan.rows.items():
            table = _shape(values)
            if table is not None:
                found.rows[table].setdefault(rowid, values)
    return found


def salvage_into(store, source: Path, *, chunk: int = 2000) -> dict:
    """Recover `source` into `store` (idempotent: keys decide) and keep a report; returns the report."""
    source = Path(source).resolve()
    found = read_damaged(source)
    records, unusable = [], 0
    for old_id in sorted(found.rows["cdr"]):
        try:
            row = _as_columns("cdr", old_id, found.rows["cdr"][old_id])
            record = record_from_row([old_id, *(row[f] for f in FIELD_NAMES)])
            records.append((old_id, record, float(row["stored_at"])))
        except (PageError, TypeError, ValueError, KeyError) as exc:   # noqa: PERF203
            unusable += 1
            log.debug("salvage %s: record %d unusable: %s", source, old_id, exc)
    dead = {}
    for cdr_id, values in found.rows["dead_letter"].items():
        try:
            dead[cdr_id] = _as_columns("dead_letter", cdr_id, values)
        except PageError:
            pass
    recovered_ids = {old_id for old_id, _, _ in records}
    outbox = set(found.rows["outbox"])
    if found.outbox_intact:
        requeue = outbox & recovered_ids
    else:   # a lost outbox page leaves no trace: send again whatever is not known dead-lettered
        requeue = recovered_ids - {i for i, d in dead.items() if d["replayed_at"] is None}
    new_ids: dict[int, int] = {}
    inserted = 0
    for start in range(0, len(records), chunk):
        part = records[start:start + chunk]
        with store.transaction() as conn:
            cur = conn.executemany(INSERT_CDR, ((*row_values(r), at) for _, r, at in part))
            inserted += max(cur.rowcount, 0)
            for old_id, record, _ in part:
                new_ids[old_id] = conn.execute("SELECT id FROM cdr WHERE key = ?", (record.key,)).fetchone()[0]
    with store.transaction() as conn:
        conn.executemany("INSERT OR IGNORE INTO outbox (cdr_id) VALUES (?)",
                         ((new_ids[i],) for i in sorted(requeue)))
        conn.executemany(
            "INSERT INTO dead_letter (cdr_id, reason, rejected_at, attempts, replayed_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (cdr_id) DO NOTHING",
            ((new_ids[i], d["reason"], d["rejected_at"], d["attempts"], d["replayed_at"])
             for i, d in dead.items() if i in new_ids))
        rejected = 0
        for rid in sorted(found.rows["rejected_raw"]):
            try:
                r = _as_columns("rejected_raw", rid, found.rows["rejected_raw"][rid])
            except PageError:
                continue
            rejected += conn.execute(
                "INSERT INTO rejected_raw (source, reason, raw, received_at) SELECT ?, ?, ?, ? "
                "WHERE NOT EXISTS (SELECT 1 FROM rejected_raw WHERE source = ? AND received_at = ? AND raw = ?)",
                (r["source"], r["reason"], r["raw"], r["received_at"],
                 r["source"], r["received_at"], r["raw"])).rowcount
        highest = max([0, *found.rows["cdr"], *outbox, *dead])
        retired = _retired_ids(found.rows["retired"])
        missing = sorted(set(range(1, highest + 1)) - recovered_ids - retired)
        report = {
            "file": str(source),
            "records_recovered": len(records), "records_new": inserted, "requeued": len(requeue),
            "dead_letters": len(dead), "rejected_raw": rejected,
            "records_lost": len(missing), "records_retired": len(retired),
            "retired_known": found.retired_intact,
            "pending_lost": len(outbox - recovered_ids),
            "lost_ids": missing[:LOST_IDS_SHOWN],
            "unreadable_pages": found.unreadable_pages, "bad_cells": found.bad_cells,
            "outbox_intact": found.outbox_intact, "wal_frames": found.wal_frames,
        }
        outcome = "complete" if not missing and not found.unreadable_pages else "partial"
        _save_report(conn, source, store._now(), outcome, report)
    log.warning("salvage of %s: %s", source, describe(dict(report, outcome=outcome)))
    return dict(report, outcome=outcome)


def _retired_ids(runs: dict[int, list]) -> set[int]:
    """The ids retention deleted on purpose, from the retired table's rows (rowid lo, values [None, hi])."""
    ids: set[int] = set()
    for lo, values in runs.items():
        hi = values[1] if len(values) > 1 else None
        if isinstance(hi, int) and lo <= hi:
            ids.update(range(lo, hi + 1))
    return ids


def record_failure(store, source: Path, error: str) -> dict:
    """Keep a salvage that could not read the file at all, so it is shown until acknowledged."""
    source = Path(source).resolve()
    report = {"file": str(source), "error": error}
    with store.transaction() as conn:
        _save_report(conn, source, store._now(), "failed", report)
    log.error("salvage of %s failed: %s", source, error)
    return dict(report, outcome="failed")


def _save_report(conn, source: Path, now: float, outcome: str, report: dict) -> None:
    conn.execute("INSERT INTO salvage (source, salvaged_at, outcome, report_json, acknowledged_at) "
                 "VALUES (?, ?, ?, ?, NULL) ON CONFLICT (source) DO UPDATE SET "
                 "salvaged_at = excluded.salvaged_at, outcome = excluded.outcome, "
                 "report_json = excluded.report_json, acknowledged_at = NULL",
                 (str(source), now, outcome, json.dumps(report)))


def describe(report: dict) -> str:
    """One line for logs, status and the self-test."""
    name = Path(report.get("file", "?")).name
    if report.get("outcome") == "failed":
        return f"{name}: nothing recovered ({report.get('error', 'unreadable')})"
    text = (f"{name}: {report['records_recovered']} record(s) recovered, {report['requeued']} re-queued "
            f"for the central")
    if report["records_lost"] or report["pending_lost"]:
        text += (f"; {report['records_lost']} record(s) not recovered ({report['pending_lost']} of them "
                 f"known to be waiting to be sent)")
        if not report.get("retired_known", True):
            text += " (an upper bound: the list of records retention deleted was damaged too)"
    elif report["unreadable_pages"]:
        text += f"; {report['unreadable_pages']} unreadable page(s), no record known lost"
    else:
        text += "; nothing lost"
    return text
