"""Each period figure's definition on small hand-built record sets (docs/queue-stats.md)."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from appliance.calls.tracker import CallTracker, DeviceInfo
from appliance.stats.periods import InvalidRecord
from appliance.stats.recompute import recompute, recompute_day
from appliance.stats.settings import QueueSettings
from appliance.stats.snapshot import QueueStatsEngine
from firmware_bridge.smdr.avaya import parse_line
from tests.appliance.stats.factory import T0, UTC, Clock, call

SALES = QueueSettings("sales", service_level_s=20, short_abandon_s=5)
LONDON = ZoneInfo("Europe/London")


def figures(records, settings=SALES, tz=UTC, since=T0 - timedelta(hours=1), until=T0 + timedelta(days=1)):
    rejected: list = []
    out = recompute(records, [settings], since, until, tz, rejected=rejected)
    return out[settings.name], rejected


def test_every_figure_on_a_small_mixed_set():
    records = [
        call("answered", ring=10, talk=100, hold=20, wrap=30),     # within SL, handle 150
        call("answered", ring=25, talk=50, wrap=10),               # after SL, handle 60
        call("abandoned", ring=30),                                 # abandoned after SL
        call("abandoned", ring=12),                                 # abandoned within SL
        call("abandoned", ring=5),                                  # exactly at short_abandon_s: abandoned
        call("abandoned", ring=4),                                  # short abandon: in no other figure
        call("failed", ring=8),                                     # the line failed while ringing
    ]
    s, rejected = figures(records)
    assert rejected == []
    assert (s.offered, s.answered, s.abandoned, s.short_abandoned, s.unanswered) == (6, 2, 3, 1, 1)
    assert (s.answered_within_sl, s.abandoned_after_sl) == (1, 1)
    assert s.service_level_pct == pytest.approx(100 / 6)
    assert s.abandon_rate_pct == pytest.approx(50.0)
    assert s.asa_s == pytest.approx(17.5)
    assert s.aht_s == pytest.approx(105.0)         # arithmetic mean of 150 and 60, not exponential
    assert s.longest_wait_s == 30


def test_short_abandon_threshold_is_strict_and_zero_switches_it_off():
    records = [call("abandoned", ring=r) for r in (0, 4, 5, 6)]
    s, _ = figures(records)
    assert (s.short_abandoned, s.abandoned, s.offered) == (2, 2, 2)
    s, _ = figures(records, QueueSettings("sales", short_abandon_s=0))
    assert (s.short_abandoned, s.abandoned, s.offered) == (0, 4, 4)
    # a short abandon is not a wait that counts: longest wait comes from the offered calls only
    s, _ = figures([call("abandoned", ring=4)])
    assert (s.offered, s.short_abandoned, s.longest_wait_s, s.service_level_pct) == (0, 1, None, None)


def test_service_level_boundary_is_inclusive():
    s, _ = figures([call("answered", ring=20), call("answered", ring=21)])
    assert (s.answered_within_sl, s.service_level_pct) == (1, 50.0)


def test_no_answered_call_gives_none_not_zero():
    s, _ = figures([call("abandoned", ring=40)])
    assert (s.asa_s, s.aht_s) == (None, None)
    assert (s.service_level_pct, s.abandon_rate_pct, s.longest_wait_s) == (0.0, 100.0, 40)
    empty, _ = figures([])
    assert (empty.offered, empty.service_level_pct, empty.abandon_rate_pct, empty.asa_s, empty.aht_s,
            empty.longest_wait_s) == (0, None, None, None, None, None)


def test_only_inbound_calls_to_a_queue_count():
    records = [call("answered", direction="outbound"), call("answered", direction="internal"),
               call("answered", queue=""), call("answered", queue="support"), call("answered")]
    out = recompute(records, [SALES], T0, T0 + timedelta(hours=1), UTC)
    assert sorted(out) == ["sales", "support"]
    assert (out["sales"].offered, out["support"].offered) == (1, 1)


def test_timeouts_busy_and_failures_are_offered_but_not_abandoned():
    s, _ = figures([call("no_answer", ring=60), call("busy", ring=0), call("failed", ring=3)])
    assert (s.offered, s.unanswered, s.abandoned, s.short_abandoned) == (3, 3, 0, 0)
    assert (s.abandon_rate_pct, s.service_level_pct) == (0.0, 0.0)


def test_answered_by_no_agent_is_not_answered_and_answered_then_failed_is():
    voicemail = call("answered", agent="", ring=30)             # picked up by voicemail / auto-attendant
    dropped = call("failed", agent="line1", ring=3, answered_at="2026-01-05T09:00:03Z", talk=40)
    s, _ = figures([voicemail, dropped])
    assert (s.offered, s.answered, s.unanswered) == (2, 1, 1)
    assert (s.asa_s, s.aht_s) == (3.0, 40.0)


AVAYA_TRANSFER = [   # hardware.md 4.1: answered by E4750, then transferred to voicemail (one Call ID)
    b"2008/06/28 09:30:57,00:00:13,7,01707392200,I,299999,299999,,0,1000014160,1,E4750,John Smith,T9002,LINE 1.2,11,0",
    b"2008/06/28 09:30:57,00:00:21,0,01707392200,I,299999,299999,,0,1000014160,0,V9502,VM Channel 2,T9002,LINE 1.2,0,0",
]


def test_a_transferred_pbx_call_counts_once():
    tracker = CallTracker("site-a")
    pbx = DeviceInfo(name="pbx1", kind="avaya-ipo", queue="sales", tz=LONDON)
    now = datetime(2008, 6, 28, 9, 0, tzinfo=UTC)
    records = [r for line in AVAYA_TRANSFER for r in tracker.handle(pbx, parse_line(line), now)]
    assert [(r.leg, r.pbx_call_id) for r in records] == [(1, "1000014160"), (2, "1000014160")]
    out = recompute_day(records, [SALES], date(2008, 6, 28), LONDON)
    s = out["sales"]
    assert (s.offered, s.answered, s.asa_s, s.aht_s) == (1, 1, 7.0, 24.0)   # the queue agent's talk + hold
    # a third leg of the same call (another transfer) still counts once
    more = call("answered", leg=3, pbx_call_id="1000014160", start=datetime(2008, 6, 28, 8, 31, tzinfo=UTC))
    assert recompute_day(records + [more], [SALES], date(2008, 6, 28), LONDON)["sales"].offered == 1


def test_the_same_record_twice_counts_once():
    a = call("answered", key="site-a/pbx1/k1")
    s, _ = figures([a, a, call("abandoned", ring=30, key="site-a/pbx1/k1", site="site-b")])
    assert (s.offered, s.answered, s.abandoned) == (2, 1, 1)     # same key at another site is another call


def test_a_call_straddling_midnight_belongs_to_the_day_it_started():
    late = call("answered", start=datetime(2026, 1, 5, 23, 59, 50, tzinfo=UTC), ring=30, talk=60)
    assert late.ended_at.startswith("2026-01-06")
    assert recompute_day([late], [SALES], date(2026, 1, 5), UTC)["sales"].offered == 1
    assert recompute_day([late], [SALES], date(2026, 1, 6), UTC)["sales"].offered == 0
    clock = Clock(datetime(2026, 1, 6, 0, 1, 20, tzinfo=UTC))     # the record arrives after midnight
    engine = QueueStatsEngine([SALES], tz=UTC, clock=clock)
    assert engine.record_finished(late)
    assert engine.snapshot()["sales"].today.offered == 0
    assert engine.snapshot()["sales"].window.offered == 1          # still within the rolling hour
    assert engine.day_stats(date(2026, 1, 5))["sales"].offered == 1


@pytest.mark.parametrize("day, hours", [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)])
def test_dst_change_days(day, hours):
    since_local = datetime(day.year, day.month, day.day, tzinfo=LONDON)
    first, last = since_local.astimezone(UTC), (since_local + timedelta(days=1)).astimezone(UTC)
    assert (last - first) == timedelta(hours=hours)
    inside = [first, first + timedelta(hours=1, minutes=30), first + timedelta(hours=2, minutes=30),
              last - timedelta(seconds=1)]
    outside = [first - timedelta(seconds=1), last]
    records = [call("answered", start=t) for t in inside + outside]
    s = recompute_day(records, [SALES], day, LONDON)["sales"]
    assert (s.offered, s.since) == (len(inside), first.strftime("%Y-%m-%dT%H:%M:%SZ"))
    clock = Clock(last - timedelta(seconds=1))
    engine = QueueStatsEngine([SALES], tz=LONDON, clock=clock)
    engine.load(records)
    snap = engine.snapshot()["sales"].today
    assert (snap.offered, snap.since, snap.until) == (len(inside), s.since, s.until)


def test_unusable_records_are_skipped_and_reported():
    bad = call("answered")
    bad = type(bad)(**{**bad.to_dict(), "started_at": "yesterday"})
    negative = type(bad)(**{**call("answered").to_dict(), "talk_s": -5})
    s, rejected = figures([bad, negative, call("answered")])
    assert s.offered == 1
    assert [type(e) for e in rejected] == [InvalidRecord, InvalidRecord]
    assert "started_at" in str(rejected[0]) and "negative" in str(rejected[1])


_outcome = st.sampled_from(["answered", "answered", "abandoned", "no_answer", "failed"])
_record = st.builds(lambda o, ring, talk, hold, wrap, start, leg, q: call(
    o, ring=ring, talk=talk, hold=hold, wrap=wrap, start=start, leg=leg, queue=q),
    _outcome, st.integers(0, 90), st.integers(0, 900), st.integers(0, 60), st.integers(0, 30),
    st.integers(-7200, 7200), st.sampled_from([0, 0, 1, 2]), st.sampled_from(["sales", "support"]))


@hsettings(max_examples=60, deadline=None)
@given(st.lists(_record, max_size=40), st.randoms(use_true_random=False))
def test_incremental_in_any_order_equals_batch(records, rnd: random.Random):
    shuffled = list(records)
    rnd.shuffle(shuffled)
    clock = Clock(T0 + timedelta(hours=2, minutes=30))
    engine = QueueStatsEngine([SALES, QueueSettings("support", short_abandon_s=0)], tz=UTC, clock=clock)
    for r in shuffled:
        engine.record_finished(r)
    central = recompute_day(records, engine.settings, T0.date(), UTC)
    assert engine.day_stats(T0.date()) == central
    window = recompute(records, engine.settings, clock.now - 3600, clock.now, UTC)
    assert {q: snap.window for q, snap in engine.snapshot().items()} == window
