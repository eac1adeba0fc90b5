"""LiveEvents on each backend: snapshot first then events, filters, acks, storage, a slow subscriber, the CLI."""
from __future__ import annotations

import json
import signal
import subprocess
import sys

import grpc
import pytest

from appliance.v1 import live_pb2
from tests.appliance.central.test_central_cli import dump
from tests.helpers.central_proc import CentralProcess
from tests.helpers.live_client import (Publisher, Subscriber, agent_event, alert_event, call_event, snapshot_event,
                                       stats_event)


def kinds(events) -> list[str]:
    return [e.WhichOneof("body") for e in events]


def test_a_subscriber_gets_the_site_snapshot_first_then_each_event(central, key_prefix):
    ringing = call_event(1, f"{key_prefix}c1")
    with central.channel("site-a") as site, central.channel("crm") as crm, Publisher(site, "site-a") as pub:
        pub.publish(snapshot_event(1, calls=[ringing], agents=[agent_event(1, "201")]))
        assert pub.wait_acked(1) == 1
        with Subscriber(crm, sites=["site-a"]) as sub:
            first = sub.next()
            assert first.WhichOneof("body") == "snapshot" and first.site_id == "site-a"
            assert [c.call_key for c in first.snapshot.calls] == [f"{key_prefix}c1"]
            assert [a.agent for a in first.snapshot.agents] == ["201"]
            answered = call_event(2, f"{key_prefix}c1", live_pb2.CALL_ANSWERED, agent="201")
            ended = call_event(3, f"{key_prefix}c1", live_pb2.CALL_ENDED, agent="201")
            pub.publish(answered, ended)
            assert [sub.next(), sub.next()] == [answered, ended], "in order, whole, caller unmasked"
            assert pub.wait_acked(3) == 3


def test_a_late_subscriber_sees_the_state_the_events_left(central, key_prefix):
    with central.channel("site-a") as site, central.channel("crm") as crm, Publisher(site, "site-a") as pub:
        pub.publish(snapshot_event(1), call_event(2, f"{key_prefix}gone"), call_event(3, f"{key_prefix}stays"),
                    call_event(4, f"{key_prefix}gone", live_pb2.CALL_ENDED), alert_event(5),
                    stats_event(6, waiting=4))
        pub.wait_acked(6)
        with Subscriber(crm, sites=["site-a"], include_stats=True) as sub:
            snap = sub.next().snapshot
    assert [c.call_key for c in snap.calls] == [f"{key_prefix}stays"]
    assert [(a.queue, a.level) for a in snap.alerts] == [("sales", live_pb2.ALERT_RAISED)]
    assert [(q.queue, q.waiting) for q in snap.queues] == [("sales", 4)]


def test_filters_by_site_queue_agent_and_statistics(central, key_prefix):
    p = key_prefix
    with central.channel("site-a") as site, central.channel("site-b") as site_b, central.channel("crm") as crm, \
            Publisher(site, "site-a") as pub, Publisher(site_b, "site-b") as pub_b:
        pub.publish(snapshot_event(1))
        pub_b.publish(snapshot_event(1, site_id="site-b"))
        pub.wait_acked(1)
        pub_b.wait_acked(1)
        with Subscriber(crm, sites=["site-a"], queues=["support"]) as by_queue, \
                Subscriber(crm, sites=["site-a"], agents=["202"]) as by_agent, \
                Subscriber(crm, sites=["site-b"]) as other_site, \
                Subscriber(crm, sites=["site-a"], include_stats=True) as with_stats:
            for sub in (by_queue, by_agent, with_stats, other_site):
                assert kinds([sub.next()]) == ["snapshot"], "subscribed: events from here on"
            events = [call_event(2, f"{p}sales-call"), call_event(3, f"{p}support-call", queue_name="support"),
                      call_event(4, f"{p}support-call", live_pb2.CALL_ANSWERED, queue_name="support", agent="202"),
                      agent_event(5, "202", live_pb2.AGENT_ON_CALL, queues=("support",)),
                      stats_event(6, "support"), alert_event(7, "support"),
                      call_event(8, f"{p}end-marker", queue_name="support", agent="202")]
            pub.publish(*events)
            pub.wait_acked(8)
            last = lambda e: e.site_seq == 8     # noqa: E731 - the marker every filter lets through
            assert [e.site_seq for e in by_queue.until(last)] == [3, 4, 5, 7, 8], "no stats without include_stats"
            assert [e.site_seq for e in by_agent.until(last)] == [4, 5, 7, 8], "unanswered calls have no agent"
            assert [e.site_seq for e in with_stats.until(last)] == [2, 3, 4, 5, 6, 7, 8]
            pub_b.publish(call_event(2, f"{p}b-call", site_id="site-b"))
            seen = other_site.until(lambda e: e.WhichOneof("body") == "call" and e.call.call_key == f"{p}b-call")
            assert {e.site_id for e in seen} == {"site-b"}


def test_live_events_and_statistics_are_stored(central, key_prefix):
    with central.channel("site-a") as site, Publisher(site, "site-a") as pub:
        pub.publish(call_event(1, f"{key_prefix}stored-call"), stats_event(2, "stored-queue", waiting=7))
        pub.wait_acked(2)
    events = dump(central, "--events", "--site", "site-a")
    assert any(e.get("call", {}).get("callKey") == f"{key_prefix}stored-call" for e in events)
    assert all("stats" not in e for e in events)
    stats = dump(central, "--stats")
    assert {"queue": "stored-queue", "waiting": 7} .items() <= next(
        s["stats"] for s in stats if s["stats"]["queue"] == "stored-queue").items()
    assert all(e["receivedAt"].endswith("Z") for e in events + stats)


def test_a_site_may_not_publish_for_another_site(central):
    with central.channel("site-b") as site, Publisher(site, "site-a") as pub:
        with pytest.raises(grpc.RpcError) as err:
            pub.wait_acked(1)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with central.channel("site-b") as site, Publisher(site, "site-b") as pub:
        pub.publish(call_event(1, "theirs", site_id="site-a"))
        with pytest.raises(grpc.RpcError) as err:
            pub.wait_acked(1)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_the_events_command_prints_json_lines_until_interrupted(central, pki, key_prefix):
    args = [sys.executable, "-m", "appliance.central.cli", "events", "--connect", central.address, "--ca", str(pki.ca),
            "--cert", str(pki.crm.cert), "--key", str(pki.crm.key), "--site", "site-a", "--queue", "cli-queue"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(proc.stdout.readline())
        assert first["siteId"] == "site-a" and "snapshot" in first
        with central.channel("site-a") as site, Publisher(site, "site-a") as pub:
            pub.publish(call_event(2, f"{key_prefix}cli", queue_name="cli-queue", caller="+442071234567"))
            pub.wait_acked(2)
        line = json.loads(proc.stdout.readline())
        assert line["call"]["callKey"] == f"{key_prefix}cli" and line["call"]["caller"] == "+442071234567"
        assert line["call"]["type"] == "CALL_RINGING", "protobuf JSON mapping: enum names"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err


def test_a_slow_subscriber_is_disconnected_and_nobody_else_waits(pki, tmp_path):
    """A subscriber that stops reading overflows its bounded queue: it gets RESOURCE_EXHAUSTED; the
    publisher's acks and a reading subscriber's events are not held up."""
    with CentralProcess(tmp_path / "c.db", pki=pki, extra_args=("--subscriber-queue", "50")) as central, \
            central.channel("site-a") as site, central.channel("crm") as crm, \
            grpc.secure_channel(central.address, pki.credentials("crm"),
                                options=[("grpc.http2.bdp_probe", 0)]) as slow_channel, \
            Publisher(site, "site-a") as pub:
        pub.publish(snapshot_event(1))
        pub.wait_acked(1)
        reader, slow = Subscriber(crm, sites=["site-a"]), Subscriber(slow_channel, sites=["site-a"])
        assert kinds([reader.next()]) == kinds([slow.next()]) == ["snapshot"]
        last = 3001
        pub.publish(*[call_event(i, f"slow-{i}", caller="+1555" + "0" * 200) for i in range(2, last + 1)])
        assert pub.wait_acked(last) == last             # while `slow` reads nothing
        assert [e.site_seq for e in reader.until(lambda e: e.site_seq == last)] == list(range(2, last + 1))
        with pytest.raises(grpc.RpcError) as err:
            while True:
                slow.next()
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "re-subscribe" in err.value.details()
        with Subscriber(slow_channel, sites=["site-a"]) as again:
            assert kinds([again.next()]) == ["snapshot"], "re-subscribing starts with a fresh snapshot"
        reader.close()
        slow.close()
    assert "subscriber crm disconnected (overflow)" in central.log_text()
