"""The central's SQLite store on real files: new vs duplicate per (site_id, key), all-or-nothing batches."""
from __future__ import annotations

from contextlib import closing
import sqlite3

import pytest

from appliance.central.db import CentralDb, CentralDbError, RecordRow


def row(key: str, payload: bytes | None = b"payload") -> RecordRow:
    return RecordRow(key, "2026-11-22T12:00:00Z", "pbx1", 1, 1, "", payload)


@pytest.fixture
def db(tmp_path):
    database = CentralDb(tmp_path / "central.db")
    yield database
    database.close()


def test_store_reports_new_and_already_stored_keys(db):
    assert db.store_records("site-a", "2026-11-22T12:00:01.000Z", [row("a"), row("b")]) == [True, True]
    assert db.store_records("site-a", "2026-11-22T12:00:02.000Z", [row("b"), row("c"), row("c")]) == [False, True, False]
    assert db.store_records("site-b", "2026-11-22T12:00:03.000Z", [row("a")]) == [True]
    assert [(r.site_id, r.key) for r in db.records()] == [
        ("site-a", "a"), ("site-a", "b"), ("site-a", "c"), ("site-b", "a")]
    assert db.count_records("site-a") == 3


def test_a_batch_that_fails_midway_stores_nothing(db):
    with pytest.raises(sqlite3.IntegrityError):
        db.store_records("site-a", "2026-11-22T12:00:01.000Z", [row("x1"), row("x2", payload=None)])
    assert db.count_records() == 0
    assert db.store_records("site-a", "2026-11-22T12:00:02.000Z", [row("x1")]) == [True]


def test_the_db_is_wal_with_full_sync_and_survives_reopen(tmp_path):
    path = tmp_path / "central.db"
    first = CentralDb(path)
    first.store_records("site-a", "2026-11-22T12:00:01.000Z", [row("kept")])
    first.close()
    again = CentralDb(path, create=False)
    try:
        assert [r.key for r in again.records()] == ["kept"]
    finally:
        again.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_self_test_is_stored_once_per_run(db):
    assert db.store_selftest("site-a", "run-1", "2026-11-22T12:00:01.000Z", "2026-11-22T12:00:00Z", 1, b"r")
    assert not db.store_selftest("site-a", "run-1", "2026-11-22T12:00:02.000Z", "2026-11-22T12:00:00Z", 1, b"r")
    assert [(s.site_id, s.run_id) for s in db.selftests()] == [("site-a", "run-1")]


def test_opening_a_missing_or_foreign_db_without_create_is_refused(tmp_path):
    with pytest.raises(CentralDbError, match="no central database"):
        CentralDb(tmp_path / "missing.db", create=False)
    assert not (tmp_path / "missing.db").exists()
    with closing(sqlite3.connect(tmp_path / "other.db")) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(CentralDbError, match="not a central database"):
        CentralDb(tmp_path / "other.db", create=False)
    with closing(sqlite3.connect(tmp_path / "other.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete", "a foreign db is left as it was"


def test_a_db_from_a_newer_central_is_refused(tmp_path):
    path = tmp_path / "central.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(CentralDbError, match="v99"):
        CentralDb(path)
