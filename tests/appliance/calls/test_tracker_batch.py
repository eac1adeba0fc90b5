"""A batch of PBX records through the tracker gives exactly the records one event at a time gives."""
from __future__ import annotations

import random
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from firmware_bridge.events import PbxLeg
from firmware_bridge.smdr.avaya import encode_record, parse_line
from firmware_bridge.smdr.legs import leg_reader
from firmware_bridge.smdr.traffic import generate_avaya_calls, in_output_order

from appliance.calls import CallTracker, DeviceInfo

NOW = datetime(2026, 3, 29, 3, tzinfo=timezone.utc)


def feed():
    """IP Office records across London's clocks going forward, some re-sent, some with odd times."""
    records = in_output_order(generate_avaya_calls(400, start=datetime(2026, 3, 29, 0, 30), seed=7))
    events = [parse_line(encode_record(r)[:-2]) for r in records]
    rand = random.Random(1)
    events += rand.sample(events, 40)                               # re-sends keep their leg numbers
    events.append(parse_line(b"2026/03/29 01:30:00,00:01:00,3,0123,I,201,201,,0,9000,0,E201,A,T1,L,0,0"))
    events.append(parse_line("2026/03/29 01:30:0٣,00:01:00,3,0123,I,201,201,,0,9001,0,E201,A,T1,L,0,0".encode()))
    events.append(PbxLeg(None, False, 1, 2, 0, "inbound", True, "1", "2", "", "", "201", "", True, b"x", b"x"))
    return events


def test_handle_all_gives_what_handle_gives_one_by_one():
    for to_leg in (None, leg_reader()):
        info = DeviceInfo("ipo", "avaya-ipo", queue="sales", tz=ZoneInfo("Europe/London"), to_leg=to_leg)
        one, batch = CallTracker("site-a"), CallTracker("site-a")
        events = feed()
        expected = [r for e in events for r in one.handle(info, e, NOW)]
        got = [r for start in range(0, len(events), 37) for r in batch.handle_all(info, events[start:start + 37], NOW)]
        assert got == expected and len(got) == len(events)
        assert batch.clock_fallbacks == one.clock_fallbacks == 1


def test_a_reader_of_its_own_reads_avaya_records_its_own_way():
    seen = []

    def reader(event):
        seen.append(event)
        return leg_reader()(event)
    info = DeviceInfo("ipo", "avaya-ipo", to_leg=reader)
    events = feed()[:10]
    CallTracker("site-a").handle_all(info, events, NOW)
    assert seen == events
