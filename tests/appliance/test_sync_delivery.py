"""Sync to one real central: each record once, in order, within the window; rejects dead-lettered."""
from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from concurrent import futures

import grpc
import pytest

from appliance.store import Store
from appliance.sync import SyncClient, CentralConfig
from appliance.sync.convert import record_bytes, to_pb
from appliance.v1 import sync_pb2
from tests.helpers.sync_harness import (SITE, ClientThread, call_record, central_keys,
                                               dead_letters, fill_store, mtls_config, store_stats)
from tests.helpers.central_proc import CentralProcess, make_pki
from tests.helpers.waiting import wait_for


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return make_pki(tmp_path_factory.mktemp("pki"), SITE, extra_sites=())


@pytest.fixture
def central(pki, tmp_path):
    with CentralProcess(tmp_path / "central.db", pki=pki) as proc:
        yield proc


def test_whole_backlog_arrives_once_in_store_order(pki, central, tmp_path):
    keys = fill_store(tmp_path / "data", 3000)
    with ClientThread(mtls_config(pki, central.address, batch_size=200), tmp_path / "data") as client:
        wait_for(lambda: client.status()["acked_total"] == 3000, 20, message="3000 acks")
        wait_for(lambda: client.status()["backlog"] == 0, 5, message="status backlog 0")
        status = client.status()
    assert central_keys(central) == keys
    assert store_stats(tmp_path / "data")["pending"] == 0
    assert status["connected"] is True
    assert status["active_endpoint"] == central.address
    assert (status["stored_total"], status["duplicates_total"], status["rejected_total"]) == (3000, 0, 0)
    assert status["last_ack_at"] and status["last_error"] == ""


def test_rows_with_and_without_stored_bytes_arrive_in_order_with_every_field(pki, central, tmp_path):
    data = tmp_path / "data"
    old = fill_store(data, 250, serialize=None)             # stored before schema 6: no bytes
    new = fill_store(data, 250, start=250)                  # as the daemon stores them now
    fill_store(data, 10, start=500, serialize=None)
    with ClientThread(mtls_config(pki, central.address, batch_size=100), data) as client:
        wait_for(lambda: client.status()["acked_total"] == 510, 20, message="510 acks")
    assert central_keys(central)[:500] == old + new
    for i in (0, 249, 250, 499, 505):
        record = call_record(i)
        assert central.stored_payload(record.key) == to_pb(record).SerializeToString()
    assert store_stats(data)["pending"] == 0


def test_wake_sends_new_records_without_waiting_for_the_poll(pki, central, tmp_path):
    fill_store(tmp_path / "data", 1)
    config = mtls_config(pki, central.address, poll_interval_s=120.0)
    with ClientThread(config, tmp_path / "data") as client:
        wait_for(lambda: client.status()["acked_total"] == 1, 10, message="first record")
        keys = fill_store(tmp_path / "data", 5, start=1)
        client.wake()
        # The next poll is two minutes away: only wake() can explain a delivery now.
        wait_for(lambda: client.status()["acked_total"] == 6, 10, message="woken delivery")
    assert central_keys(central)[1:] == keys


def test_restarted_client_sends_only_what_was_not_acknowledged(pki, central, tmp_path):
    fill_store(tmp_path / "data", 100)
    config = mtls_config(pki, central.address)
    with ClientThread(config, tmp_path / "data") as client:
        wait_for(lambda: client.status()["acked_total"] == 100, 10, message="first 100")
    fill_store(tmp_path / "data", 50, start=100)
    with ClientThread(config, tmp_path / "data") as client:
        wait_for(lambda: client.status()["acked_total"] == 50, 10, message="next 50")
        assert client.status()["duplicates_total"] == 0
    assert len(central_keys(central)) == 150


def test_slow_central_gets_at_most_the_window_in_flight(pki, tmp_path):
    fill_store(tmp_path / "data", 400)
    with CentralProcess(tmp_path / "slow.db", pki=pki, extra_args=("--ack-delay-ms", "40")) as slow:
        config = mtls_config(pki, slow.address, batch_size=20, max_in_flight_batches=3)
        with ClientThread(config, tmp_path / "data") as client:
            wait_for(lambda: client.status()["acked_total"] == 400, 20, message="slow drain")
            status = client.status()
        assert len(central_keys(slow)) == 400
    # The window was used to the full and never exceeded; nothing timed out and was re-sent.
    assert status["in_flight_peak"] == 3
    assert status["batches_sent"] == 20
    assert status["sessions"] == 1


def test_rejected_records_wait_in_dead_letter_until_replayed_to_a_central_that_accepts(pki, tmp_path):
    data = tmp_path / "data"
    keys = fill_store(data, 10)
    refused = {keys[3], keys[4], keys[5]}
    with CentralProcess(tmp_path / "strict.db", pki=pki,
                        extra_args=("--reject-keys-matching=-0000000[345]$",)) as strict:
        with ClientThread(mtls_config(pki, strict.address), data) as client:
            wait_for(lambda: client.status()["acked_total"] == 7, 10, message="7 accepted")
            wait_for(lambda: store_stats(data)["dead_letter"] == 3, 10, message="3 dead letters")
            status = client.status()
        assert set(central_keys(strict)) == set(keys) - refused
    assert status["rejected_total"] == 3
    assert dead_letters(data) == {key: "rejected by policy" for key in refused}
    assert store_stats(data)["pending"] == 0          # no blind retry of a rejected record

    with Store(data, site_id=SITE, check=False) as store:
        assert store.replay_rejected() == 3
    with CentralProcess(tmp_path / "lenient.db", pki=pki) as lenient:
        with ClientThread(mtls_config(pki, lenient.address), data) as client:
            wait_for(lambda: client.status()["acked_total"] == 3, 10, message="replayed 3")
        assert set(central_keys(lenient)) == refused
    assert store_stats(data)["pending"] == 0
    assert store_stats(data)["dead_letter"] == 0


def test_plaintext_works_on_loopback(tmp_path):
    keys = fill_store(tmp_path / "data", 20)
    with CentralProcess(tmp_path / "plain.db") as plain:
        config = CentralConfig(endpoints=(plain.address,), plaintext=True, poll_interval_s=0.2)
        with ClientThread(config, tmp_path / "data") as client:
            wait_for(lambda: client.status()["acked_total"] == 20, 10, message="plaintext delivery")
        assert central_keys(plain) == keys


class _ShortChangingCentral:
    """A real gRPC server that acknowledges every batch but one record short: a protocol violation."""

    def Sync(self, requests, context):
        for request in requests:
            if request.WhichOneof("body") == "batch":
                batch = request.batch
                acks = [sync_pb2.RecordAck(key=r.key, status=sync_pb2.STORED) for r in batch.records[:-1]]
                yield sync_pb2.SyncResponse(batch_id=batch.batch_id, acks=acks)


@pytest.fixture
def short_changing_central():
    pool = futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-bad-central")
    server = grpc.server(pool)
    handler = grpc.method_handlers_generic_handler("appliance.v1.CdrSync", {
        "Sync": grpc.stream_stream_rpc_method_handler(
            _ShortChangingCentral().Sync, request_deserializer=sync_pb2.SyncRequest.FromString,
            response_serializer=sync_pb2.SyncResponse.SerializeToString)})
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None).wait()
    pool.shutdown(wait=True)      # the handler threads too: nothing of the test outlives it


def test_incomplete_response_drops_the_stream_and_the_records_go_to_the_next_central(
        short_changing_central, tmp_path, caplog):
    keys = fill_store(tmp_path / "data", 30)
    with CentralProcess(tmp_path / "good.db") as good:
        config = CentralConfig(endpoints=(short_changing_central, good.address), plaintext=True,
                            batch_size=10, poll_interval_s=0.2, failback_after=3600)
        with ClientThread(config, tmp_path / "data") as client:
            wait_for(lambda: store_stats(tmp_path / "data")["pending"] == 0, 10, message="outbox empty")
            # The store is marked on the store thread before the loop counts the acks: wait for both.
            wait_for(lambda: client.status()["acked_total"] >= 30, 10, message="acks counted")
            status = client.status()
        assert sorted(central_keys(good)) == keys      # all of them: nothing was taken as acked
    assert status["active_endpoint"] == good.address
    assert status["acked_total"] == 30
    assert "protocol error: batch 1: 9 acks for 10 records" in caplog.text


def test_the_log_names_a_rejected_record_by_its_whole_key(pki, tmp_path, caplog):
    """Masking hides phone numbers in log lines, never the key a technician needs to look up."""
    from datetime import datetime, timezone
    from appliance.calls import CallTracker, DeviceInfo
    from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order
    tracker, pbx = CallTracker(SITE), DeviceInfo(name="pbx1", kind="avaya-ipo", queue="sales")
    now = datetime(2026, 4, 5, 10, 0, tzinfo=timezone.utc)
    records = [cdr for rec in in_output_order(generate_avaya_calls(5, start=datetime(2026, 4, 5, 9, 30), seed=3))
               for cdr in tracker.handle(pbx, rec, now)]
    with Store(tmp_path / "data", site_id=SITE) as store:
        store.add(records)
    target = records[2].key
    assert "/pbx1/20260405T" in target
    with CentralProcess(tmp_path / "strict.db", pki=pki,
                        extra_args=(f"--reject-keys-matching=^{re.escape(target)}$",)) as strict:
        with ClientThread(mtls_config(pki, strict.address), tmp_path / "data") as client:
            # The line is logged right after the counter moves: wait for the line itself.
            wait_for(lambda: "rejected by policy" in caplog.text, 10, message="the rejection logged")
    assert f"(first: {target}: rejected by policy)" in caplog.text
    assert client.status()["rejected_total"] == 1


@pytest.mark.parametrize("serialize", [record_bytes, None], ids=["stored-bytes", "rows-without-bytes"])
def test_record_that_cannot_be_encoded_is_dead_lettered_locally_and_the_rest_flow(pki, central, tmp_path, serialize):
    data = tmp_path / "data"
    with Store(data, site_id=SITE) as store:
        store.add([call_record(0), call_record(1, direction="sideways"), call_record(2)], serialize=serialize)
    with ClientThread(mtls_config(pki, central.address), data) as client:
        wait_for(lambda: store_stats(data)["pending"] == 0, 10, message="outbox empty")
        status = client.status()
    assert central_keys(central) == [call_record(0).key, call_record(2).key]
    assert dead_letters(data) == {call_record(1).key: "not sendable: unknown direction 'sideways'"}
    assert (status["unsendable_total"], status["rejected_total"]) == (1, 1)


def test_replayed_dead_letters_are_sent_by_a_running_client(pki, tmp_path):
    data = tmp_path / "data"
    keys = fill_store(data, 6)
    with CentralProcess(tmp_path / "strict.db", pki=pki,
                        extra_args=("--reject-keys-matching=-00000002$",)) as strict:
        with ClientThread(mtls_config(pki, strict.address), data) as client:
            wait_for(lambda: store_stats(data)["dead_letter"] == 1, 10, message="one dead letter")
            with Store(data, site_id=SITE, check=False) as store:
                assert store.replay_rejected() == 1
            client.wake()
            # Same central, same policy: it is refused again, and counted as a second attempt.
            wait_for(lambda: client.status()["rejected_total"] == 2, 10, message="second refusal")
        assert sorted(central_keys(strict)) == sorted(set(keys) - {keys[2]})
    with Store(data, site_id=SITE, check=False) as store:
        [row] = list(store.export("dead_letter"))
    assert (row["key"], row["attempts"]) == (keys[2], 2)


def test_store_trouble_is_retried_on_the_same_central_without_failing_over(pki, central, tmp_path):
    keys = fill_store(tmp_path / "data", 20)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be")
    where = {"dir": blocker}
    config = mtls_config(pki, central.address, "127.0.0.1:1", reconnect_delay=0.05,
                         reconnect_delay_max=0.2)
    factory = lambda: Store(where["dir"], site_id=SITE, check=False)      # noqa: E731
    with ClientThread(config, tmp_path / "data", store_factory=factory) as client:
        wait_for(lambda: client.status()["last_error"].startswith("store: "), 10, message="a store error")
        where["dir"] = tmp_path / "data"            # the disk is back
        wait_for(lambda: client.status()["acked_total"] == 20, 10, message="delivery after recovery")
        status = client.status()
    assert central_keys(central) == keys
    assert status["failovers"] == 0 and status["active_endpoint"] == central.address


def test_a_failing_store_is_not_reported_as_fresh_connections_to_the_central(pki, central, tmp_path, caplog):
    """Each session ends for the local store and reconnects to the same, healthy central: the log
    says "connected" once and the store error once, not one pair per retry."""
    keys = fill_store(tmp_path / "data", 20)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the data directory should be")
    where = {"dir": blocker}
    config = mtls_config(pki, central.address, reconnect_delay=0.05, reconnect_delay_max=0.1)
    factory = lambda: Store(where["dir"], site_id=SITE, check=False)      # noqa: E731
    caplog.set_level("DEBUG", logger="appliance.sync")
    errors_seen = []
    with ClientThread(config, tmp_path / "data", store_factory=factory) as client:
        def retried_often() -> bool:
            errors_seen.append(client.status()["last_error"])
            return client.status()["sessions"] >= 5
        wait_for(retried_often, 10, message="five sessions ended by the store")
        connects_while_failing = caplog.text.count("connected to central")
        store_lines_while_failing = [r for r in caplog.records
                                     if r.levelname == "WARNING" and r.getMessage().startswith("store: ")]
        where["dir"] = tmp_path / "data"            # the disk is back
        wait_for(lambda: client.status()["acked_total"] == 20, 10, message="delivery after recovery")
        status = client.status()
    assert connects_while_failing == 1
    assert len(store_lines_while_failing) == 1
    # Once the store error was seen, status kept it: no blank moment on every reconnect.
    first = next(i for i, e in enumerate(errors_seen) if e)
    assert all(e.startswith("store: ") for e in errors_seen[first:])
    assert caplog.text.count("store: working again") == 1
    assert caplog.text.count("connected to central") == 1
    assert central_keys(central) == keys
    assert (status["last_error"], status["failovers"], status["active_endpoint"]) == ("", 0, central.address)


def test_daemon_style_await_stop_returns_once_run_has_finished(tmp_path):
    keys = fill_store(tmp_path / "data", 3)
    with CentralProcess(tmp_path / "plain.db") as plain:
        config = CentralConfig(endpoints=(plain.address,), plaintext=True, poll_interval_s=0.2)

        async def daemon():
            client = SyncClient(config, lambda: Store(tmp_path / "data", site_id=SITE, check=False), SITE)
            task = asyncio.create_task(client.run(), name="sync")
            first_progress = client.status()["last_progress"]
            while client.status()["acked_total"] < 3 or client.status()["last_progress"] == first_progress:
                await asyncio.sleep(0.02)           # polling interval of a bounded wait (outer timeout)
            await client.stop()
            return task.done(), client.status()

        finished, status = asyncio.run(asyncio.wait_for(daemon(), 15))
        assert central_keys(plain) == keys
    assert finished is True
    assert status["connected"] is False
    assert status["backlog"] == 0 and status["oldest_unsent_age_s"] is None


def test_last_progress_stalls_while_a_store_thread_is_stuck_and_resumes_after(pki, central, tmp_path):
    """What the systemd watchdog reads: alive while idle, frozen while SQLite holds a store thread."""
    data = tmp_path / "data"
    fill_store(data, 1)
    with ClientThread(mtls_config(pki, central.address), data) as client:
        wait_for(lambda: client.status()["acked_total"] == 1, 10, message="first delivery")
        idle_since = client.status()["last_progress"]
        wait_for(lambda: client.status()["last_progress"] > idle_since, 5, message="progress while idle")
        fill_store(data, 5, start=1)
        with sqlite3.connect(data / "appliance.db", timeout=10) as blocker:
            blocker.execute("BEGIN IMMEDIATE")          # another writer holds the database
            client.wake()
            # The records go out and come back acked, but marking them waits for the lock.
            wait_for(lambda: len(central_keys(central)) == 6, 10, message="central has them")
            wait_for(lambda: time.monotonic() - client.status()["last_progress"] > 2.5, 10,
                     message="last_progress to stall")
            blocker.rollback()
        wait_for(lambda: client.status()["acked_total"] == 6, 10, message="marks after the lock")
        assert time.monotonic() - client.status()["last_progress"] < 2.5
    assert store_stats(data)["pending"] == 0
