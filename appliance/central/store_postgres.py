"""The central store in PostgreSQL (psycopg 3): several stateless central replicas share one database."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import psycopg
import psycopg.errors

from appliance.central.store import (LIVE_KINDS, CentralStore, LiveRow, RecordBatch, RecordingRow, StoredLive,
                                     StoredRecord, StoredSelfTest, StoreError, StoreUnavailable, finish_is_new,
                                     mask_db_url)

LIVE_CHANNEL = "appliance_live"
NOTIFY_INLINE_BYTES = 5800      # base64 of this fits NOTIFY's 8000-byte payload limit with room for the header
_MIGRATION_LOCK = 0x63656E7472616C   # pg_advisory_xact_lock key: replicas starting together migrate once

_TIME = "to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

MIGRATIONS = (
    # v1: everything the central stores. records keeps only what de-duplication and arrival order need;
    # every extra index is paid on every record (the payload holds all fields).
    """
    CREATE TABLE records (
        id bigint GENERATED ALWAYS AS IDENTITY, site_id text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
        received_at timestamptz NOT NULL, started_at text NOT NULL, payload bytea NOT NULL,
        PRIMARY KEY (site_id, key));
    CREATE TABLE selftests (
        id bigint GENERATED ALWAYS AS IDENTITY, site_id text NOT NULL, run_id text NOT NULL,
        received_at timestamptz NOT NULL, started_at text NOT NULL, verdict integer NOT NULL,
        payload bytea NOT NULL, PRIMARY KEY (site_id, run_id));
    CREATE TABLE live_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, site_id text NOT NULL, site_seq bigint NOT NULL,
        at text NOT NULL, kind text NOT NULL, queue text NOT NULL, received_at timestamptz NOT NULL,
        payload bytea NOT NULL);
    CREATE TABLE site_snapshots (
        site_id text PRIMARY KEY, updated_at timestamptz NOT NULL, payload bytea NOT NULL);
    CREATE TABLE recordings (
        site_id text NOT NULL, call_key text NOT NULL, segment_index integer NOT NULL, name text NOT NULL,
        size bigint NOT NULL, sha256 text NOT NULL, path text NOT NULL, stored_at timestamptz NOT NULL,
        PRIMARY KEY (site_id, call_key, segment_index));
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# Records, in the mode the central runs with (all decide STORED/DUPLICATE from what a statement returned):
#  "copy" (default): COPY the batch straight into records inside a savepoint. It either inserts every row
#      (COPY's row count: all new) or fails on the unique (site_id, key) index (a re-send, a key twice in
#      the batch, another replica's commit), and then the savepoint is rolled back and "staging" decides.
#  "staging": COPY into a temporary table + one INSERT ... SELECT ... ON CONFLICT DO NOTHING RETURNING key.
#  "values": one INSERT ... SELECT FROM unnest(arrays) ON CONFLICT DO NOTHING RETURNING key.
INSERT_MODES = ("copy", "staging", "values")
_COPY_RECORDS = "COPY records (site_id, key, received_at, started_at, payload) FROM STDIN (FORMAT BINARY)"
_COPY_STAGING = "COPY staging_records (key, started_at, payload) FROM STDIN (FORMAT BINARY)"
_STAGING = ("CREATE TEMPORARY TABLE IF NOT EXISTS staging_records (n serial, key text, started_at text,"
            " payload bytea) ON COMMIT DELETE ROWS")
_INSERT_STAGED = (
    "INSERT INTO records (site_id, key, received_at, started_at, payload)"
    " SELECT %s, key, %s::timestamptz, started_at, payload FROM staging_records ORDER BY n"
    " ON CONFLICT DO NOTHING RETURNING key")
_INSERT_UNNEST = (
    "INSERT INTO records (site_id, key, received_at, started_at, payload)"
    " SELECT %s, k, %s::timestamptz, s, p FROM unnest(%s::text[], %s::text[], %s::bytea[]) AS t(k, s, p)"
    " ON CONFLICT DO NOTHING RETURNING key")
# Live events and their notifications in one statement: NOTIFY is delivered at COMMIT, in commit order.
_INSERT_LIVE = f"""
    WITH ins AS (
        INSERT INTO live_events (site_id, site_seq, at, kind, queue, received_at, payload)
        SELECT site, seq, at, kind, queue, %(received_at)s::timestamptz, payload
          FROM unnest(%(sites)s::text[], %(seqs)s::bigint[], %(ats)s::text[], %(kinds)s::text[],
                      %(queues)s::text[], %(payloads)s::bytea[]) WITH ORDINALITY AS t(site, seq, at, kind, queue,
                      payload, n)
         ORDER BY n
        RETURNING id, payload)
    SELECT pg_notify('{LIVE_CHANNEL}', %(origin)s || ' ' || id || CASE WHEN length(payload) <= {NOTIFY_INLINE_BYTES}
                     THEN ' ' || translate(encode(payload, 'base64'), E'\\n', '') ELSE '' END)
      FROM ins ORDER BY id"""
_UPSERT_SNAPSHOT = (
    "INSERT INTO site_snapshots (site_id, updated_at, payload) VALUES (%s, %s::timestamptz, %s)"
    " ON CONFLICT (site_id) DO UPDATE SET updated_at = excluded.updated_at, payload = excluded.payload")


def connect(url: str, *, password: str | None, application_name: str, autocommit: bool = True,
            ) -> psycopg.Connection:
    """A connection that fails fast when the server goes away, with synchronous_commit = on.

    password (from --db-password-file) overrides the environment (PGPASSWORD, PGPASSFILE).
    """
    extra = {"password": password} if password is not None else {}
    try:
        conn = psycopg.connect(
            url, autocommit=autocommit, application_name=application_name, connect_timeout=5,
            keepalives=1, keepalives_idle=5, keepalives_interval=2, keepalives_count=3, tcp_user_timeout=10_000,
            options="-c synchronous_commit=on", **extra)
    except psycopg.Error as exc:
        raise StoreUnavailable(f"cannot connect to {mask_db_url(url)}: {_first_line(exc)}") from exc
    return conn


def _insert_copy(conn: psycopg.Connection, site_id: str, received_at: str, batch: RecordBatch) -> Sequence[str]:
    """Optimistic: COPY into records in a savepoint. All rows new -> every key; else the staging path."""
    when = dt.datetime.fromisoformat(received_at)
    try:
        with conn.transaction(), conn.cursor(binary=True).copy(_COPY_RECORDS) as copy:
            copy.set_types(("text", "text", "timestamptz", "text", "bytea"))
            write_row = copy.write_row
            for key, started_at, payload in zip(batch.keys, batch.started_at, batch.payloads):
                write_row((site_id, key, when, started_at, payload))
    except psycopg.errors.UniqueViolation:
        return _insert_staged(conn, site_id, received_at, batch)
    return batch.keys


def _insert_staged(conn: psycopg.Connection, site_id: str, received_at: str, batch: RecordBatch) -> list[str]:
    cur = conn.cursor(binary=True)
    with cur.copy(_COPY_STAGING) as copy:
        copy.set_types(("text", "text", "bytea"))
        write_row = copy.write_row
        for row in zip(batch.keys, batch.started_at, batch.payloads):
            write_row(row)
    cur.execute(_INSERT_STAGED, (site_id, received_at), prepare=True)
    return [key for (key,) in cur]


def _insert_unnest(conn: psycopg.Connection, site_id: str, received_at: str, batch: RecordBatch) -> list[str]:
    cur = conn.cursor(binary=True)
    cur.execute(_INSERT_UNNEST, (site_id, received_at, list(batch.keys), list(batch.started_at),
                                 list(batch.payloads)), prepare=True)
    return [key for (key,) in cur]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class PostgresStore(CentralStore):
    backend = "postgres"

    def __init__(self, url: str, *, create: bool = True, password: str | None = None,
                 application_name: str = "appliance-central", insert_mode: str = "copy"):
        if insert_mode not in INSERT_MODES:
            raise ValueError(f"insert_mode must be one of {', '.join(INSERT_MODES)}, not {insert_mode!r}")
        self.url = url
        self.location = mask_db_url(url)
        self.insert_mode = insert_mode
        self._password = password
        self._application_name = application_name
        self._conn: psycopg.Connection | None = None
        try:
            conn = self._connection()
        except StoreUnavailable as exc:
            raise StoreError(str(exc)) from exc
        try:
            self._check_schema(conn, create)
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"{self.location}: {_first_line(exc)}") from exc
        except StoreError:
            self.close()
            raise

    def _connection(self) -> psycopg.Connection:
        """The open connection, or a new one if the last one broke (a failover, a restart)."""
        conn = self._conn
        if conn is None or conn.closed:
            conn = self._conn = connect(self.url, password=self._password, application_name=self._application_name)
            if self.insert_mode != "values":
                conn.execute(_STAGING)
        return conn

    def _check_schema(self, conn: psycopg.Connection, create: bool) -> None:
        version = 0
        if conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]:
            version = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"{self.location} has schema v{version}; this central knows up to v{SCHEMA_VERSION}")
        if version == SCHEMA_VERSION:
            return
        if not create:
            raise StoreError(f"{self.location} is not a central database" if version == 0 else
                             f"{self.location} has schema v{version}; run `central serve` once to upgrade it")
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         "version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            version = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
            for target in range(version + 1, SCHEMA_VERSION + 1):
                conn.execute(MIGRATIONS[target - 1])
                conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (target,))

    def _run(self, work):
        """work(conn) in one transaction. Any failure rolls it back and raises StoreUnavailable; a broken
        connection is dropped, so the next call reconnects. A COMMIT whose outcome is unknown (the link
        broke during it) is a failure too: the caller acks nothing and the site re-sends."""
        try:
            conn = self._connection()
            with conn.transaction():
                return work(conn)
        except psycopg.Error as exc:
            if self._conn is not None and (self._conn.broken or isinstance(exc, psycopg.OperationalError)):
                self._drop()
            raise StoreUnavailable(f"{self.location}: {_first_line(exc)}") from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                pass

    # ---- writing -------------------------------------------------------------------------

    def store_batches(self, received_at: str, batches: Sequence[tuple[str, RecordBatch]]) -> list[list[bool]]:
        insert = {"copy": _insert_copy, "staging": _insert_staged, "values": _insert_unnest}[self.insert_mode]

        def work(conn: psycopg.Connection) -> list[list[bool]]:
            return [finish_is_new(batch.keys, insert(conn, site_id, received_at, batch)) if batch.keys else []
                    for site_id, batch in batches]
        return self._run(work)

    def store_selftest(self, site_id: str, run_id: str, received_at: str, started_at: str,
                       verdict: int, payload: bytes) -> bool:
        return self._run(lambda conn: conn.execute(
            "INSERT INTO selftests (site_id, run_id, received_at, started_at, verdict, payload)"
            " VALUES (%s, %s, %s::timestamptz, %s, %s, %s) ON CONFLICT DO NOTHING",
            (site_id, run_id, received_at, started_at, verdict, payload)).rowcount == 1)

    def store_live(self, received_at: str, rows: Sequence[LiveRow], snapshots: dict[str, bytes],
                   origin: str) -> None:
        def write(conn: psycopg.Connection) -> None:
            # Live events are state, not records: their commit does not wait for the WAL flush (a crash
            # may lose the last moments; the site's next snapshot restores them), which also keeps the
            # fan-out to other replicas (NOTIFY, sent at commit) fast while record batches fsync.
            conn.execute("SET LOCAL synchronous_commit = off")
            if rows:
                sites, seqs, ats, kinds, queues, payloads = (list(column) for column in zip(*rows))
                conn.cursor(binary=True).execute(_INSERT_LIVE, {
                    "received_at": received_at, "origin": origin, "sites": sites, "seqs": seqs, "ats": ats,
                    "kinds": kinds, "queues": queues, "payloads": payloads})
            if snapshots:
                conn.cursor().executemany(_UPSERT_SNAPSHOT, [(site, received_at, payload)
                                                             for site, payload in snapshots.items()])
        self._run(write)

    def store_recording(self, row: RecordingRow) -> bool:
        return self._run(lambda conn: conn.execute(
            "INSERT INTO recordings (site_id, call_key, segment_index, name, size, sha256, path, stored_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s::timestamptz) ON CONFLICT DO NOTHING", tuple(row)).rowcount == 1)

    # ---- reading -------------------------------------------------------------------------

    def _all(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._run(lambda conn: conn.execute(sql, params).fetchall())

    def record_payload(self, site_id: str, key: str) -> bytes | None:
        rows = self._all("SELECT payload FROM records WHERE site_id = %s AND key = %s", (site_id, key))
        return rows[0][0] if rows else None

    def recording(self, site_id: str, call_key: str, segment_index: int) -> RecordingRow | None:
        rows = self._all(f"SELECT site_id, call_key, segment_index, name, size, sha256, path,"
                         f" {_TIME.format('stored_at')} FROM recordings"
                         " WHERE site_id = %s AND call_key = %s AND segment_index = %s",
                         (site_id, call_key, segment_index))
        return RecordingRow(*rows[0]) if rows else None

    def site_snapshots(self) -> dict[str, bytes]:
        return dict(self._all("SELECT site_id, payload FROM site_snapshots"))

    def live_payload(self, event_id: int) -> bytes | None:
        rows = self._all("SELECT payload FROM live_events WHERE id = %s", (event_id,))
        return rows[0][0] if rows else None

    def ping(self) -> None:
        (in_recovery,) = self._all("SELECT pg_is_in_recovery()")[0]
        if in_recovery:
            raise StoreUnavailable(f"{self.location} is a read-only standby (in recovery)")

    def _stream(self, sql: str, site_id: str | None, order: str) -> Iterator[tuple]:
        """Rows through a server-side cursor: a dump of millions of records does not sit in memory."""
        where, params = ("", ()) if site_id is None else (" WHERE site_id = %s", (site_id,))
        conn = self._connection()
        with conn.transaction(), conn.cursor(name="central_dump") as cur:
            cur.itersize = 2000
            cur.execute(f"{sql}{where} ORDER BY {order}", params)
            yield from cur

    def records(self, site_id: str | None = None) -> Iterator[StoredRecord]:
        for row in self._stream(f"SELECT site_id, key, {_TIME.format('received_at')}, payload FROM records",
                                site_id, "id"):
            yield StoredRecord(*row)

    def selftests(self, site_id: str | None = None) -> Iterator[StoredSelfTest]:
        for row in self._stream(f"SELECT site_id, run_id, {_TIME.format('received_at')}, payload FROM selftests",
                                site_id, "id"):
            yield StoredSelfTest(*row)

    def live_events(self, site_id: str | None = None, kinds: Sequence[str] = LIVE_KINDS) -> Iterator[StoredLive]:
        wanted = set(kinds)
        for row in self._stream(f"SELECT id, site_id, site_seq, at, kind, {_TIME.format('received_at')}, payload"
                                " FROM live_events", site_id, "id"):
            if row[4] in wanted:
                yield StoredLive(*row)

    def recordings(self, site_id: str | None = None) -> Iterator[RecordingRow]:
        for row in self._stream("SELECT site_id, call_key, segment_index, name, size, sha256, path,"
                                f" {_TIME.format('stored_at')} FROM recordings", site_id,
                                "stored_at, site_id, call_key, segment_index"):
            yield RecordingRow(*row)

    def count_records(self, site_id: str | None = None) -> int:
        if site_id is None:
            return self._all("SELECT count(*) FROM records")[0][0]
        return self._all("SELECT count(*) FROM records WHERE site_id = %s", (site_id,))[0][0]

    def close(self) -> None:
        self._drop()
