"""The site's figures equal the central's recomputation from the records it received, figure for
figure, and both equal a plain brute-force count of the published definitions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from appliance.central.backends import open_store
from appliance.central.store import RecordBatch
from appliance.sync.convert import from_pb, to_pb
from appliance.calls.record import CallRecord
from appliance.stats.periods import PeriodStats
from appliance.stats.recompute import recompute, recompute_day
from appliance.stats.snapshot import QueueStatsEngine
from appliance.v1 import cdr_pb2
from tests.appliance.stats.daygen import DAY, QUEUES, SITE, TZ, site_day
from tests.appliance.stats.factory import Clock

SEED = 20261025
SETTINGS = {q.name: q for q in QUEUES}


def over_the_wire(record: CallRecord) -> bytes:
    return to_pb(record).SerializeToString()


def received(payload: bytes) -> CallRecord:
    return from_pb(cdr_pb2.CallRecord.FromString(payload))


def brute_force(records: list[CallRecord]) -> dict[str, dict]:
    """The definitions of docs/queue-stats.md, counted plainly for DAY (no shared code)."""
    calls: dict[str, dict[str, CallRecord]] = {}
    for r in records:
        if r.direction != "inbound" or r.queue == "" or r.leg >= 2:
            continue
        if datetime.fromisoformat(r.started_at).astimezone(TZ).date() != DAY:
            continue
        calls.setdefault(r.queue, {})[r.key] = r          # one site: the key alone identifies a record
    out = {}
    for queue, by_key in calls.items():
        sl, short_s = SETTINGS[queue].service_level_s, SETTINGS[queue].short_abandon_s
        rs = list(by_key.values())
        reached_agent = [r.agent != "" and (r.disposition == "answered" or r.answered_at != "") for r in rs]
        answered = [r for r, yes in zip(rs, reached_agent) if yes]
        not_answered = [r for r, yes in zip(rs, reached_agent) if not yes]
        short = [r for r in not_answered if r.disposition == "abandoned" and r.ring_s < short_s]
        abandoned = [r for r in not_answered if r.disposition == "abandoned" and r.ring_s >= short_s]
        others = [r for r in not_answered if r.disposition != "abandoned"]
        offered = answered + abandoned + others
        within = [r for r in answered if r.ring_s <= sl]
        out[queue] = dict(
            offered=len(offered), answered=len(answered), abandoned=len(abandoned),
            short_abandoned=len(short), unanswered=len(others), answered_within_sl=len(within),
            abandoned_after_sl=len([r for r in abandoned if r.ring_s > sl]),
            service_level_pct=100 * len(within) / len(offered) if offered else None,
            abandon_rate_pct=100 * len(abandoned) / len(offered) if offered else None,
            asa_s=sum(r.ring_s for r in answered) / len(answered) if answered else None,
            aht_s=sum(r.talk_s + r.hold_s + r.wrap_up_s for r in answered) / len(answered) if answered else None,
            longest_wait_s=max((r.ring_s for r in offered), default=None))
    return out


def assert_matches_brute_force(stats: PeriodStats, expected: dict) -> None:
    for name, value in expected.items():
        got = getattr(stats, name)
        assert got == (pytest.approx(value) if isinstance(value, float) else value), name


@pytest.fixture(scope="module")
def day():
    return site_day(SEED)


def test_site_figures_agree_with_the_central_all_day(day, tmp_path):
    clock = Clock(day[0].at)
    engine = QueueStatsEngine(QUEUES, tz=TZ, clock=clock)
    central: list[CallRecord] = []               # what the central has received so far
    day_start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=TZ).astimezone(timezone.utc)   # UTC arithmetic
    checkpoints = [day_start + timedelta(minutes=m) for m in range(17, 25 * 60, 53)]   # across all 25 hours
    checkpoints.append(datetime(DAY.year, DAY.month, DAY.day, 23, 59, 59, tzinfo=TZ))
    expected_comparisons, compared = len(checkpoints) * len(QUEUES), 0
    for e in day:
        while checkpoints and checkpoints[0] < e.at:
            clock.set(checkpoints.pop(0))
            snaps = engine.snapshot()
            today = recompute_day(central, QUEUES, DAY, TZ)
            for q, snap in snaps.items():
                window = recompute(central, QUEUES, clock.now - SETTINGS[q].window_s, clock.now, TZ, queue=q)
                assert snap.window == window[q], (q, snap.window.since)
                assert snap.today == today[q], (q, snap.today.since)
                compared += 1
        clock.set(e.at)
        engine.record_finished(e.record)
        central.append(received(over_the_wire(e.record)))
    assert not checkpoints and compared == expected_comparisons

    # The day is over and its last calls have ended: yesterday's figures, site vs the central's
    # SQLite database (each record stored once, as the central stores what it received).
    db = open_store(str(tmp_path / "central.db"))
    try:
        rows = {r.key: (r.started_at, over_the_wire(r)) for r in central}
        db.store_records(SITE, "2026-10-26T03:00:00Z", RecordBatch(
            list(rows), [started for started, _ in rows.values()], [wire for _, wire in rows.values()]))
        stored = [received(s.payload) for s in db.records(SITE)]
    finally:
        db.close()
    site = engine.day_stats(DAY)
    assert site == recompute_day(stored, QUEUES, DAY, TZ)
    expected = brute_force([e.record for e in day])
    assert sorted(site) == sorted(expected) == ["billing", "sales", "support"]
    for q in site:
        assert_matches_brute_force(site[q], expected[q])


def test_the_generated_day_exercises_every_rule(day):
    """Guards the agreement test against a day that would pass trivially."""
    stats = recompute_day([e.record for e in day], QUEUES, DAY, TZ)
    for q, s in stats.items():
        assert min(s.answered, s.abandoned, s.short_abandoned, s.unanswered) > 0, q
        assert s.answered_within_sl < s.answered and s.abandoned_after_sl > 0, q
    records = [e.record for e in day]
    keys = [r.key for r in records]
    assert len(keys) - len(set(keys)) > 50                                   # re-sent records
    assert sum(r.leg >= 2 and r.direction == "inbound" for r in records) > 100     # transfer legs
    assert sum(r.direction != "inbound" or not r.queue for r in records) > 500     # not offers
    assert sum(r.wrap_up_s > 0 for r in records) > 100
    starts = [datetime.fromisoformat(r.started_at).astimezone(TZ) for r in records]
    ends = [datetime.fromisoformat(r.ended_at).astimezone(TZ) for r in records]
    assert any(s.date() < DAY <= e.date() for s, e in zip(starts, ends))        # straddling the start
    assert any(s.date() == DAY < e.date() for s, e in zip(starts, ends))        # straddling the end
    assert any(s.date() == DAY and s.hour == 1 and s.fold == 1 for s in starts) or \
        any(s.date() == DAY and s.utcoffset() == timedelta(0) and s.hour == 1 for s in starts)  # repeated hour
