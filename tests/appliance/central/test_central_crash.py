"""kill -9 of a real central mid-stream: every acked record survives, no batch is half-stored, re-sends dedupe."""
from __future__ import annotations

from contextlib import closing
import sqlite3
import threading

import grpc

from appliance.v1 import sync_pb2
from tests.helpers.central_proc import CentralProcess, SyncStream, make_record
from tests.helpers.waiting import wait_for

BATCH = 200
IN_FLIGHT = 3       # batches sent ahead of their acks, as a pipelining site does


def batch_keys(batch_id: int) -> list[str]:
    return [f"crash:{batch_id}:{i}" for i in range(BATCH)]


def stream_until_broken(central: CentralProcess, acked: set[str], sent: list[int]) -> None:
    """Send batches (IN_FLIGHT ahead) until the central dies; collect every key acked STORED."""
    with central.channel("site-a") as channel, SyncStream(channel, "site-a", timeout=60) as stream:
        try:
            for batch_id in range(IN_FLIGHT):
                stream.send_batch(batch_id, [make_record(k) for k in batch_keys(batch_id)])
                sent.append(batch_id)
            while True:
                response = stream.receive()
                acked.update(a.key for a in response.acks if a.status == sync_pb2.STORED)
                next_id = sent[-1] + 1
                stream.send_batch(next_id, [make_record(k) for k in batch_keys(next_id)])
                sent.append(next_id)
        except grpc.RpcError:
            return


def test_kill_9_mid_stream_keeps_every_acked_record(pki, tmp_path):
    db = tmp_path / "central.db"
    central = CentralProcess(db, pki=pki)
    acked: set[str] = set()
    sent: list[int] = []
    try:
        central.start()
        pump = threading.Thread(target=stream_until_broken, args=(central, acked, sent), name="test-site-pump")
        pump.start()
        wait_for(lambda: len(acked) >= 10 * BATCH, timeout=30, message="ten acked batches")
        central.kill9()
        pump.join(30)
        assert not pump.is_alive()

        central.start()                         # same db, same port: recovery happens in the real server
        with closing(sqlite3.connect(db)) as conn:
            stored = {k for (k,) in conn.execute("SELECT key FROM records WHERE site_id = 'site-a'")}
        assert acked <= stored, f"{len(acked - stored)} acked records lost"
        for batch_id in sent:
            present = len(set(batch_keys(batch_id)) & stored)
            assert present in (0, BATCH), f"batch {batch_id} half-stored ({present} of {BATCH})"

        # The site re-sends whatever it has no ack for (here: everything); the central dedupes.
        with central.channel("site-a") as channel, SyncStream(channel, "site-a") as stream:
            for batch_id in sent:
                response = stream.batch(batch_id, [make_record(k) for k in batch_keys(batch_id)])
                for ack in response.acks:
                    expected = sync_pb2.DUPLICATE if ack.key in stored else sync_pb2.STORED
                    assert ack.status == expected, ack
        with closing(sqlite3.connect(db)) as conn:
            total = conn.execute("SELECT count(*) FROM records").fetchone()[0]
        assert total == len(sent) * BATCH
    finally:
        central.close()
