"""Queue statistics cost: records counted per second, snapshot/to_pb time with a full window, recompute speed.

Prints figures, asserts nothing. `--records N` calls spread over one day across 5 queues.
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from appliance.calls.record import CallRecord
from appliance.stats.live import AgentInput
from appliance.stats.recompute import recompute_day
from appliance.stats.settings import QueueSettings
from appliance.stats.snapshot import QueueStatsEngine

TZ = ZoneInfo("Europe/London")
QUEUES = [QueueSettings(f"q{i}", alert_service_level_pct=80, alert_longest_wait_s=60) for i in range(5)]


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_records(n: int, seed: int) -> list[tuple[float, CallRecord]]:
    rnd = random.Random(seed)
    day = datetime(2026, 6, 1, tzinfo=TZ).astimezone(timezone.utc)
    out = []
    for i in range(n):
        start = day + timedelta(seconds=rnd.randrange(0, 86_000))
        ring, talk = rnd.randrange(0, 90), rnd.randrange(10, 600)
        answered = rnd.random() < 0.7
        end = start + timedelta(seconds=ring + (talk if answered else 0))
        rec = CallRecord(
            key=f"s/b/{i}", site_id="s", source="b", source_kind="gsm", direction="inbound", caller="1",
            callee="2", dialled_number="", queue=f"q{i % 5}", agent="a" if answered else "",
            started_at=iso(start), answered_at=iso(start + timedelta(seconds=ring)) if answered else "",
            ended_at=iso(end), ring_s=ring, talk_s=talk if answered else 0, hold_s=0,
            disposition="answered" if answered else "abandoned", wrap_up_s=rnd.randrange(0, 30))
        out.append((end.timestamp(), rec))
    out.sort(key=lambda p: p[0])
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=200_000)
    args = ap.parse_args()
    data = make_records(args.records, 1)
    now = [data[0][0]]
    engine = QueueStatsEngine(QUEUES, tz=TZ, clock=lambda: now[0])
    t = time.perf_counter()
    for end, rec in data:
        now[0] = end
        engine.record_finished(rec)
    took = time.perf_counter() - t
    print(f"record_finished: {len(data)} records in {took:.2f} s = {len(data) / took:,.0f} records/s")
    now[0] = data[-1][0]                          # the last hour of the day: windows full
    engine.set_live(waiting={q.name: [now[0] - 30] * 5 for q in QUEUES},
                    agents=[AgentInput(f"a{i}", "on_call", (f"q{i % 5}",)) for i in range(50)])
    per_hour = args.records / 24
    for label, fn in (("snapshot()", engine.snapshot), ("to_pb()", engine.to_pb), ("alerts()", engine.alerts)):
        runs = 20
        t = time.perf_counter()
        for _ in range(runs):
            fn()
        print(f"{label:<11} 5 queues, ~{per_hour:,.0f} calls in each hour window: "
              f"{(time.perf_counter() - t) / runs * 1000:.1f} ms")
    records = [rec for _, rec in data]
    t = time.perf_counter()
    recompute_day(records, QUEUES, datetime(2026, 6, 1).date(), TZ)
    took = time.perf_counter() - t
    print(f"recompute_day: {len(records)} records in {took:.2f} s = {len(records) / took:,.0f} records/s")


if __name__ == "__main__":
    main()
