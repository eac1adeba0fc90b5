"""Schema migrations on both backends, refusing newer schemas, and the database location as it may be logged."""
from __future__ import annotations

from contextlib import closing
import sqlite3

import psycopg
import pytest

from appliance.central.backends import open_store
from appliance.central.store import StoreError, mask_db_url
from appliance.central.store_sqlite import MIGRATIONS
from tests.helpers.pg_cluster import PASSWORD


def test_a_v1_sqlite_database_is_upgraded_with_its_records(tmp_path):
    path = tmp_path / "old.db"
    with closing(sqlite3.connect(path)) as conn:          # what the first reference central left behind
        conn.executescript(MIGRATIONS[0])
        conn.execute("INSERT INTO records VALUES ('site-a', 'k1', '2026-01-01T00:00:00.000Z',"
                     " '2026-01-01T00:00:00Z', 'pbx1', 1, 1, '', x'0a026b31')")
        conn.execute("PRAGMA user_version = 1")
        conn.commit()
    with pytest.raises(StoreError, match="run `central serve` once"):
        open_store(str(path), create=False)               # a reader never migrates
    with open_store(str(path)) as store:
        assert [(r.key, r.payload) for r in store.records()] == [("k1", b"\x0a\x02k1")]
        assert store.store_live("2026-01-01T00:00:01.000Z", [], {"site-a": b"s"}, "r") is None
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        columns = [row[1] for row in conn.execute("PRAGMA table_info(records)")]
    assert columns == ["site_id", "key", "received_at", "started_at", "payload"]


def test_a_database_from_a_newer_central_is_refused(tmp_path, pg):
    path = tmp_path / "newer.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="v99"):
        open_store(str(path))
    url = pg.url(pg.new_database())
    open_store(url, password=PASSWORD).close()
    with psycopg.connect(url, password=PASSWORD, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version) VALUES (99)")
    with pytest.raises(StoreError, match="v99"):
        open_store(url, password=PASSWORD)


def test_postgres_migrates_once_and_reopens_without_create(pg):
    url = pg.url(pg.new_database())
    open_store(url, password=PASSWORD).close()
    open_store(url, password=PASSWORD).close()            # a second replica starting: nothing to do
    with open_store(url, create=False, password=PASSWORD) as store:
        assert store.count_records() == 0
    with psycopg.connect(url, password=PASSWORD) as conn:
        assert [v for (v,) in conn.execute("SELECT version FROM schema_migrations")] == [1]


def test_a_wrong_password_is_a_clear_error_without_the_password(pg):
    url = pg.url(pg.new_database())
    with pytest.raises(StoreError) as err:
        open_store(url, password="not-the-password")
    assert "password authentication failed" in str(err.value)
    assert "not-the-password" not in str(err.value)


@pytest.mark.parametrize("url, shown", [
    ("postgresql://central:s3cret@db.example:5432/crm", "postgresql://central:***@db.example:5432/crm"),
    ("postgres://central@db/crm?password=s3cret&sslmode=require", "postgres://central@db/crm?password=***&sslmode=require"),
    ("postgresql://central@db/crm", "postgresql://central@db/crm"),
    ("/var/lib/central/central.db", "/var/lib/central/central.db"),
])
def test_database_urls_are_masked_for_logs(url, shown):
    assert mask_db_url(url) == shown
