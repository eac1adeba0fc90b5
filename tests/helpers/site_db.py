"""Read the site's store from a test the way an operator would: read-only, never creating a file."""
from __future__ import annotations

import sqlite3
from pathlib import Path


def site_rows(data_dir: Path, sql: str, args=()) -> list[sqlite3.Row]:
    """Rows of `sql` on DATA_DIR/appliance.db (by index or by name); [] while the database or its
    tables do not exist yet (the daemon is still starting)."""
    path = Path(data_dir) / "appliance.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def cdr_rows(data_dir: Path, source: str | None = None) -> list[dict]:
    """Every stored call record (of one source), in id order, as dicts."""
    where, args = ("WHERE source = ?", (source,)) if source else ("", ())
    return [dict(r) for r in site_rows(data_dir, f"SELECT * FROM cdr {where} ORDER BY id", args)]
