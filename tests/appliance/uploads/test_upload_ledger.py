"""The upload ledger on a real store: work only for delivered records, a persisted cursor, cheap look-ups."""
from __future__ import annotations

import pytest

from appliance.store import Store
from appliance.store.schema import SCHEMA_VERSION
from appliance.store.uploads import MISSING, REJECTED, UPLOADED, UploadLedger, local_path
from tests.appliance.uploads.test_retention import recording
from tests.helpers.sync_harness import SITE, call_record


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "data", site_id=SITE) as s:
        yield s


def idents(found) -> list[tuple[int, int]]:
    return [w.ident for w in found.work]


def test_only_segments_of_delivered_records_not_yet_settled_are_work(store):
    ids = store.add([call_record(i, recording=recording(i, 2)) for i in range(4)] + [call_record(9)]).inserted
    ledger = UploadLedger(store)
    assert idents(ledger.find_work(0, 100)) == [], "nothing delivered yet"
    store.mark_delivered(ids[:3])
    store.mark_rejected([(ids[2], "refused")])
    assert idents(ledger.find_work(0, 100)) == [(ids[0], 0), (ids[0], 1), (ids[1], 0), (ids[1], 1)]
    ledger.settle([(ids[0], 0, UPLOADED, ""), (ids[1], 1, REJECTED, "sha256")], 1.0)
    found = ledger.find_work(0, 100, skip=[(ids[1], 0)])
    assert idents(found) == [(ids[0], 1)] and found.next_from == 0
    (work,) = found.work
    assert (work.call_key, work.name, work.size, work.sha256) == (
        call_record(0).key, "call0.0001.age", 1000, "00" * 32)


def test_the_cursor_passes_settled_records_and_stops_at_the_first_unsettled_one(store, tmp_path):
    ids = store.add([call_record(i, recording=recording(i)) for i in range(6)]).inserted
    ledger = UploadLedger(store)
    store.mark_delivered(ids[:4])
    ledger.settle([(ids[0], 0, UPLOADED, ""), (ids[1], 0, MISSING, "gone"), (ids[3], 0, UPLOADED, "")], 1.0)
    store.mark_rejected([(ids[2], "refused")])                 # dead-lettered: passed, found again if replayed
    assert ledger.advance_cursor() == ids[3], "stops before the first record still in the outbox"
    with Store(tmp_path / "data", site_id=SITE, check=False) as again:
        assert UploadLedger(again).cursor() == ids[3], "persisted"
    store.replay_rejected([ids[2]])
    assert idents(ledger.find_work(0, 100)) == [], "replayed but not delivered again yet"
    store.mark_delivered([ids[2]])
    assert idents(ledger.find_work(0, 100)) == [(ids[2], 0)], "a replayed dead letter below the cursor is found"
    assert ledger.backlog()[:2] == (3, 3000), "ids[2] delivered, ids[4] and ids[5] still pending"


def test_a_look_for_work_continues_where_it_stopped(store):
    ids = store.add([call_record(i, recording=recording(i)) for i in range(1200)]).inserted
    store.mark_delivered(ids)
    ledger = UploadLedger(store)
    first = ledger.find_work(0, 10)
    assert len(first.work) == 500 and first.next_from == ids[499], "whole pages of 500 rows"
    second = ledger.find_work(first.next_from, 10)
    assert idents(second)[0] == (ids[500], 0)
    rest = ledger.find_work(second.next_from, 1000)
    assert len(rest.work) == 200 and rest.next_from == 0, "the end: the next look starts at the cursor"


def vm_steps(store: Store, fn) -> int:
    """SQLite virtual-machine instructions (in hundreds) that fn() costs: the work done, deterministically."""
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0
    store.conn.set_progress_handler(count, 100)
    try:
        fn()
    finally:
        store.conn.set_progress_handler(None, 100)
    return steps[0]


def test_a_look_for_work_costs_the_recorded_rows_not_the_whole_table(store):
    """Through the index of recorded rows: ten times more plain records cost the look nothing more."""
    ledger = UploadLedger(store)
    store.mark_delivered(store.add([call_record(i) for i in range(2000)] +
                                   [call_record(90000 + i, recording=recording(i)) for i in range(5)]).inserted)
    small = vm_steps(store, lambda: ledger.find_work(0, 10))
    store.mark_delivered(store.add([call_record(10000 + i) for i in range(20000)]).inserted)
    large = vm_steps(store, lambda: ledger.find_work(0, 10))
    work = ledger.find_work(0, 10).work
    assert len(work) == 5
    assert large <= small + 2, f"{small} -> {large} hundred instructions"
    ledger.settle([(w.cdr_id, w.index, UPLOADED, "") for w in work], 1.0)
    assert vm_steps(store, ledger.advance_cursor) <= small + 2
    assert ledger.cursor() == work[-1].cdr_id


def test_local_copies_deleted_are_only_those_uploaded_long_enough_ago(store, tmp_path):
    directory = tmp_path / "recordings"
    directory.mkdir()
    ids = store.add([call_record(i, recording=recording(i)) for i in range(3)]).inserted
    for i in range(3):
        (directory / f"call{i}.0000.age").write_bytes(b"x")
    ledger = UploadLedger(store)
    ledger.settle([(ids[0], 0, UPLOADED, "")], 100.0)
    ledger.settle([(ids[1], 0, UPLOADED, "")], 200.0)
    ledger.settle([(ids[2], 0, REJECTED, "sha256")], 50.0)
    assert ledger.delete_uploaded(directory, uploaded_before=150.0, now=300.0) == 1
    assert sorted(p.name for p in directory.iterdir()) == ["call1.0000.age", "call2.0000.age"]
    assert ledger.delete_uploaded(directory, uploaded_before=1e9, now=300.0) == 1
    assert [p.name for p in directory.iterdir()] == ["call2.0000.age"], "a rejected segment is never deleted"


@pytest.mark.parametrize("name", ["", ".", "..", "../x.age", "a/b.age", "/etc/passwd"])
def test_a_segment_name_never_leaves_the_recordings_directory(tmp_path, name):
    with pytest.raises(ValueError, match="unsafe segment name"):
        local_path(tmp_path, name)


def test_the_upload_table_comes_with_the_schema(store):
    assert store.schema_version == SCHEMA_VERSION
    names = {n for (n,) in store.conn.execute("SELECT name FROM sqlite_master")}
    assert {"upload", "upload_local", "cdr_recorded"} <= names
