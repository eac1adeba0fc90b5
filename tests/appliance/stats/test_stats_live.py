"""Live figures from plain inputs; SMDR-only queues say they have none."""
from __future__ import annotations

from datetime import timedelta

from appliance.calls.tracker import CallTracker, DeviceInfo
from appliance.stats.live import AgentInput, LiveInputs, live_figures, waiting_from_calls
from firmware_bridge.events import CallConnected, CallerId, Ring
from tests.appliance.stats.factory import T0

NOW = T0.timestamp()


def test_agents_by_state_and_waiting_calls():
    agents = [AgentInput("a1", "available", ("sales",)), AgentInput("a2", "on_call", ("sales", "support")),
              AgentInput("a3", "wrap_up", ("sales",)), AgentInput("a4", "paused", ("sales",)),
              AgentInput("a5", "logged_out", ("sales",)), AgentInput("a6", "ringing", ("support",)),
              AgentInput("a7", "available", ("sales",))]
    inputs, dropped = LiveInputs.build({"sales": [NOW - 42.5, NOW - 3], "support": []}, agents, ())
    assert dropped == 0
    sales = live_figures("sales", inputs, NOW)
    assert sales.live_available and (sales.waiting, sales.longest_wait_now_s) == (2, 42.5)
    assert (sales.agents_available, sales.agents_ringing, sales.agents_on_call, sales.agents_wrap_up,
            sales.agents_paused, sales.agents_logged_out) == (2, 0, 1, 1, 1, 1)
    support = live_figures("support", inputs, NOW)
    assert (support.waiting, support.longest_wait_now_s) == (0, None)     # nobody waiting: no wait to show
    assert (support.agents_on_call, support.agents_ringing) == (1, 1)     # a2 counts in both of its queues


def test_smdr_only_queue_has_no_live_figures_not_zeros():
    inputs, _ = LiveInputs.build({}, [AgentInput("a1", "available", ("sales",))], ["lines-only"])
    pbx = live_figures("pbx-queue", inputs, NOW)
    assert not pbx.live_available
    assert (pbx.waiting, pbx.longest_wait_now_s, pbx.agents_available, pbx.agents_logged_out) == (None,) * 4
    lines = live_figures("lines-only", inputs, NOW)             # a line with no agent: live, all zero
    assert lines.live_available and (lines.waiting, lines.agents_available) == (0, 0)


def test_unknown_agent_state_is_dropped_and_counted():
    inputs, dropped = LiveInputs.build({}, [AgentInput("a1", "lunch", ("sales",)),
                                            AgentInput("a2", "available", ("sales",))])
    assert dropped == 1
    assert live_figures("sales", inputs, NOW).agents_available == 1


def test_waiting_calls_from_the_call_tracker():
    tracker = CallTracker("site-a")
    ringing = DeviceInfo(name="line1", kind="gsm", queue="sales")
    talking = DeviceInfo(name="line2", kind="gsm", queue="sales")
    tracker.handle(ringing, Ring(), T0)
    tracker.handle(ringing, CallerId("+15551234567"), T0 + timedelta(seconds=1))
    tracker.handle(talking, Ring(), T0)
    tracker.handle(talking, CallConnected(), T0 + timedelta(seconds=4))
    waiting = waiting_from_calls(tracker.live_calls())
    assert waiting == {"sales": [NOW]}
    inputs, _ = LiveInputs.build(waiting, (), [line.queue for line in tracker.lines()])
    assert live_figures("sales", inputs, NOW + 30).longest_wait_now_s == 30.0
