"""The site's own LivePublisher (appliance.sync.publisher) against the real central, seen by a CRM subscriber."""
from __future__ import annotations

import asyncio

from appliance.sync.config import CentralConfig
from appliance.sync.publisher import LivePublisher
from appliance.v1 import live_pb2
from tests.helpers.live_client import Subscriber


async def until(condition, timeout: float = 15.0) -> None:
    """A bounded wait on the loop (the publisher runs on it)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_the_sites_publisher_reaches_a_subscriber_snapshot_first(central, pki, key_prefix):
    site = pki.sites["site-a"]
    config = CentralConfig(endpoints=(central.address,), ca_file=str(pki.ca), cert_file=str(site.cert),
                           key_file=str(site.key), reconnect_delay=0.1, reconnect_delay_max=0.5)
    key = f"{key_prefix}site-call"
    ringing = live_pb2.CallEvent(call_key=key, seq=1, type=live_pb2.CALL_RINGING, queue="sales", caller="+15551234567")

    async def scenario() -> tuple[live_pb2.LiveEvent, live_pb2.LiveEvent, dict]:
        publisher = LivePublisher(config, "site-a", lambda: live_pb2.SiteSnapshot(calls=[ringing]))
        running = asyncio.create_task(publisher.run())
        try:
            await until(lambda: publisher.acked >= 1)              # the snapshot is stored and acked
            with central.channel("crm") as crm, Subscriber(crm, sites=["site-a"]) as sub:
                first = await asyncio.to_thread(sub.next)
                publisher.call(live_pb2.CallEvent(call_key=key, seq=2, type=live_pb2.CALL_ANSWERED, queue="sales",
                                                  agent="201"))
                second = await asyncio.to_thread(sub.next)
            await until(lambda: publisher.acked >= 2)
            return first, second, publisher.status()
        finally:
            await publisher.stop()
            await running
            # gRPC's aio layer finishes closing the publisher's channel in tasks of its own.
            await until(lambda: len(asyncio.all_tasks()) == 1, timeout=5)

    first, second, status = asyncio.run(scenario())
    assert first.WhichOneof("body") == "snapshot" and [c.call_key for c in first.snapshot.calls] == [key]
    assert second.call.call_key == key and second.call.type == live_pb2.CALL_ANSWERED and second.site_id == "site-a"
    assert second.site_seq > first.site_seq
    assert status["connected"] and status["dropped"] == 0 and status["ack_latency_p99_ms"] is not None
