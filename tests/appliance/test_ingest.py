"""Ingest on a real loop with a real store writer: backpressure pauses input when the disk is behind
and resumes it when it catches up; bad input is logged once per burst, summed up on a timer."""
from __future__ import annotations

import asyncio
import logging
import sqlite3
from datetime import datetime, timezone

from appliance.calls import CallTracker, DeviceInfo
from appliance.common.bursts import BurstLimiter
from appliance.ingest import Ingest
from appliance.store import DB_NAME, Store, StoreWriter
from firmware_bridge.events import ProtocolError
from firmware_bridge.smdr.avaya import parse_line
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order
from firmware_bridge.smdr.avaya import encode_record

SITE = "site-a"
PBX = DeviceInfo(name="pbx1", kind="avaya-ipo", queue="sales")


def records(n: int) -> list:
    calls = in_output_order(generate_avaya_calls(n, start=datetime(2026, 5, 1, 9), seed=8))
    return [parse_line(encode_record(r)[:-2]) for r in calls]


class Inputs:
    """What the daemon does with pause_inputs(): remembered, in order."""

    def __init__(self):
        self.calls: list[bool] = []

    def __call__(self, paused: bool) -> None:
        self.calls.append(paused)


def make(loop, writer, inputs, released=None, bursts=None) -> Ingest:
    return Ingest(CallTracker(SITE), writer, loop=loop, device_info={"pbx1": PBX},
                  pause_inputs=inputs, count_error=lambda name: None, on_durable=lambda n: None,
                  release=(lambda name, mark: released.append(mark)) if released is not None else (lambda *_: None),
                  wallclock=lambda: datetime(2026, 5, 1, 12, tzinfo=timezone.utc), bursts=bursts)


def test_a_full_writer_queue_pauses_input_and_a_drained_one_resumes_it(tmp_path):
    events = records(60)
    data = tmp_path / "data"
    Store(data, site_id=SITE).close()
    locker = sqlite3.connect(data / DB_NAME, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")            # another process holds the write lock: commits wait
    inputs, released = Inputs(), []

    async def scenario():
        loop = asyncio.get_running_loop()
        writer = StoreWriter(lambda: Store(data, site_id=SITE, check=False, busy_timeout_s=0.05),
                             max_batch=10, max_pending=20)
        ingest = make(loop, writer, inputs, released)
        try:
            for i in range(0, len(events), 10):
                ingest.on_events("pbx1", events[i:i + 10], mark=("up to", i + 10))
            assert inputs.calls == [True]                     # paused once, at the first refusal
            assert writer.queue_depth <= 20                   # memory stays bounded
            assert released == []                             # nothing durable: no byte given up
            locker.execute("ROLLBACK")                        # the disk catches up
            deadline = loop.time() + 10
            while inputs.calls[-1] is not False:
                assert loop.time() < deadline, "input never resumed"
                await asyncio.sleep(0.02)
            await asyncio.to_thread(writer.flush, 10)
            await asyncio.sleep(0)                            # durable callbacks hop back to the loop
            deadline = loop.time() + 5
            while len(released) < len(events) // 10:
                assert loop.time() < deadline, "marks not released"
                await asyncio.sleep(0.01)
            return ingest.records_durable
        finally:
            await asyncio.to_thread(writer.close, 10)

    durable = asyncio.run(scenario())
    locker.close()
    assert durable == len(events)
    assert inputs.calls == [True, False]
    assert released == [("up to", i + 10) for i in range(0, len(events), 10)]   # in order
    with Store(data, site_id=SITE, check=False) as store:
        assert store.stats()["stored"] == len(events)


def test_bad_input_is_logged_once_per_burst_and_summed_up_when_the_burst_ends(tmp_path, caplog):
    now = [0.0]
    bursts = BurstLimiter(window_s=10.0, clock=lambda: now[0])
    garbage = [ProtocolError("not an SMDR line", b"07700900123 NO CARRIER") for _ in range(5)]

    async def scenario():
        writer = StoreWriter(lambda: Store(tmp_path / "data", site_id=SITE, check=False))
        ingest = make(asyncio.get_running_loop(), writer, Inputs(), bursts=bursts)
        try:
            with caplog.at_level(logging.WARNING, logger="appliance.daemon"):
                ingest.on_events("pbx1", garbage)
                ingest.tick()                               # the burst's window has not ended
                now[0] = 11.0
                ingest.tick()                               # ended: one summary, no new input needed
                ingest.tick()
            await asyncio.to_thread(writer.flush, 10)
            return ingest.protocol_errors
        finally:
            await asyncio.to_thread(writer.close, 10)

    errors = asyncio.run(scenario())
    messages = [r.getMessage() for r in caplog.records]
    assert errors == 5 and len(messages) == 2, messages
    assert messages[0].startswith("pbx1: unparseable input kept in rejected_raw")
    assert "4 more unparseable input line(s)" in messages[1]
    assert not any("07700900123" in m for m in messages)           # numbers are masked in logs
    with Store(tmp_path / "data", site_id=SITE, check=False) as store:
        assert store.stats()["rejected_raw"] == 5                   # every raw byte kept


def test_batches_held_back_by_backpressure_are_handed_to_the_writer_at_shutdown(tmp_path):
    events = records(40)
    data = tmp_path / "data"
    Store(data, site_id=SITE).close()
    locker = sqlite3.connect(data / DB_NAME, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")            # the disk is stuck: the writer's queue fills

    async def scenario():
        loop = asyncio.get_running_loop()
        writer = StoreWriter(lambda: Store(data, site_id=SITE, check=False, busy_timeout_s=0.05),
                             max_batch=10, max_pending=10)
        ingest = make(loop, writer, Inputs())
        try:
            for i in range(0, len(events), 10):
                ingest.on_events("pbx1", events[i:i + 10])
            waiting = writer.records_waiting
            handed = ingest.hand_over_held()                  # what stopping does
            assert handed > 0 and writer.records_waiting == waiting + handed == len(events)
            locker.execute("ROLLBACK")
            assert await asyncio.to_thread(writer.flush, 10)
        finally:
            await asyncio.to_thread(writer.close, 10)

    asyncio.run(scenario())
    locker.close()
    with Store(data, site_id=SITE, check=False) as store:
        assert store.stats()["stored"] == len(events)       # nothing held back was dropped
