"""Live queue statistics on an injected clock: waiting calls, agents, service level, abandon rate."""
from __future__ import annotations

import dataclasses
import itertools
from datetime import datetime, timedelta, timezone

from appliance.calls import CallTracker, DeviceInfo
from appliance.stats.queue_stats import QueueStats
from appliance.calls.record import CallRecord
from firmware_bridge.events import CallConnected, CallEnded, CallerId, CallStatus, Ring

T0 = datetime(2026, 1, 5, 9, 0, 0, tzinfo=timezone.utc)
SALES = [DeviceInfo(name=f"line{i}", kind="gsm", queue="sales") for i in range(1, 4)]
SUPPORT = DeviceInfo(name="modem1", kind="voice-modem", queue="support")
_ids = itertools.count()


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def finished(queue="sales", disposition="answered", ring_s=5, ended_s=0.0, direction="inbound", leg=0) -> CallRecord:
    ended = at(ended_s).strftime("%Y-%m-%dT%H:%M:%SZ")
    return CallRecord(key=f"k{next(_ids)}", site_id="s", source="pbx1", source_kind="avaya-ipo",
                      direction=direction, caller="0123", callee="4300", dialled_number="", queue=queue,
                      agent="", started_at=ended, answered_at="", ended_at=ended, ring_s=ring_s, talk_s=0,
                      hold_s=0, disposition=disposition, leg=leg)


def test_live_waiting_calls_and_agents_come_from_the_lines():
    tracker = CallTracker("s")
    for info in SALES + [SUPPORT]:
        tracker.register(info)
    stats = QueueStats(tracker)
    idle = stats.snapshot(at(0))
    assert (idle["sales"].agents_free, idle["sales"].agents_busy, idle["sales"].calls_waiting) == (3, 0, 0)

    tracker.handle(SALES[0], Ring(), at(0))
    tracker.handle(SALES[0], CallerId("+15551234567"), at(0.2))
    tracker.handle(SALES[1], Ring(), at(5))
    tracker.handle(SALES[2], CallStatus(1, "outbound", "dialing", number="123"), at(6))
    tracker.handle(SUPPORT, Ring(), at(7))
    tracker.handle(SUPPORT, CallConnected(), at(8))
    snap = stats.snapshot(at(12))
    sales, support = snap["sales"], snap["support"]
    assert (sales.calls_waiting, sales.longest_wait_s) == (2, 12)
    assert (sales.agents_busy, sales.agents_free, sales.agents_down) == (1, 2, 0)   # ringing lines can pick up
    assert (support.calls_waiting, support.agents_busy, support.agents_free) == (0, 1, 0)

    tracker.device_down("line3", at(13))
    assert (stats.snapshot(at(13))["sales"].agents_busy, stats.snapshot(at(13))["sales"].agents_down) == (0, 1)


def test_service_level_and_abandon_rate_over_the_window():
    stats = QueueStats(window_s=3600, service_level_s=20)
    stats.record([
        finished(ring_s=5, ended_s=0), finished(ring_s=20, ended_s=10), finished(ring_s=21, ended_s=20),
        finished(disposition="abandoned", ring_s=40, ended_s=30),
    ])
    s = stats.snapshot(at(60))["sales"]
    assert (s.offered, s.answered, s.abandoned, s.answered_within_sl) == (4, 3, 1, 2)
    assert (s.service_level_pct, s.abandon_rate_pct) == (50.0, 25.0)

    later = stats.snapshot(at(3615))["sales"]            # the first two ended more than an hour ago
    assert (later.offered, later.service_level_pct, later.abandon_rate_pct) == (2, 0.0, 50.0)
    empty = stats.snapshot(at(7200))["sales"]
    assert (empty.offered, empty.service_level_pct, empty.abandon_rate_pct) == (0, None, None)


def test_only_first_legs_of_inbound_offers_count():
    stats = QueueStats(service_level_s=20)
    stats.record([
        finished(leg=1, ring_s=7), finished(leg=2, ring_s=0, disposition="abandoned"),    # a transfer
        finished(direction="outbound", disposition="no_answer"),
        finished(direction="internal"),
        finished(disposition="failed"), finished(disposition="busy"),
    ])
    s = stats.snapshot(at(1))["sales"]
    assert (s.offered, s.answered, s.abandoned) == (1, 1, 0)


def test_queues_are_counted_apart_and_the_window_is_configurable():
    stats = QueueStats(window_s=60, service_level_s=10)
    stats.record([finished(queue="sales", ring_s=3, ended_s=0), finished(queue="support", ring_s=30, ended_s=50)])
    snap = stats.snapshot(at(70))
    assert snap["sales"].offered == 0 and snap["support"].offered == 1
    assert snap["support"].service_level_pct == 0.0
    assert dataclasses.asdict(snap["support"])["window_s"] == 60


def test_tracker_output_feeds_the_statistics():
    tracker = CallTracker("s")
    stats = QueueStats(tracker, service_level_s=10)
    line = SALES[0]
    stats.record(tracker.handle(line, Ring(), at(0)))
    stats.record(tracker.handle(line, CallConnected(), at(4)))
    stats.record(tracker.handle(line, CallEnded("no_carrier"), at(60)))
    stats.record(tracker.handle(line, Ring(), at(100)))
    stats.record(tracker.tick(at(115)))                  # the rings stopped: abandoned
    s = stats.snapshot(at(120))["sales"]
    assert (s.offered, s.answered, s.abandoned, s.service_level_pct, s.service_level_s) == (2, 1, 1, 50.0, 10)
