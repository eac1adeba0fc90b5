"""Retention on a real SQLite store: exactly the delivered, old, uploaded records go; ids are never reused."""
from __future__ import annotations

import sqlite3

import pytest

from appliance.calls.record import Recording, RecordingSegment
from appliance.config import ConfigError
from appliance.config.loader import parse_config
from appliance.store import Store
from appliance.store.retention import DAY_S, RetentionSchedule, delete_expired
from appliance.store.uploads import REJECTED, UPLOADED, UploadLedger
from tests.helpers.sync_harness import SITE, call_record

NOW = 1_800_000_000.0
OLD = NOW - 100 * DAY_S
CUTOFF = NOW - 90 * DAY_S


def recording(i: int, segments: int = 1) -> Recording:
    return Recording(status="recorded", sample_rate=8000, samples=8000 * segments, segments=tuple(
        RecordingSegment(n, f"call{i}.{n:04d}.age", f"{i:02x}" * 32, 1000, 8000 * n, 8000) for n in range(segments)))


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def clock():
    return Clock(OLD)


@pytest.fixture
def store(tmp_path, clock):
    with Store(tmp_path / "data", site_id=SITE, now=clock) as s:
        yield s


def add(store: Store, name: str, **fields) -> int:
    (cdr_id,) = store.add([call_record(0, key=name, **fields)]).inserted
    return cdr_id


def keys(store: Store) -> set[str]:
    return {k for (k,) in store.conn.execute("SELECT key FROM cdr")}


def test_retention_deletes_exactly_the_delivered_old_uploaded_records(store, clock, tmp_path):
    ledger = UploadLedger(store)
    ids = {name: add(store, name, **fields) for name, fields in [
        ("old-delivered", {}),
        ("old-pending", {}),                                    # still in the outbox
        ("old-dead", {}),                                       # dead-lettered
        ("old-dead-replayed", {}),                              # dead-lettered, replayed and delivered since
        ("old-uploaded", {"recording": recording(1, 2)}),       # both segments uploaded, local copies gone
        ("old-half-uploaded", {"recording": recording(2, 2)}),  # one of two segments uploaded
        ("old-not-uploaded", {"recording": recording(3)}),
        ("old-rejected", {"recording": recording(4)}),          # the central refused it: not uploaded
        ("old-still-local", {"recording": recording(5)}),       # uploaded, local copy kept (keep_after_upload_s)
        ("old-not-recorded", {"recording": Recording(status="not_recorded", reason="no recipient")}),
        ("old-delivered-2", {}),
    ]}
    clock.t = NOW - 10 * DAY_S
    ids["young-delivered"] = add(store, "young-delivered")
    ids["young-uploaded"] = add(store, "young-uploaded", recording=recording(6))
    clock.t = OLD                                               # the newest row is old too: see the id test
    ids["old-newest"] = add(store, "old-newest")
    store.mark_delivered([i for name, i in ids.items() if name != "old-pending"])
    store.mark_rejected([(ids["old-dead"], "bad"), (ids["old-dead-replayed"], "bad")])
    store.replay_rejected([ids["old-dead-replayed"]])
    store.mark_delivered([ids["old-dead-replayed"]])
    ledger.settle([(ids["old-uploaded"], 0, UPLOADED, ""), (ids["old-uploaded"], 1, UPLOADED, ""),
                   (ids["old-half-uploaded"], 0, UPLOADED, ""), (ids["old-rejected"], 0, REJECTED, "sha256"),
                   (ids["old-still-local"], 0, UPLOADED, ""), (ids["young-uploaded"], 0, UPLOADED, "")], OLD)
    ledger.delete_uploaded(tmp_path / "recordings", OLD, OLD)         # every uploaded copy but one is gone
    store.conn.execute("UPDATE upload SET deleted_at = NULL WHERE cdr_id = ?", (ids["old-still-local"],))

    result = delete_expired(store, CUTOFF, batch=3)

    assert keys(store) == {"old-pending", "old-dead", "old-dead-replayed", "old-half-uploaded", "old-not-uploaded",
                           "old-rejected", "old-still-local", "young-delivered", "young-uploaded", "old-newest"}
    assert (result.deleted, result.batches) == (4, 4)
    assert {k for (k,) in store.conn.execute("SELECT c.key FROM outbox JOIN cdr c ON c.id = outbox.cdr_id")} \
        == {"old-pending"}
    assert {k for (k,) in store.conn.execute("SELECT c.key FROM dead_letter d JOIN cdr c ON c.id = d.cdr_id")} \
        == {"old-dead", "old-dead-replayed"}
    assert not store.conn.execute("SELECT 1 FROM upload WHERE cdr_id = ?", (ids["old-uploaded"],)).fetchall(), \
        "the upload rows of a deleted record go with it"
    assert delete_expired(store, CUTOFF).deleted == 0, "a second pass finds nothing more"


def test_ids_are_never_reused_after_retention(store, clock):
    first = store.add([call_record(i) for i in range(50)]).inserted
    store.mark_delivered(first)
    assert delete_expired(store, CUTOFF).deleted == 49, "everything old and delivered but the newest row"
    issued = max(first)
    for round_ in range(3):
        clock.t += 1
        new = store.add([call_record(100 * (round_ + 1) + i) for i in range(5)]).inserted
        assert min(new) > issued, f"round {round_}: an id was handed out again"
        issued = max(new)
        store.mark_delivered(new)
        clock.t = OLD
        assert delete_expired(store, CUTOFF).deleted == 5


def test_without_the_newest_row_guard_sqlite_would_reuse_ids(tmp_path):
    """Why retention keeps the newest row: plain SQLite hands out a deleted max(rowid) again."""
    conn = sqlite3.connect(tmp_path / "plain.db")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.executemany("INSERT INTO t (v) VALUES (?)", [("a",), ("b",), ("c",)])
    conn.execute("DELETE FROM t WHERE id = 3")
    assert conn.execute("INSERT INTO t (v) VALUES ('d') RETURNING id").fetchone()[0] == 3
    conn.close()


def test_retention_commits_in_short_batches_that_let_other_writers_in(tmp_path, clock):
    data = tmp_path / "data"
    with Store(data, site_id=SITE, now=clock) as store:
        ids = store.add([call_record(i) for i in range(1000)]).inserted
        store.mark_delivered(ids)
        clock.t = NOW
        other = Store(data, site_id=SITE, check=False, busy_timeout_s=0.05, now=clock)
        written = []

        def between() -> bool:
            # Another connection (the store writer, in the daemon) commits at once between two batches.
            written.extend(other.add([call_record(5000 + len(written))]).inserted)
            return True
        try:
            result = delete_expired(store, CUTOFF, batch=100, between=between)
        finally:
            other.close()
    # Rows written meanwhile are newer, so even the last old row may go (it is no longer the newest).
    assert (result.deleted, result.batches, len(written)) == (1000, 10, 10)
    with Store(data, site_id=SITE, check=False) as store:
        assert sorted(r["key"] for r in store.export("cdr")) == sorted(call_record(5000 + i).key for i in range(10))


def test_retention_can_stop_between_batches(store):
    store.mark_delivered(store.add([call_record(i) for i in range(30)]).inserted)
    result = delete_expired(store, CUTOFF, batch=10, between=lambda: False)
    assert (result.deleted, result.batches) == (10, 1)
    assert len(keys(store)) == 20


def test_schedule_runs_at_start_then_hourly_never_twice_at_once():
    clock = Clock(0.0)
    schedule = RetentionSchedule(90, clock)
    assert schedule.take() and not schedule.take(), "due at start; not again while running"
    schedule.finished()
    clock.t = 3599.0
    assert not schedule.take()
    clock.t = 3600.0
    assert schedule.take()
    assert not RetentionSchedule(0, clock).take(), "0 days = keep every record"


def test_cdr_retention_days_is_configured_in_store():
    base = '[site]\nid = "s"\n[store]\n'
    assert parse_config(base).store.cdr_retention_days == 90
    assert parse_config(base + "cdr_retention_days = 30\n").store.cdr_retention_days == 30
    assert parse_config(base + "cdr_retention_days = 0\n").store.cdr_retention_days == 0
    with pytest.raises(ConfigError, match="store.cdr_retention_days: must be 0"):
        parse_config(base + "cdr_retention_days = 1\n")


def test_upload_pace_and_chunk_are_configured_in_recording():
    base = '[site]\nid = "s"\n[recording]\n'
    cfg = parse_config(base).recording
    assert (cfg.upload_rate_kib_s, cfg.upload_chunk_kib) == (4096, 256)
    cfg = parse_config(base + "upload_rate_kib_s = 1024\nupload_chunk_kib = 64\n").recording
    assert (cfg.upload_rate_kib_s, cfg.upload_chunk_kib) == (1024, 64)
    with pytest.raises(ConfigError, match="recording.upload_chunk_kib: expected 16 .. 1024"):
        parse_config(base + "upload_chunk_kib = 2048\n")          # the central would refuse every chunk
    with pytest.raises(ConfigError, match="recording.upload_rate_kib_s"):
        parse_config(base + "upload_rate_kib_s = 0\n")
