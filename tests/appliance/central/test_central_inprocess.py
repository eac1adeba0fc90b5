"""CentralServer used in-process on an event loop (as a demo would): lifecycle and status()."""
from __future__ import annotations

import asyncio
import gc
import threading

import grpc
import pytest

from appliance.central.server import CentralServer
from appliance.v1 import sync_pb2, sync_pb2_grpc
from tests.helpers.central_proc import make_record
from tests.helpers.waiting import wait_for


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """grpc.aio's process-wide poller thread lives until its last channel/server object is collected."""
    before = set(threading.enumerate())
    yield
    gc.collect()
    wait_for(lambda: set(threading.enumerate()) <= before, timeout=5, message="grpc.aio threads to end")


async def one_batch(port: int, records) -> sync_pb2.SyncResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = sync_pb2_grpc.CdrSyncStub(channel).Sync(timeout=10)
        await call.write(sync_pb2.SyncRequest(hello=sync_pb2.Hello(site_id="site-a")))
        await call.write(sync_pb2.SyncRequest(batch=sync_pb2.CdrBatch(batch_id=3, records=records)))
        response = await call.read()
        await call.done_writing()
        return response


def test_start_serve_status_and_stop_in_process(tmp_path):
    async def scenario():
        central = CentralServer("127.0.0.1:0", tmp_path / "c.db")
        assert central.status()["state"] == "created"
        await central.start()
        try:
            assert central.port > 0
            response = await one_batch(central.port, [make_record("in-1"), make_record("in-1"), make_record("")])
            assert [a.status for a in response.acks] == [sync_pb2.STORED, sync_pb2.DUPLICATE, sync_pb2.REJECTED]
            status = central.status()
        finally:
            await central.stop(grace=2)
        return status, central.status()

    serving, stopped = asyncio.run(scenario())
    assert serving["state"] == "serving" and serving["security"] == "plaintext"
    assert (serving["batches"], serving["stored"], serving["duplicate"], serving["rejected"]) == (1, 1, 1, 1)
    assert stopped["state"] == "stopped" and stopped["streams"] == 0


def test_a_db_path_that_cannot_be_opened_fails_start_cleanly(tmp_path):
    async def scenario():
        central = CentralServer("127.0.0.1:0", tmp_path / "missing-dir" / "c.db")
        try:
            await central.start()
        except Exception as exc:     # noqa: BLE001 - the type and message are what we check
            return exc
        await central.stop()
        return None

    error = asyncio.run(scenario())
    assert error is not None and "cannot open" in str(error)
