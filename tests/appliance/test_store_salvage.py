"""Salvage on real damaged SQLite files: every readable row comes back, the lost ones are counted
exactly, undelivered records are re-queued, and doing it twice changes nothing."""
from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from appliance.store import Store
from appliance.store.pages import PageReader
from appliance.store.salvage import describe, read_damaged, salvage_into
from tests.appliance.test_store import SITE, rec

N = 3000


def pages_of(db: Path, name: str, kind: str) -> list[int]:
    conn = sqlite3.connect(db)
    try:
        return [p for (p,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? "
                                           "ORDER BY pageno", (name, kind))]
    finally:
        conn.close()


def smash(db: Path, page: int) -> set[str]:
    """Garbage over one page; returns the record keys whose text that page held."""
    with open(db, "r+b") as f:
        f.seek((page - 1) * 4096)
        held = f.read(4096)
        f.seek((page - 1) * 4096)
        f.write(b"\xde\xad\xbe\xef" * 1024)
    return {rec(i).key for i in range(N) if rec(i).key.encode() in held}


@pytest.fixture
def damaged(tmp_path) -> Path:
    """3,000 records, the first 500 delivered, one dead letter, one rejected input."""
    src = tmp_path / "src"
    with Store(src, site_id=SITE) as s:
        from appliance.store import RejectedRaw
        ids = s.add([rec(i) for i in range(N)], [RejectedRaw("pbx1", "junk", b"\x00\xff", "t0")]).inserted
        s.mark_delivered(ids[:500])
        s.mark_rejected([(ids[500], "bad queue")])
    return src / "appliance.db"


def salvage(tmp_path, db: Path) -> tuple[dict, Store]:
    store = Store(tmp_path / "new", site_id=SITE)
    return salvage_into(store, db), store


def pending_keys(store) -> set[str]:
    return {row["key"] for row in store.export("outbox")}


WAITING = {rec(i).key for i in range(501, N)}           # what the central has not acknowledged


def test_a_smashed_record_page_costs_exactly_its_rows_and_the_rest_is_requeued(tmp_path, damaged):
    leaves = pages_of(damaged, "cdr", "leaf")
    lost = smash(damaged, leaves[len(leaves) // 2])
    assert 0 < len(lost) < 50
    report, store = salvage(tmp_path, damaged)
    with store:
        assert report["outcome"] == "partial" and report["outbox_intact"]
        assert report["records_recovered"] == N - len(lost)
        assert report["records_lost"] == report["pending_lost"] == len(lost)
        assert pending_keys(store) == WAITING - lost                       # exactly the undelivered ones
        [dead] = list(store.export("dead_letter"))
        assert (dead["key"], dead["reason"]) == (rec(500).key, "bad queue")
        assert [r["raw_b64"] for r in store.export("rejected_raw")] == ["AP8="]
        assert store.salvage_reports()[0]["records_lost"] == len(lost)     # kept until acknowledged


def test_a_smashed_interior_page_loses_nothing(tmp_path, damaged):
    [root] = pages_of(damaged, "cdr", "internal")
    smash(damaged, root)
    report, store = salvage(tmp_path, damaged)
    with store:
        assert report["records_recovered"] == N and report["records_lost"] == 0
        assert pending_keys(store) == WAITING


def test_a_smashed_outbox_page_requeues_every_record_not_known_dead(tmp_path, damaged):
    smash(damaged, pages_of(damaged, "outbox", "leaf")[1])
    report, store = salvage(tmp_path, damaged)
    with store:
        assert not report["outbox_intact"] and report["records_lost"] == 0
        # which undelivered rows the page held is unknowable: send all again, the central de-duplicates
        assert pending_keys(store) == {rec(i).key for i in range(N)} - {rec(500).key}


def test_a_smashed_first_page_still_gives_every_record(tmp_path, damaged):
    smash(damaged, 1)
    report, store = salvage(tmp_path, damaged)
    with store:
        assert report["records_recovered"] == N and report["unreadable_pages"] == 1
        assert pending_keys(store) >= WAITING


def test_committed_pages_still_in_the_wal_are_read_from_it(tmp_path):
    src = tmp_path / "src"
    writer = Store(src, site_id=SITE)
    writer.add([rec(i) for i in range(200)])
    reader = Store(src, site_id=SITE, check=False)       # a reader keeps the WAL from being removed
    db = src / "appliance.db"
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy(db, copy / "appliance.db")
    shutil.copy(f"{db}-wal", copy / "appliance.db-wal")
    writer.close()
    reader.close()
    reader_pages = PageReader(copy / "appliance.db", copy / "appliance.db-wal")
    assert reader_pages.wal_frames > 0
    found = read_damaged(copy / "appliance.db")
    assert len(found.rows["cdr"]) == 200
    (copy / "appliance.db-wal").unlink()
    assert len(read_damaged(copy / "appliance.db").rows["cdr"]) == 0    # the main file alone had none


def test_salvaging_twice_adds_nothing_and_keeps_records_made_since(tmp_path, damaged):
    smash(damaged, pages_of(damaged, "cdr", "leaf")[3])
    report, store = salvage(tmp_path, damaged)
    with store:
        store.add([rec(N + 1)])                                          # the new store lives on
        again = salvage_into(store, damaged)
        assert again["records_new"] == 0
        assert store.stats()["stored"] == report["records_recovered"] + 1
        assert store.stats()["rejected_raw"] == 1
        assert len(store.salvage_reports()) == 1                          # one report per file
        assert store.acknowledge_salvage() == 1 and store.salvage_reports() == []


def retire_delivered(db: Path) -> list[tuple[int, int]]:
    """Retention deletes the 500 delivered records (the dead letter and the outbox stay); returns its runs."""
    from appliance.store.retention import delete_expired
    with Store(db.parent, site_id=SITE) as s:
        assert delete_expired(s, time.time() + 60).deleted == 500
        return s.conn.execute("SELECT lo, hi FROM retired ORDER BY lo").fetchall()


def test_records_retention_deleted_are_not_counted_as_lost(tmp_path, damaged):
    assert retire_delivered(damaged) == [(1, 500)]
    leaves = pages_of(damaged, "cdr", "leaf")
    lost = smash(damaged, leaves[len(leaves) // 2])
    assert lost and not lost & {rec(i).key for i in range(500)}
    report, store = salvage(tmp_path, damaged)
    with store:
        assert report["records_retired"] == 500 and report["retired_known"]
        assert report["records_recovered"] == N - 500 - len(lost)
        assert report["records_lost"] == report["pending_lost"] == len(lost)     # not 500 more
        assert pending_keys(store) == WAITING - lost


def test_a_healthy_file_after_retention_salvages_with_nothing_lost(tmp_path, damaged):
    retire_delivered(damaged)
    report, store = salvage(tmp_path, damaged)
    with store:
        assert report["outcome"] == "complete" and report["records_lost"] == 0
        assert "nothing lost" in describe(report)


def test_retention_runs_merge_as_gaps_close(tmp_path):
    from appliance.store.retention import delete_expired
    with Store(tmp_path / "d", site_id=SITE) as s:
        ids = s.add([rec(i) for i in range(10)]).inserted
        s.mark_delivered([i for i in ids[:9] if i != ids[4]])              # the fifth is still pending
        delete_expired(s, time.time() + 60)
        assert s.conn.execute("SELECT lo, hi FROM retired ORDER BY lo").fetchall() == [(1, 4), (6, 9)]
        s.mark_delivered([ids[4]])
        delete_expired(s, time.time() + 60)
        assert s.conn.execute("SELECT lo, hi FROM retired").fetchall() == [(1, 9)]   # the newest (10) is kept
