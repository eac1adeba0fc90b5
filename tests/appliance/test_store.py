"""The SQLite store and its writer thread, on real files: exactly-once, lifecycle, recovery, durability."""
from __future__ import annotations

import base64
import json
import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from appliance.calls.record import FIELD_NAMES, CallRecord
from appliance.common.backoff import BackoffPolicy
from appliance.store import DB_NAME, AddResult, RejectedRaw, Store, StoreError
from appliance.store import StoreWriter
from appliance.store.schema import SCHEMA_VERSION, SchemaTooNew, migrate
from tests.helpers.store_gate import Gate
from tests.helpers.waiting import wait_for

SITE = "site-a"


def rec(i: int, **over) -> CallRecord:
    fields = dict(key=f"{SITE}/pbx1/{i:08d}", site_id=SITE, source="pbx1", source_kind="avaya-ipo",
                  direction="inbound", caller=f"+4420700{i:05d}", callee="4324", dialled_number="4324",
                  queue="sales", agent="4324", started_at="2026-01-05T09:00:00Z",
                  answered_at="2026-01-05T09:00:07Z", ended_at="2026-01-05T09:01:00Z", ring_s=7,
                  talk_s=53, hold_s=0, disposition="answered")
    fields.update(over)
    return CallRecord(**fields)


def keys(store: Store, what: str = "cdr") -> list[str]:
    return [row["key"] for row in store.export(what)]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def store(data_dir):
    s = Store(data_dir, site_id=SITE)
    yield s
    s.close()


class Clock:
    def __init__(self, t: float = 1_800_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


# ---- records, keys, outbox --------------------------------------------------------------

def test_every_field_round_trips_unchanged(store):
    original = rec(1, pbx_call_id="1000014160", leg=2, final_leg=False, caller_name="Zoë",
                   raw="2008/06/28 09:30:57,00:00:13,7,01707392200,I,…", recording_ref="rec/abc")
    store.add([original])
    [(cdr_id, back)] = store.pending()
    assert back == original
    assert set(FIELD_NAMES) <= set(next(store.export("cdr")))


def test_a_key_is_stored_once_across_restarts(data_dir):
    with Store(data_dir, site_id=SITE) as s:
        first = s.add([rec(1), rec(2), rec(2)])
    assert len(first.inserted) == 2 and first.duplicates == 1
    with Store(data_dir, site_id=SITE) as s:
        again = s.add([rec(2), rec(3), rec(1)])
        assert again.duplicates == 2
        assert len(again.inserted) == 1
        assert keys(s) == [rec(1).key, rec(2).key, rec(3).key]
        assert [r.key for _, r in s.pending()] == keys(s)


def test_add_keeps_rejected_input_whole_in_the_same_transaction(store):
    garbage = bytes(range(256))
    result = store.add([rec(1)], [RejectedRaw("pbx1", "bad field count", garbage, "2026-01-05T09:00:00Z")])
    assert result == AddResult(inserted=[1], duplicates=0)
    [row] = list(store.export("rejected_raw"))
    json.dumps(row)   # JSON-safe as exported
    assert base64.b64decode(row["raw_b64"]) == garbage
    assert row["reason"] == "bad field count" and row["source"] == "pbx1"
    assert store.stats()["rejected_raw"] == 1


def test_outbox_ack_dead_letter_and_replay(data_dir):
    clock = Clock()
    with Store(data_dir, site_id=SITE, now=clock) as s:
        ids = s.add([rec(i) for i in range(5)]).inserted
        assert [i for i, _ in s.pending(limit=2)] == ids[:2]
        assert [i for i, _ in s.pending(after_id=ids[2])] == ids[3:]

        assert s.mark_delivered(ids[:2]) == 2
        assert s.mark_delivered(ids[:2]) == 0          # a repeated ack is harmless
        assert s.mark_rejected([(ids[2], "INVALID_ARGUMENT: bad number")]) == 1
        assert [i for i, _ in s.pending()] == ids[3:]
        [dead] = list(s.export("dead_letter"))
        assert (dead["id"], dead["reason"], dead["attempts"]) == (ids[2], "INVALID_ARGUMENT: bad number", 1)
        assert s.stats()["dead_letter"] == 1

        assert s.replay_rejected() == 1
        assert [i for i, _ in s.pending()] == ids[2:]
        assert s.stats()["dead_letter"] == 0 and list(s.export("dead_letter")) == []
        s.mark_rejected([(ids[2], "still bad")])
        [dead] = list(s.export("dead_letter"))
        assert (dead["reason"], dead["attempts"]) == ("still bad", 2)
        assert s.replay_rejected([999]) == 0 and s.replay_rejected([ids[2]]) == 1

        s.mark_delivered(ids[2:])
        stats = s.stats()
        assert (stats["stored"], stats["pending"], stats["oldest_pending_age_s"]) == (5, 0, None)


def test_backlog_counts_pending_and_ages_by_stored_time(data_dir):
    clock = Clock()
    with Store(data_dir, site_id=SITE, now=clock) as s:
        assert s.backlog() == (0, None)
        first = s.add([rec(1)]).inserted
        clock.t += 30
        s.add([rec(2)])
        clock.t += 15
        assert s.backlog() == (2, 45.0)
        s.mark_delivered(first)
        assert s.backlog() == (1, 15.0)
        assert s.stats()["oldest_pending_age_s"] == 15.0


def test_open_pbx_legs_lists_calls_whose_last_leg_was_not_final(store):
    store.add([
        rec(1, pbx_call_id="A", leg=1, final_leg=False),
        rec(2, pbx_call_id="A", leg=2, final_leg=False),
        rec(3, pbx_call_id="B", leg=1, final_leg=False),
        rec(4, pbx_call_id="B", leg=2, final_leg=True),
        rec(5, pbx_call_id="C", leg=1, final_leg=False, started_at="2026-01-01T00:00:00Z"),
        rec(6, pbx_call_id="D", leg=1, final_leg=False, source="pbx2"),
        rec(7),                                           # a line call: no call id
    ])
    assert store.open_pbx_legs("pbx1", "") == {"A": 2, "C": 1}
    assert store.open_pbx_legs("pbx1", "2026-01-02T00:00:00Z") == {"A": 2}
    assert store.open_pbx_legs("pbx2", "") == {"D": 1}


def test_export_streams_every_row_in_order_as_json(store):
    store.add([rec(i) for i in range(1203)])
    rows = store.export("outbox")
    assert iter(rows) is rows                         # a lazy iterator, not a list
    first = next(rows)
    assert first["key"] == rec(0).key
    rest = [json.loads(json.dumps(r))["key"] for r in rows]
    assert [first["key"]] + rest == [rec(i).key for i in range(1203)]
    with pytest.raises(StoreError, match="unknown export"):
        store.export("secrets")


# ---- files: permissions, integrity, migrations -------------------------------------------

def test_directory_is_0700_and_database_files_0600(tmp_path):
    old = os.umask(0o022)
    try:
        loose = tmp_path / "loose"
        loose.mkdir(mode=0o755)
        with Store(loose, site_id=SITE) as s:
            s.add([rec(1)])
            names = sorted(p.name for p in loose.iterdir())
            assert names == [DB_NAME, f"{DB_NAME}-shm", f"{DB_NAME}-wal"]
            assert stat.S_IMODE(loose.stat().st_mode) == 0o700
            for p in loose.iterdir():
                assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
        fresh = tmp_path / "a" / "b"
        Store(fresh, site_id=SITE).close()
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    finally:
        os.umask(old)


def _page_count(path: Path) -> tuple[int, int]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA page_count").fetchone()[0], conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()


def _quick_check(path: Path) -> str:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()


def test_damaged_pages_are_moved_aside_and_a_new_database_started(data_dir, caplog):
    with Store(data_dir, site_id=SITE) as s:
        s.add([rec(i) for i in range(3000)])
    db = data_dir / DB_NAME
    pages, page_size = _page_count(db)
    with open(db, "r+b") as f:                         # garbage over a whole page in the middle
        f.seek((pages // 2) * page_size)
        f.write(b"\xde\xad\xbe\xef" * (page_size // 4))
    damaged = db.read_bytes()
    assert _quick_check(db) != "ok"                       # the damage is real

    with caplog.at_level(logging.ERROR, logger="appliance.store"):
        s = Store(data_dir, site_id=SITE)
    try:
        assert s.recovered_from is not None
        assert s.recovered_from.name.startswith(f"{DB_NAME}.corrupt-")
        assert s.recovered_from.read_bytes() == damaged          # kept, byte for byte
        errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "appliance.store"]
        assert len(errors) == 1 and str(s.recovered_from) in errors[0].getMessage()
        assert s.stats()["stored"] == 0
        assert s.add([rec(1)]).inserted == [1]                   # the new database works
    finally:
        s.close()


def test_a_file_of_garbage_is_moved_aside_not_deleted(data_dir):
    data_dir.mkdir()
    garbage = os.urandom(64) + b"this is not sqlite" * 1000
    (data_dir / DB_NAME).write_bytes(garbage)
    (data_dir / f"{DB_NAME}-wal").write_bytes(b"stale wal")
    with Store(data_dir, site_id=SITE) as s:
        moved = s.recovered_from
        assert moved is not None and moved.read_bytes() == garbage
        assert Path(f"{moved}-wal").read_bytes() == b"stale wal"
        assert s.add([rec(1)]).inserted == [1]
    with Store(data_dir, site_id=SITE) as again:                  # a healthy file is left alone
        assert again.recovered_from is None
        assert keys(again) == [rec(1).key]


def test_secondary_opens_skip_the_check(data_dir):
    data_dir.mkdir()
    (data_dir / DB_NAME).write_bytes(b"not a database" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        Store(data_dir, site_id=SITE, check=False)
    assert (data_dir / DB_NAME).read_bytes() == b"not a database" * 100


def test_an_older_schema_is_migrated_and_keeps_its_rows(data_dir):
    data_dir.mkdir()
    conn = sqlite3.connect(data_dir / DB_NAME, isolation_level=None)
    migrate(conn, upto=1)
    v1_fields = FIELD_NAMES[:FIELD_NAMES.index("recording_ref") + 1]   # the columns of schema 1
    cols = ", ".join(v1_fields)
    values = [getattr(rec(7), f) for f in v1_fields]
    conn.execute(f"INSERT INTO cdr ({cols}, stored_at) VALUES ({', '.join('?' * len(values))}, 0)", values)
    conn.execute("INSERT INTO outbox (cdr_id) SELECT id FROM cdr")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()

    with Store(data_dir, site_id=SITE) as s:
        assert s.schema_version == SCHEMA_VERSION
        [(cdr_id, back)] = s.pending()
        assert back == rec(7)
        s.mark_rejected([(cdr_id, "refused")])                   # tables from later migrations work
        assert s.stats()["dead_letter"] == 1


def test_a_newer_schema_is_refused_untouched(data_dir):
    with Store(data_dir, site_id=SITE) as s:
        s.add([rec(1)])
    conn = sqlite3.connect(data_dir / DB_NAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        Store(data_dir, site_id=SITE)
    conn = sqlite3.connect(data_dir / DB_NAME)
    try:
        assert conn.execute("SELECT key FROM cdr").fetchall() == [(rec(1).key,)]
    finally:
        conn.close()


def test_a_store_belongs_to_the_thread_that_opened_it(store):
    errors = []
    t = threading.Thread(target=lambda: errors.append(_try(store.backlog)))
    t.start()
    t.join()
    assert isinstance(errors[0], sqlite3.ProgrammingError)


def _try(fn):
    try:
        fn()
    except Exception as exc:   # noqa: BLE001
        return exc
    return None


# ---- the writer thread ------------------------------------------------------------------

def test_writer_groups_queued_work_into_transactions_and_calls_each_back(data_dir):
    gate = Gate(data_dir)
    results: list[tuple[int, AddResult]] = []
    writer = StoreWriter(gate, max_batch=100)
    try:
        writer.submit([rec(0)], on_durable=lambda r: results.append((0, r)))
        assert gate.entered.wait(5)                    # the first job is in flight, the writer blocked
        for j in range(1, 10):
            batch = [rec(j * 100 + i) for i in range(30)]
            writer.submit(batch, on_durable=lambda r, j=j: results.append((j, r)))
        writer.submit([rec(0)], [RejectedRaw("pbx1", "junk", b"\x00", "t")],
                      on_durable=lambda r: results.append((10, r)))
        assert writer.queue_depth == 1 + 9 * 30 + 2
        gate.released.set()
        assert writer.flush(10)
        # 1 job, then 30+30+30 (a 4th would pass max_batch=100) three times, then 1 + the last.
        assert writer.transactions == 1 + 3
        assert [j for j, _ in results] == list(range(11))
        assert all(len(r.inserted) == 30 and r.duplicates == 0 for j, r in results if 1 <= j <= 9)
        assert results[10][1] == AddResult(inserted=[], duplicates=1)
        assert writer.queue_depth == 0 and writer.healthy
    finally:
        assert writer.close(5)
    with Store(data_dir, site_id=SITE) as s:
        assert s.stats()["stored"] == 1 + 9 * 30 and s.stats()["rejected_raw"] == 1


def test_a_full_disk_keeps_records_queued_until_space_returns(data_dir, caplog):
    Store(data_dir, site_id=SITE).close()
    cap = {"bytes": 64 * 1024}
    failures: list[BaseException] = []
    writer = StoreWriter(lambda: Store(data_dir, site_id=SITE, check=False, max_db_bytes=cap["bytes"]),
                         on_error=failures.append, retry=BackoffPolicy(base_s=0.01, cap_s=0.05))
    try:
        with caplog.at_level(logging.WARNING, logger="appliance.store"):
            big = [rec(i, raw="x" * 4000) for i in range(100)]
            writer.submit(big)
            wait_for(lambda: writer.errors >= 3, message="repeated write failures")
            assert not writer.healthy
            assert writer.queue_depth == 100
            assert isinstance(failures[0], sqlite3.OperationalError) and "full" in str(failures[0])
            cap["bytes"] = None                         # the operator frees space
            assert writer.flush(10)
            assert writer.healthy and writer.queue_depth == 0
        errors = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert len(errors) == 1 and "keeping them queued" in errors[0].getMessage()
    finally:
        writer.close(5)
    with Store(data_dir, site_id=SITE) as s:
        assert keys(s) == [r.key for r in big]


def test_submit_blocks_when_too_much_is_waiting(data_dir):
    gate = Gate(data_dir)
    writer = StoreWriter(gate, max_pending=50)
    try:
        assert writer.submit([rec(i) for i in range(40)])
        assert gate.entered.wait(5)
        assert writer.submit([rec(i) for i in range(40, 60)], timeout=0.05) is False
        assert writer.queue_depth == 40                   # the refused batch was not queued
        done = threading.Event()
        t = threading.Thread(target=lambda: (writer.submit([rec(i) for i in range(40, 60)]), done.set()))
        t.start()
        assert not done.wait(0.05)                        # still blocked while the writer is stuck
        gate.released.set()
        assert done.wait(5)
        t.join()
        assert writer.flush(5)
    finally:
        writer.close(5)
    with Store(data_dir, site_id=SITE) as s:
        assert s.stats()["stored"] == 60


def test_sync_side_reads_and_acks_while_the_writer_writes(data_dir):
    Store(data_dir, site_id=SITE).close()
    writer = StoreWriter(lambda: Store(data_dir, site_id=SITE, check=False), max_batch=50)
    delivered: list[int] = []
    try:
        for j in range(20):
            writer.submit([rec(j * 100 + i) for i in range(100)])
        with Store(data_dir, site_id=SITE, check=False) as reader:
            def drain():
                batch = reader.pending(limit=300)
                reader.mark_delivered([i for i, _ in batch])
                delivered.extend(i for i, _ in batch)
                return len(delivered) == 2000
            wait_for(drain, timeout=30, message="all records delivered")
            assert reader.backlog() == (0, None)
        assert delivered == sorted(delivered) == list(range(1, 2001))
    finally:
        writer.close(5)


def test_close_stops_the_thread_and_refuses_more_work(data_dir):
    writer = StoreWriter(lambda: Store(data_dir, site_id=SITE, check=False), name="store-writer-t")
    writer.submit([rec(1)])
    assert writer.close(5)
    assert "store-writer-t" not in [t.name for t in threading.enumerate()]
    with pytest.raises(StoreError):
        writer.submit([rec(2)])
    with Store(data_dir, site_id=SITE) as s:
        assert keys(s) == [rec(1).key]


def test_submit_rejects_what_is_not_a_record(data_dir):
    writer = StoreWriter(lambda: Store(data_dir, site_id=SITE, check=False))
    try:
        with pytest.raises(TypeError):
            writer.submit([rec(1).to_dict()])
        assert writer.queue_depth == 0
    finally:
        writer.close(5)


CHILD = textwrap.dedent("""
    import sys
    from appliance.calls.record import CallRecord
    from appliance.store import Store
    from appliance.store import StoreWriter

    data_dir = sys.argv[1]
    def rec(i):
        return CallRecord(key=f"k/{i:08d}", site_id="s", source="line1", source_kind="gsm",
                          direction="inbound", caller="+441632960000", callee="", dialled_number="",
                          queue="q", agent="", started_at="2026-01-05T09:00:00Z", answered_at="",
                          ended_at="2026-01-05T09:00:09Z", ring_s=9, talk_s=0, hold_s=0,
                          disposition="abandoned")
    writer = StoreWriter(lambda: Store(data_dir, site_id="s", check=False), max_batch=200)
    n = 0
    while True:
        batch = [rec(i) for i in range(n, n + 37)]
        n += len(batch)
        writer.submit(batch, on_durable=lambda result, upto=n: print(f"durable {upto}", flush=True))
""")


def test_records_reported_durable_survive_kill_9(data_dir):
    Store(data_dir, site_id="s").close()
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir)], stdout=subprocess.PIPE, text=True)
    try:
        reported = 0
        for line in child.stdout:
            reported = max(reported, int(line.split()[1]))
            if reported >= 3000:
                break
        os.kill(child.pid, signal.SIGKILL)
        for line in child.stdout:                     # lines printed before the kill count too
            reported = max(reported, int(line.split()[1]))
    finally:
        child.kill()
        child.wait(10)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert reported >= 3000
    with Store(data_dir, site_id="s") as s:
        assert s.recovered_from is None
        stored = set(keys(s))
        missing = [i for i in range(reported) if f"k/{i:08d}" not in stored]
        assert missing == []
        assert s.stats()["pending"] == len(stored)


def test_a_second_store_in_the_process_keeps_the_first_ones_locks(tmp_path):
    """Regression: opening another Store used to open+close the db file, which drops every POSIX
    lock the process holds; another process closing its connection then deleted the live WAL and
    later commits went into a deleted file."""
    import subprocess
    import sys
    from appliance.calls.record import CallRecord

    def record(key):
        return CallRecord(key=key, site_id="s", source="line1", source_kind="gsm", direction="inbound",
                          caller="", callee="", dialled_number="", queue="", agent="", started_at="",
                          answered_at="", ended_at="", ring_s=0, talk_s=0, hold_s=0, disposition="answered")

    writer = Store(tmp_path, site_id="s")
    writer.add([record("k1")])
    reader = Store(tmp_path, site_id="s", check=False)
    subprocess.run([sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
                    "c.execute('SELECT count(*) FROM cdr').fetchone(); c.close()",
                    str(tmp_path / "appliance.db")], check=True)
    writer.add([record("k2")])
    reader.close()
    fresh = sqlite3.connect(tmp_path / "appliance.db")
    try:
        assert fresh.execute("SELECT count(*) FROM cdr").fetchone()[0] == 2
    finally:
        fresh.close()
        writer.close()


def test_agent_and_recording_fields_survive_the_store(data_dir):
    import dataclasses

    from tests.appliance.test_convert import _agent_and_recording_fields
    original = dataclasses.replace(rec(3), **_agent_and_recording_fields())
    with Store(data_dir, site_id=SITE) as s:
        s.add([original])
        [(_, back)] = s.pending()
    assert back == original
