"""QueueStatsEngine: rolling window on the injected clock, the site's day, counters, the wire form."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from appliance.stats.live import AgentInput
from appliance.stats.settings import QueueSettings
from appliance.stats.snapshot import QueueStatsEngine
from appliance.v1 import live_pb2
from tests.appliance.stats.factory import T0, UTC, Clock, call

SALES = QueueSettings("sales", window_s=600)


def test_rolling_window_expires_calls_as_the_clock_moves():
    clock = Clock()
    engine = QueueStatsEngine([SALES], tz=UTC, clock=clock)
    clock.set(100)
    engine.record_finished(call("answered", start=0, ring=10, talk=80))
    clock.set(200)
    engine.record_finished(call("abandoned", start=150, ring=50))
    snap = engine.snapshot()["sales"]
    assert (snap.window.offered, snap.window.longest_wait_s, snap.today.offered) == (2, 50, 2)
    assert snap.window.since == "2026-01-05T08:53:20Z"                 # now (T0 + 200 s) - 600 s
    clock.set(600)                                                      # the first call started exactly 600 s ago
    assert engine.snapshot()["sales"].window.offered == 2
    clock.set(600.5)
    snap = engine.snapshot()["sales"]
    assert (snap.window.offered, snap.window.answered, snap.window.asa_s) == (1, 0, None)
    assert (snap.today.offered, snap.today.answered) == (2, 1)          # the day keeps it
    clock.set(751)
    snap = engine.snapshot()["sales"]
    assert (snap.window.offered, snap.window.service_level_pct, snap.window.longest_wait_s) == (0, None, None)
    # records that finish late but started inside the window still join it, right up to its edge
    engine.record_finished(call("answered", start=700, ring=5, talk=40))
    engine.record_finished(call("abandoned", start=152, ring=30))        # started 599 s before now
    snap = engine.snapshot()["sales"]
    assert (snap.window.answered, snap.window.abandoned) == (1, 1)


def test_days_roll_over_at_local_midnight():
    tz = ZoneInfo("America/New_York")
    clock = Clock(datetime(2026, 1, 5, 23, 0, tzinfo=tz))
    engine = QueueStatsEngine([SALES], tz=tz, clock=clock)
    engine.record_finished(call("answered", start=datetime(2026, 1, 5, 22, 0, tzinfo=tz)))
    assert engine.snapshot()["sales"].today.offered == 1
    clock.set(datetime(2026, 1, 6, 0, 0, 1, tzinfo=tz))
    snap = engine.snapshot()["sales"]
    assert (snap.today.offered, snap.today.since) == (0, "2026-01-06T05:00:00Z")
    assert engine.day_stats(date(2026, 1, 5))["sales"].offered == 1    # yesterday is kept
    clock.set(datetime(2026, 1, 7, 0, 0, 1, tzinfo=tz))
    engine.snapshot()
    assert engine.day_stats(date(2026, 1, 5)) == {}                     # older days are the central's
    assert not engine.record_finished(call("answered", start=datetime(2026, 1, 5, 9, 0, tzinfo=tz)))
    assert engine.counters["out_of_range"] == 1


def test_counters_say_what_happened_to_each_record():
    clock = Clock()
    engine = QueueStatsEngine([SALES], tz=UTC, clock=clock)
    a = call("answered", start=-30)
    bad = type(a)(**{**a.to_dict(), "key": "bad", "started_at": "not a time"})
    results = [engine.record_finished(r) for r in
               (a, a, call("answered", direction="outbound"), call("answered", leg=2), bad)]
    assert results == [True, False, False, False, False]
    assert {k: v for k, v in engine.counters.items() if v} == {
        "counted": 1, "duplicate": 1, "not_offered": 2, "invalid": 1}
    engine.set_live(agents=[AgentInput("x", "asleep", ("sales",))])
    assert engine.counters["bad_agent_state"] == 1


def test_queues_listed_configured_seen_and_fed():
    clock = Clock()
    engine = QueueStatsEngine([SALES], tz=UTC, clock=clock)
    engine.record_finished(call("answered", start=-30, queue="pbx"))
    engine.set_live(line_queues=["lines"])
    snaps = engine.snapshot()
    assert list(snaps) == ["lines", "pbx", "sales"]
    assert (snaps["pbx"].live.live_available, snaps["lines"].live.live_available) == (False, True)
    assert snaps["pbx"].settings == QueueSettings("pbx")           # an unconfigured queue gets the defaults


def _busy_engine() -> tuple[QueueStatsEngine, Clock]:
    clock = Clock()
    engine = QueueStatsEngine([QueueSettings("sales", service_level_s=15, short_abandon_s=4, window_s=1800)],
                              tz=UTC, clock=clock)
    clock.set(500)
    engine.load([call("answered", start=10, ring=9, talk=100, hold=5, wrap=15),
                 call("answered", start=20, ring=30, talk=50),
                 call("abandoned", start=30, ring=45), call("abandoned", start=40, ring=2)])
    states = ("available", "ringing", "on_call", "wrap_up", "paused", "logged_out")
    engine.set_live(waiting={"sales": [T0 + timedelta(seconds=480), T0 + timedelta(seconds=400)]},
                    agents=[AgentInput(f"a{i}", s, ("sales",)) for i, s in enumerate(states)])
    return engine, clock


def test_to_pb_fills_every_field_of_queue_stats():
    engine, _ = _busy_engine()
    [msg] = engine.to_pb()
    msg = live_pb2.QueueStats.FromString(msg.SerializeToString())      # what a subscriber receives
    unset = {f.name for f in msg.DESCRIPTOR.fields} - {f.name for f, _ in msg.ListFields()}
    assert unset == set()
    for period in (msg.window, msg.today):
        unset = {f.name for f in period.DESCRIPTOR.fields} - {f.name for f, _ in period.ListFields()}
        assert unset == set()
    snap = engine.snapshot()["sales"]
    assert (msg.queue, msg.live_available, msg.waiting, msg.longest_wait_now_s) == ("sales", True, 2, 100.0)
    assert (msg.agents_available, msg.agents_ringing, msg.agents_on_call, msg.agents_wrap_up,
            msg.agents_paused, msg.agents_logged_out) == (1, 1, 1, 1, 1, 1)
    assert (msg.window_s, msg.service_level_s, msg.short_abandon_s) == (1800, 15, 4)
    t = msg.today
    assert (t.since, t.offered, t.answered, t.abandoned, t.short_abandoned) == ("2026-01-05T00:00:00Z", 3, 2, 1, 1)
    assert (t.answered_within_sl, t.abandoned_after_sl) == (1, 1)
    assert (t.service_level_pct, t.abandon_rate_pct) == (snap.today.service_level_pct, snap.today.abandon_rate_pct)
    assert (t.asa_s, t.aht_s, t.longest_wait_s) == (19.5, 85.0, 45.0)
    assert (t.has_service_level, t.has_abandon_rate, t.has_asa, t.has_aht) == (True,) * 4
    assert msg.window == msg.today.__class__(**{**_fields(msg.today), "since": "2026-01-05T08:38:20Z"})


def _fields(msg) -> dict:
    return {f.name: v for f, v in msg.ListFields()}


def test_smdr_only_queue_on_the_wire_says_live_is_unavailable():
    clock = Clock()
    engine = QueueStatsEngine([QueueSettings("pbx")], tz=UTC, clock=clock)
    engine.record_finished(call("abandoned", start=-100, ring=30, queue="pbx"))
    [msg] = engine.to_pb()
    assert (msg.live_available, msg.waiting, msg.agents_available) == (False, 0, 0)
    assert (msg.today.offered, msg.today.has_asa, msg.today.has_service_level) == (1, False, True)
