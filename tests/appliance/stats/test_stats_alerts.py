"""KPI alerts: raised once on crossing, no flapping at the edge, one clear event past the hysteresis."""
from __future__ import annotations

from datetime import timedelta

from appliance.stats.alerts import CLEARED, RAISED, AlertTracker, clear_level
from appliance.stats.live import AgentInput
from appliance.stats.settings import QueueSettings
from appliance.stats.snapshot import QueueStatsEngine
from appliance.v1 import live_pb2
from tests.appliance.stats.factory import T0, UTC, Clock, call

Q = QueueSettings("sales", alert_longest_wait_s=60, alert_service_level_pct=80, alert_waiting=5,
                  alert_hysteresis_pct=10)


def run(kpi: str, values, settings=Q):
    tracker = AlertTracker()
    return [[(a.level, a.value) for a in tracker.update("sales", settings, {kpi: v})] for v in values]


def test_longest_wait_raises_once_holds_at_the_edge_and_clears_below_the_band():
    assert clear_level("longest_wait_s", Q) == 54.0
    steps = run("longest_wait_s", [30, 59, 60, 61, 59, 60, 55, 54.5, 60, 53.9, 53, 70])
    assert steps == [[], [], [(RAISED, 60)], [], [], [], [], [], [], [(CLEARED, 53.9)], [], [(RAISED, 70)]]


def test_service_level_is_lower_is_worse_with_hysteresis_on_the_shortfall():
    assert clear_level("service_level_pct", Q) == 82.0
    steps = run("service_level_pct", [90, 80, 79.9, 81, 80, 81.9, 82, 79])
    assert steps == [[], [], [(RAISED, 79.9)], [], [], [], [(CLEARED, 82)], [(RAISED, 79)]]
    # a threshold of 100 % can still clear (at 100 %)
    perfect = QueueSettings("sales", alert_service_level_pct=100, alert_hysteresis_pct=50)
    assert run("service_level_pct", [99, 100], perfect) == [[(RAISED, 99)], [(CLEARED, 100)]]


def test_calls_waiting_counts():
    steps = run("waiting", [4, 5, 6, 5, 4, 5])
    assert steps == [[], [(RAISED, 5)], [], [], [(CLEARED, 4)], [(RAISED, 5)]]


def test_off_and_unmeasured():
    assert run("waiting", [0, 50, 500], QueueSettings("sales")) == [[], [], []]        # 0 = off
    tracker = AlertTracker()
    [raised] = tracker.update("sales", Q, {"service_level_pct": 10.0})
    assert tracker.active() == [raised]
    [cleared] = tracker.update("sales", Q, {"service_level_pct": None})                # nothing offered
    assert (cleared.level, cleared.value, cleared.threshold) == (CLEARED, None, 80.0)
    assert "no longer measured" in cleared.text and tracker.active() == []
    tracker.update("sales", Q, {"waiting": 9})
    [off] = tracker.update("sales", QueueSettings("sales"), {"waiting": 9})              # switched off
    assert off.level == CLEARED and "switched off" in off.text


def test_alert_texts_and_wire_form():
    tracker = AlertTracker()
    [up] = tracker.update("sales", Q, {"longest_wait_s": 75.0})
    assert up.text == "sales: longest wait 75 s is at or above the alert threshold 60 s"
    [down] = tracker.update("sales", Q, {"longest_wait_s": 10.0})
    assert down.text == "sales: longest wait back to 10 s (below 54 s); alert cleared"
    msg = live_pb2.AlertEvent.FromString(up.to_pb().SerializeToString())
    assert (msg.queue, msg.kpi, msg.level, msg.value, msg.threshold, msg.text) == (
        "sales", "longest_wait_s", live_pb2.ALERT_RAISED, 75.0, 60.0, up.text)
    assert down.to_pb().level == live_pb2.ALERT_CLEARED


def test_engine_alerts_on_the_injected_clock():
    clock = Clock()
    engine = QueueStatsEngine([Q, QueueSettings("pbx", alert_service_level_pct=50, alert_longest_wait_s=5)],
                              tz=UTC, clock=clock)
    agent = AgentInput("a1", "on_call", ("sales",))
    engine.set_live(waiting={"sales": [T0]}, agents=[agent])
    clock.set(59)
    assert engine.alerts() == []
    clock.set(60)
    [raised] = engine.alerts()
    assert (raised.queue, raised.kpi, raised.level, raised.value) == ("sales", "longest_wait_s", RAISED, 60.0)
    clock.set(61)
    assert engine.alerts() == []                                   # raised once
    assert engine.active_alerts() == [raised]
    engine.set_live(waiting={}, agents=[agent])                     # answered: nobody waits
    [cleared] = engine.alerts()
    assert (cleared.kpi, cleared.level, cleared.value) == ("longest_wait_s", CLEARED, 0.0)
    # an SMDR-only queue: no live alerts, but the post-call service level alert works
    engine.record_finished(call("abandoned", start=30, ring=40, queue="pbx"))
    [sl] = engine.alerts()
    assert (sl.queue, sl.kpi, sl.level, sl.value) == ("pbx", "service_level_pct", RAISED, 0.0)
    for i in range(3):
        engine.record_finished(call("answered", start=40 + i, ring=3, queue="pbx"))
    [sl_clear] = engine.alerts()
    assert (sl_clear.kpi, sl_clear.level, sl_clear.value) == ("service_level_pct", CLEARED, 75.0)
    clock.set(timedelta(hours=2).total_seconds())                  # the window empties: nothing measured
    assert engine.alerts() == [] and engine.active_alerts() == []


def test_a_new_engine_after_a_config_change_clears_what_the_old_one_raised():
    clock = Clock()
    old = QueueStatsEngine([Q, QueueSettings("pbx", alert_service_level_pct=90)], tz=UTC, clock=clock)
    old.set_live(waiting={"sales": [T0]})
    old.record_finished(call("abandoned", start=-60, ring=40, queue="pbx"))
    clock.set(120)
    assert sorted((a.queue, a.kpi) for a in old.alerts()) == [("pbx", "service_level_pct"),
                                                               ("sales", "longest_wait_s")]
    # "pbx" removed from the configuration; "sales" keeps its queue but drops the wait alert
    new = QueueStatsEngine([QueueSettings("sales", alert_waiting=5)], tz=UTC, clock=clock,
                           alert_state=old.alert_state)
    new.set_live(waiting={"sales": [T0]})
    cleared = new.alerts()
    assert [(a.queue, a.kpi, a.level) for a in cleared] == [("sales", "longest_wait_s", CLEARED),
                                                            ("pbx", "service_level_pct", CLEARED)]
    assert "switched off" in cleared[0].text and "no longer configured" in cleared[1].text
    assert new.active_alerts() == []
