"""The store's schema as an ordered list of migrations, applied by PRAGMA user_version."""
from __future__ import annotations

import sqlite3

# Each entry moves the schema from version i to i+1. Never edit a released entry: append a new one.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: records and their outbox
    (
        """CREATE TABLE cdr (
            id INTEGER PRIMARY KEY,
            key TEXT UNIQUE NOT NULL,
            site_id TEXT NOT NULL,
            source TEXT NOT NULL,
            source_kind TEXT NOT NULL,
            direction TEXT NOT NULL,
            caller TEXT NOT NULL,
            callee TEXT NOT NULL,
            dialled_number TEXT NOT NULL,
            queue TEXT NOT NULL,
            agent TEXT NOT NULL,
            started_at TEXT NOT NULL,
            answered_at TEXT NOT NULL,
            ended_at TEXT NOT NULL,
            ring_s INTEGER NOT NULL,
            talk_s INTEGER NOT NULL,
            hold_s INTEGER NOT NULL,
            disposition TEXT NOT NULL,
            pbx_call_id TEXT NOT NULL,
            leg INTEGER NOT NULL,
            final_leg INTEGER NOT NULL,
            caller_name TEXT NOT NULL,
            raw TEXT NOT NULL,
            recording_ref TEXT NOT NULL,
            stored_at REAL NOT NULL
        )""",
        "CREATE TABLE outbox (cdr_id INTEGER PRIMARY KEY REFERENCES cdr(id))",
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    # 2: where refused records and unparseable device input go
    (
        """CREATE TABLE dead_letter (
            cdr_id INTEGER PRIMARY KEY REFERENCES cdr(id),
            reason TEXT NOT NULL,
            rejected_at REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 1,
            replayed_at REAL
        )""",
        """CREATE TABLE rejected_raw (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            reason TEXT NOT NULL,
            raw BLOB NOT NULL,
            received_at TEXT NOT NULL
        )""",
    ),
    # 3: self-test results, and the index that re-seeds open PBX calls after a restart
    (
        """CREATE TABLE selftest (
            id INTEGER PRIMARY KEY,
            run_id TEXT UNIQUE NOT NULL,
            started_at TEXT NOT NULL,
            verdict TEXT NOT NULL,
            report_json TEXT NOT NULL
        )""",
        "CREATE INDEX cdr_pbx_call ON cdr(source, pbx_call_id) WHERE pbx_call_id != ''",
    ),
    # 4: agents and recordings in the call record (JSON text for the nested parts)
    (
        "ALTER TABLE cdr ADD COLUMN headset TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE cdr ADD COLUMN agent_ring_s INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE cdr ADD COLUMN mute_intervals TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE cdr ADD COLUMN muted_s REAL NOT NULL DEFAULT 0",
        "ALTER TABLE cdr ADD COLUMN wrap_up_s INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE cdr ADD COLUMN headset_lost INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE cdr ADD COLUMN interrupted INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE cdr ADD COLUMN recording TEXT NOT NULL DEFAULT ''",
    ),
    # 5: what each salvage of a database moved aside as corrupt recovered, until acknowledged
    (
        """CREATE TABLE salvage (
            id INTEGER PRIMARY KEY,
            source TEXT UNIQUE NOT NULL,
            salvaged_at REAL NOT NULL,
            outcome TEXT NOT NULL,
            report_json TEXT NOT NULL,
            acknowledged_at REAL
        )""",
    ),
    # 6: recorded calls in progress, so a crash still leaves their (interrupted) record
    (
        """CREATE TABLE open_call (
            key TEXT PRIMARY KEY,
            record_json TEXT NOT NULL,
            saved_at REAL NOT NULL
        )""",
    ),
    # 7: which recording segments the central has (or refused for good), found through an index of
    # the records that carry a recording
    (
        """CREATE TABLE upload (
            cdr_id INTEGER NOT NULL,
            segment INTEGER NOT NULL,
            state TEXT NOT NULL,
            reason TEXT NOT NULL,
            at REAL NOT NULL,
            deleted_at REAL,
            PRIMARY KEY (cdr_id, segment)
        ) WITHOUT ROWID""",
        "CREATE INDEX upload_local ON upload(at) WHERE state = 'uploaded' AND deleted_at IS NULL",
        "CREATE INDEX cdr_recorded ON cdr(id) WHERE recording != ''",
    ),
    # 8: each record's appliance.v1.CallRecord bytes, encoded once when stored, so the sync sends
    #    what the store holds without rebuilding a record per row (NULL: older rows, or a record
    #    that cannot be encoded; the sync then takes the columns and dead-letters what fails)
    (
        "ALTER TABLE cdr ADD COLUMN payload BLOB",
    ),
    # 9: the id runs retention deleted, so a salvage tells an id retention removed on purpose from a
    #    record the damage cost (lo..hi inclusive; adjacent runs are merged)
    (
        """CREATE TABLE retired (
            lo INTEGER PRIMARY KEY,
            hi INTEGER NOT NULL
        )""",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNew(sqlite3.DatabaseError):
    """The file was written by a newer release; opening it with this one could lose data."""


def migrate(conn: sqlite3.Connection, upto: int = SCHEMA_VERSION) -> tuple[int, int]:
    """Apply the missing migrations in one transaction. Returns (version before, version after).

    `conn` must be in autocommit mode (isolation_level=None); `upto` exists for tests that build
    an older database.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = conn.execute("PRAGMA user_version").fetchone()[0]
        if before > SCHEMA_VERSION:
            raise SchemaTooNew(f"database schema version {before} is newer than this release "
                               f"understands ({SCHEMA_VERSION}); refusing to open it")
        for version in range(before, upto):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        after = max(before, upto)
        if after != before:
            conn.execute(f"PRAGMA user_version = {int(after)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return before, after
