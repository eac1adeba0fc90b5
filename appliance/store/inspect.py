"""Looking into the store: counts for `outbox stats`, table exports, self-test runs, salvage reports."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Iterator

from appliance.store.errors import StoreError
from appliance.store.rows import SELECT_CDR, cdr_dict, iso


class InspectionMixin:
    """Read side of Store for operators and the self-test (needs `conn`, `transaction()`, `path`, `_now`)."""

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
            sql, shape = f"{SELECT_CDR} FROM cdr ORDER BY cdr.id", cdr_dict
        elif what == "outbox":
            sql, shape = (f"{SELECT_CDR} FROM outbox JOIN cdr ON cdr.id = outbox.cdr_id "
                          "ORDER BY outbox.cdr_id"), cdr_dict
        elif what == "dead_letter":
            sql = (f"{SELECT_CDR}, d.reason, d.rejected_at, d.attempts FROM dead_letter d "
                   "JOIN cdr ON cdr.id = d.cdr_id WHERE d.replayed_at IS NULL ORDER BY d.cdr_id")

            def shape(row):
                out = cdr_dict(row)
                reason, rejected_at, attempts = row[-3:]
                out.update(reason=reason, rejected_at=iso(rejected_at), attempts=attempts)
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
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO selftest (run_id, started_at, verdict, report_json) "
                         "VALUES (?, ?, ?, ?)", (run_id, started_at, verdict, report_json))

    def selftests(self, limit: int = 20) -> list[dict]:
        rows = self.conn.execute("SELECT run_id, started_at, verdict, report_json FROM selftest "
                                 "ORDER BY id DESC LIMIT ?", (limit,))
        return [dict(zip(("run_id", "started_at", "verdict", "report_json"), r)) for r in rows]

    # ---- salvage reports ----------------------------------------------------------------

    def salvage_reports(self, *, unacknowledged_only: bool = True) -> list[dict]:
        """What each salvage of a damaged database recovered and lost, newest first."""
        sql = "SELECT id, source, salvaged_at, outcome, report_json, acknowledged_at FROM salvage"
        if unacknowledged_only:
            sql += " WHERE acknowledged_at IS NULL"
        out = []
        for rid, source, at, outcome, report, acked in self.conn.execute(sql + " ORDER BY id DESC"):
            entry = {"id": rid, "source": source, "salvaged_at": iso(at), "outcome": outcome,
                     "acknowledged_at": iso(acked)}
            entry.update(json.loads(report))
            out.append(entry)
        return out

    def salvaged_sources(self) -> set[str]:
        return {row[0] for row in self.conn.execute("SELECT source FROM salvage")}

    def acknowledge_salvage(self, ids: list[int] | None = None) -> int:
        """An operator has seen these salvage reports (all when ids is None). Returns how many."""
        now = self._now()
        with self.transaction() as conn:
            if ids is None:
                return conn.execute("UPDATE salvage SET acknowledged_at = ? WHERE acknowledged_at IS NULL",
                                    (now,)).rowcount
            return sum(conn.execute("UPDATE salvage SET acknowledged_at = ? "
                                    "WHERE id = ? AND acknowledged_at IS NULL", (now, int(i))).rowcount
                       for i in ids)
