"""Central replicas on one PostgreSQL with the real daemon: replica kill -9, daemon kill -9, database outage,
live events across replicas. Exactly once is checked in the database, by the raw SMDR line of every call."""
from __future__ import annotations

import random
from collections import Counter
from datetime import datetime

import grpc
import pytest

from appliance.v1 import cdr_pb2
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order
from firmware_bridge.smdr.emulator import AvayaEmulator
from tests.helpers.central_proc import CentralProcess, SyncStream, make_pki, make_record
from tests.helpers.daemon_proc import DaemonProcess
from tests.helpers.live_client import Publisher, Subscriber, call_event, snapshot_event
from tests.helpers.pg_cluster import PASSWORD
from tests.helpers.waiting import free_port, wait_for
from tests.system.test_daemon_central import daemon_config, lines, outbox_size

pytestmark = pytest.mark.system
SITE = "site-sys"


@pytest.fixture
def pki(tmp_path):
    return make_pki(tmp_path / "pki", site_id=SITE, extra_sites=("site-a",))


@pytest.fixture
def replicas(pg, pki, tmp_path):
    """Two centrals (A, B) on one fresh database, sharing one recordings directory; not started."""
    url = pg.url(pg.new_database())
    shared = ("--recordings-dir", str(tmp_path / "recordings"), "--health-interval-s", "0.3")
    made = [CentralProcess(tmp_path / f"{name}.db", pki=pki, db=url, env={"PGPASSWORD": PASSWORD}, extra_args=shared)
            for name in ("replica-a", "replica-b")]
    yield made
    for central in made:
        central.close()


def stored_raws(central: CentralProcess) -> list[str]:
    """The raw SMDR line of every record the database holds for the site (one entry per row)."""
    with central.open_store() as store:
        return [cdr_pb2.CallRecord.FromString(r.payload).raw for r in store.records(SITE)]


def test_kill_9_of_a_replica_mid_stream_fails_over_and_stores_each_record_once(tmp_path, pki, replicas):
    records = in_output_order(generate_avaya_calls(1500, start=datetime(2026, 5, 1, 8), seed=31))
    a, b = replicas
    avaya = free_port()
    a.start()
    b.start()
    config = daemon_config(tmp_path, pki, [a.address, b.address], avaya)
    with DaemonProcess(config) as daemon, AvayaEmulator("127.0.0.1", avaya, buffer_limit=10_000, max_chunk=1500,
                                                        chunk_delay=0.004) as pbx:
        daemon.start()
        pbx.send(records)
        wait_for(lambda: len(stored_raws(a)) >= 300, 30, message="records arriving through replica A")
        a.kill9()                                   # mid-stream: batches in flight at A are never acked
        assert pbx.wait_sent(60)
        wait_for(lambda: len(stored_raws(b)) >= len(records), 60, message="the rest through replica B")
        wait_for(lambda: outbox_size(tmp_path) == 0, 15, message="outbox drained")
        assert daemon.terminate() == 0
    assert Counter(stored_raws(b)) == Counter(lines(records)), "every record exactly once"


def test_kill_9_of_the_daemon_at_random_points_stores_each_record_once(tmp_path, pki, replicas):
    records = in_output_order(generate_avaya_calls(2000, start=datetime(2026, 5, 2, 8), seed=32))
    a, b = replicas
    a.start()
    b.start()
    avaya = free_port()
    rng = random.Random(33)
    config = daemon_config(tmp_path, pki, [b.address, a.address], avaya)
    with DaemonProcess(config) as daemon, \
            AvayaEmulator("127.0.0.1", avaya, buffer_limit=10_000, resend_on_reconnect=len(records),
                          reconnect_delay=0.02, reconnect_delay_max=0.1, max_chunk=1500, chunk_delay=0.004) as pbx:
        daemon.start()
        pbx.send(records)
        for kill, target in enumerate(sorted(rng.sample(range(50, len(records) - 50), 6))):
            wait_for(lambda: len(stored_raws(a)) >= target, 30, message=f"kill {kill} at {target}")
            daemon.kill()
            daemon.start()
        assert pbx.wait_sent(30)
        wait_for(lambda: len(stored_raws(a)) >= len(records), 60, message="everything in the database")
        wait_for(lambda: outbox_size(tmp_path) == 0, 15, message="outbox drained")
        assert daemon.terminate() == 0
    assert Counter(stored_raws(a)) == Counter(lines(records))


def test_while_the_database_is_down_nothing_is_acked_and_everything_drains_once_after(tmp_path, pg, pki, replicas):
    records = in_output_order(generate_avaya_calls(900, start=datetime(2026, 5, 3, 8), seed=34))
    first, outage, after = records[:300], records[300:600], records[600:]
    a, b = replicas
    a.start()
    b.start()
    avaya = free_port()
    config = daemon_config(tmp_path, pki, [a.address, b.address], avaya)
    try:
        with DaemonProcess(config) as daemon, AvayaEmulator("127.0.0.1", avaya, buffer_limit=10_000) as pbx:
            daemon.start()
            pbx.send(first)
            wait_for(lambda: len(stored_raws(a)) == len(first), 30, message="the first part stored")
            pg.stop()
            for central in (a, b):
                wait_for(lambda: central.health("appliance.v1.CdrSync") == "NOT_SERVING", 10,
                         message="NOT_SERVING while the database is down")
            with a.channel(SITE) as channel, SyncStream(channel, SITE, timeout=10) as stream:
                with pytest.raises(grpc.RpcError) as err:
                    stream.batch(1, [make_record("during-outage", site_id=SITE)])
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            pbx.send(outage)
            wait_for(lambda: outbox_size(tmp_path) >= len(outage), 30, message="the site keeping its backlog")
            pg.start()
            for central in (a, b):
                wait_for(lambda: central.health("appliance.v1.CdrSync") == "SERVING", 15,
                         message="SERVING once the database is back")
            pbx.send(after)
            wait_for(lambda: len(stored_raws(a)) >= len(records), 60, message="the backlog drained")
            wait_for(lambda: outbox_size(tmp_path) == 0, 15, message="outbox drained")
            assert daemon.terminate() == 0
    finally:
        if not pg.is_running():
            pg.start()
    assert Counter(stored_raws(a)) == Counter(lines(records))
    assert "during-outage" not in a.stored_keys(SITE)


def test_a_subscriber_on_one_replica_sees_events_published_to_the_other(replicas):
    a, b = replicas
    a.start()
    b.start()
    with a.channel("crm") as crm, b.channel("site-a") as site, Publisher(site, "site-a") as pub:
        pub.publish(snapshot_event(1, calls=[call_event(1, "x-ringing")]))
        pub.wait_acked(1)
        with Subscriber(crm, sites=["site-a"]) as sub:
            snap = sub.next()
            assert [c.call_key for c in snap.snapshot.calls] == ["x-ringing"], "A knows B's state"
            big = call_event(3, "x-big", caller="+1" + "5" * 7000)      # larger than a NOTIFY payload
            pub.publish(call_event(2, "x-ringing", agent="201", kind=2), big)
            pub.wait_acked(3)
            got = sub.until(lambda e: e.call.call_key == "x-big")
    assert [e.call.call_key for e in got] == ["x-ringing", "x-big"]
    assert got[1] == big


def test_a_replica_started_later_knows_each_site_from_the_database(replicas):
    a, b = replicas
    a.start()
    with a.channel("site-a") as site, Publisher(site, "site-a") as pub:
        pub.publish(snapshot_event(1, calls=[call_event(1, "before-restart")]))
        pub.wait_acked(1)
    a.kill9()
    b.start()
    with b.channel("crm") as crm, Subscriber(crm, sites=["site-a"]) as sub:
        assert [c.call_key for c in sub.next().snapshot.calls] == ["before-restart"]
