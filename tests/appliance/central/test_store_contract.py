"""The store contract on both backends (real SQLite file, real PostgreSQL): new vs duplicate per (site_id, key),
all-or-nothing batches, exactly once under concurrent writers, self-tests, live events, recordings."""
from __future__ import annotations

import threading

import pytest

from appliance.central.backends import open_store
from appliance.central.store import LiveRow, RecordBatch, RecordingRow, StoreUnavailable
from tests.appliance.central.conftest import BACKENDS
from tests.helpers.pg_cluster import PASSWORD

T0 = "2026-11-22T12:00:01.000Z"


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path) -> str:
    """A fresh database: a SQLite file, or a new PostgreSQL database (password over TCP)."""
    if request.param == "sqlite":
        return str(tmp_path / "central.db")
    return request.getfixturevalue("pg").url(request.getfixturevalue("pg").new_database())


@pytest.fixture
def store(db):
    with open_store(db, password=PASSWORD) as opened:
        yield opened


def batch(*keys: str, payload: bytes | None = b"payload") -> RecordBatch:
    return RecordBatch(list(keys), ["2026-11-22T12:00:00Z"] * len(keys), [payload] * len(keys))


def test_store_reports_new_and_already_stored_keys(store):
    assert store.store_records("site-a", T0, batch("a", "b")) == [True, True]
    assert store.store_records("site-a", T0, batch("b", "c", "c")) == [False, True, False]
    assert store.store_records("site-b", T0, batch("a")) == [True], "keys are unique per site only"
    assert [(r.site_id, r.key) for r in store.records()] == [
        ("site-a", "a"), ("site-a", "b"), ("site-a", "c"), ("site-b", "a")], "arrival order"
    assert store.count_records("site-a") == 3 and store.count_records() == 4


def test_payload_and_receive_time_are_stored_as_given(store):
    store.store_records("site-a", T0, RecordBatch(["k"], ["2026-11-22T12:00:00Z"], [b"\x00wire\xffbytes"]))
    (record,) = store.records("site-a")
    assert record.payload == b"\x00wire\xffbytes" and record.received_at == T0
    assert store.record_payload("site-a", "k") == b"\x00wire\xffbytes"
    assert store.record_payload("site-b", "k") is None


def test_a_batch_that_fails_midway_stores_nothing(store):
    store.store_records("site-a", T0, batch("before"))
    broken = RecordBatch(["x1", "x2"], ["2026-11-22T12:00:00Z"] * 2, [b"payload", None])
    with pytest.raises(StoreUnavailable):
        store.store_records("site-a", T0, broken)
    assert {r.key for r in store.records()} == {"before"}
    assert store.store_records("site-a", T0, batch("x1")) == [True], "the store is usable after the failure"


def test_concurrent_writers_store_every_key_exactly_once(db):
    """Two connections (two replicas, or two writer threads) racing on overlapping batches."""
    keys = [f"k{i}" for i in range(400)]
    new: list[list[str]] = [[], []]
    barrier = threading.Barrier(2)

    def writer(index: int) -> None:
        with open_store(db, password=PASSWORD) as own:
            barrier.wait()
            for start in range(0, len(keys), 50):
                chunk = keys[start:start + 50]
                flags = own.store_records("site-a", T0, batch(*chunk))
                new[index] += [key for key, is_new in zip(chunk, flags) if is_new]

    with open_store(db, password=PASSWORD):
        pass                                # create and migrate once, as `serve` does
    threads = [threading.Thread(target=writer, args=(i,), name=f"test-writer-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(new[0] + new[1]) == sorted(keys), "each key STORED by exactly one writer"
    with open_store(db, password=PASSWORD) as reader:
        assert reader.count_records() == len(keys)


def test_a_self_test_is_stored_once_per_run(store):
    assert store.store_selftest("site-a", "run-1", T0, "2026-11-22T12:00:00Z", 1, b"r")
    assert not store.store_selftest("site-a", "run-1", T0, "2026-11-22T12:00:00Z", 1, b"r")
    assert [(s.site_id, s.run_id, s.received_at) for s in store.selftests()] == [("site-a", "run-1", T0)]
    assert list(store.selftests("site-b")) == []


def test_live_events_statistics_and_snapshots(store):
    rows = [LiveRow("site-a", 1, "2026-11-22T12:00:00.100Z", "call", "sales", b"e1"),
            LiveRow("site-a", 2, "2026-11-22T12:00:00.200Z", "stats", "sales", b"s2"),
            LiveRow("site-b", 1, "2026-11-22T12:00:00.300Z", "agent", "", b"e3")]
    store.store_live(T0, rows, {"site-a": b"snap-a1"}, origin="replica-1")
    store.store_live(T0, [], {"site-a": b"snap-a2", "site-b": b"snap-b1"}, origin="replica-1")
    events = list(store.live_events(kinds=("call", "agent")))
    assert [(e.site_id, e.site_seq, e.kind, e.payload) for e in events] == [
        ("site-a", 1, "call", b"e1"), ("site-b", 1, "agent", b"e3")]
    assert [e.payload for e in store.live_events("site-a", kinds=("stats",))] == [b"s2"]
    assert store.live_payload(events[0].id) == b"e1"
    assert store.site_snapshots() == {"site-a": b"snap-a2", "site-b": b"snap-b1"}, "the latest per site"


def test_recording_metadata_is_stored_once_per_segment(store):
    row = RecordingRow("site-a", "call-1", 0, "seg0.age", 1234, "ab" * 32, "site-a/call-1/seg0.age", T0)
    assert store.store_recording(row)
    assert not store.store_recording(row._replace(size=1))
    assert store.recording("site-a", "call-1", 0) == row
    assert store.recording("site-a", "call-1", 1) is None
    assert list(store.recordings("site-a")) == [row] and list(store.recordings("site-b")) == []


def test_ping_answers_while_the_database_is_there(store):
    store.ping()


def test_opening_without_create_refuses_a_missing_or_foreign_database(db, tmp_path):
    with pytest.raises(Exception, match="no central database|not a central database"):
        open_store(db, create=False, password=PASSWORD)
    if not db.startswith("postgresql"):
        assert not (tmp_path / "central.db").exists(), "a reader must not create the file"
