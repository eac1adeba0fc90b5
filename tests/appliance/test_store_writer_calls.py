"""Other writes of the site's database (the sync's acks) go through the store writer, between its
batches: a connection of its own would wait in SQLite's busy handler for as long as an ingest
keeps the writer committing back to back."""
from __future__ import annotations

import dataclasses
import threading

import pytest

from appliance.common.backoff import BackoffPolicy
from appliance.store import Store, StoreError, StoreWriter
from appliance.sync.convert import record_bytes
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.store_gate import Gate
from tests.helpers.sync_harness import SITE, ClientThread, call_record, central_keys, fill_store, mtls_config
from tests.helpers.waiting import wait_for


def in_thread(fn):
    """Run fn() in a thread; returns (thread, box) where box gets ("ok", value) or ("error", exc)."""
    box: list = []

    def run():
        try:
            box.append(("ok", fn()))
        except Exception as exc:    # noqa: BLE001 - handed to the test
            box.append(("error", exc))
    thread = threading.Thread(target=run, name="test-call", daemon=True)
    thread.start()
    return thread, box


def test_a_call_runs_before_the_batches_queued_ahead_of_it_and_returns_its_result(tmp_path):
    gate = Gate(tmp_path)
    writer = StoreWriter(gate, max_batch=100)
    try:
        writer.submit([call_record(0)])
        assert gate.entered.wait(5)                   # the writer is stuck opening its store
        for j in range(5):
            writer.submit([call_record(100 + j * 100 + i) for i in range(100)])
        thread, box = in_thread(lambda: writer.call(lambda store: store.stats()["stored"]))
        wait_for(lambda: writer.status()["calls_waiting"] == 1, message="the call is queued")
        gate.released.set()
        thread.join(10)
        # It ran as soon as the writer had its store: before the 500 records queued ahead of it.
        assert box == [("ok", 0)]
        assert writer.flush(10)
    finally:
        assert writer.close(5)
    with Store(tmp_path, site_id=SITE) as store:
        assert store.stats()["stored"] == 501


def test_a_failing_call_raises_in_its_caller_and_the_writer_goes_on(tmp_path):
    writer = StoreWriter(lambda: Store(tmp_path, site_id=SITE, check=False))
    try:
        with pytest.raises(ZeroDivisionError):
            writer.call(lambda store: 1 / 0)
        three = [call_record(i) for i in range(3)]
        writer.submit(three)
        assert writer.flush(5)
        assert writer.call(lambda store: store.mark_delivered([1, 2])) == 2
        assert writer.healthy and writer.errors == 0
    finally:
        assert writer.close(5)
    with Store(tmp_path, site_id=SITE) as store:
        assert store.stats()["pending"] == 1


def test_a_closed_writer_refuses_calls(tmp_path):
    writer = StoreWriter(lambda: Store(tmp_path, site_id=SITE, check=False))
    assert writer.close(5)
    with pytest.raises(StoreError):
        writer.call(lambda store: None)


def test_a_call_does_not_wait_out_the_back_off_of_a_failing_batch(tmp_path):
    Store(tmp_path, site_id=SITE).close()
    cap = {"bytes": 64 * 1024}
    writer = StoreWriter(lambda: Store(tmp_path, site_id=SITE, check=False, max_db_bytes=cap["bytes"]),
                         retry=BackoffPolicy(base_s=60.0, cap_s=60.0))
    try:
        writer.submit([call_record(i, raw="x" * 4000) for i in range(100)])     # more than the disk holds
        wait_for(lambda: writer.errors >= 1, message="the batch failed")
        # The writer now waits 60 s before retrying; a read-only call still runs at once.
        assert writer.call(lambda store: store.stats()["stored"], timeout=10) == 0
        assert writer.queue_depth == 100
        cap["bytes"] = None
        writer.retry_now()
        assert writer.flush(10)
    finally:
        writer.close(5)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), SITE, extra_sites=())


def test_acks_are_written_while_an_ingest_keeps_the_writer_busy(pki, tmp_path):
    """The CRM gets records during a long ingest (a PBX replaying its buffer), not only after it:
    the sync's acks are written by the busy writer, between its batches. The sync's own store is
    read-only here, so every ack that lands went through the writer."""
    data = tmp_path / "data"
    backlog = fill_store(data, 2000)
    writer = StoreWriter(lambda: Store(data, site_id=SITE, check=False), serialize=record_bytes,
                         max_pending=2000)
    template = call_record(0)
    stop = threading.Event()

    def ingest():
        n = 10_000
        while not stop.is_set():         # submit blocks while 2,000 wait: the writer never idles
            writer.submit([dataclasses.replace(template, key=f"{SITE}-{i:08d}") for i in range(n, n + 200)])
            n += 200
    def parse():                         # the event loop's share of an ingest: Python holding the GIL
        while not stop.is_set():
            sum(range(10_000))
    feeder = threading.Thread(target=ingest, name="test-ingest", daemon=True)
    parser = threading.Thread(target=parse, name="test-parse", daemon=True)
    feeder.start()
    parser.start()
    try:
        wait_for(lambda: writer.transactions >= 5, message="the ingest is under way")
        with CentralProcess(tmp_path / "central.db", pki=pki) as central, \
                ClientThread(mtls_config(pki, central.address, batch_size=500), data,
                             store_factory=lambda: Store(data, site_id=SITE, read_only=True),
                             store_writes=writer.call) as client:
            wait_for(lambda: client.status()["acked_total"] >= 2000, 30, message="2,000 acks during the ingest")
            assert not stop.is_set() and feeder.is_alive()       # still ingesting all along
            assert central_keys(central)[:2000] == backlog
            with Store(data, site_id=SITE, check=False) as store:
                delivered = store.conn.execute("SELECT count(*) FROM cdr WHERE id <= 2000 AND id NOT IN "
                                               "(SELECT cdr_id FROM outbox)").fetchone()[0]
            assert delivered == 2000
    finally:
        stop.set()
        feeder.join(30)
        parser.join(30)
        writer.close(30)
