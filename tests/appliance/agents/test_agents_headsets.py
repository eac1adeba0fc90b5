"""Agents machine, headset scenarios: mute intervals, unplug and replug, buttons, driver events."""
from __future__ import annotations

from appliance.agents import (AVAILABLE, LOGGED_OUT, ON_CALL, RINGING, WRAP_UP, AgentChanged, AnswerLine,
                              CallAgentInfo, CallMuted, HangupLine, SetHeadset)
from firmware_bridge.events import HeadsetButton, HookSwitch, PhoneMute, Ring
from tests.appliance.agents.desk import T0, Desk, led, of


def test_mute_toggles_become_intervals_from_the_answer_and_a_call_may_end_muted():
    desk = Desk()
    desk.talking("k1", "h-alice", answer_at=10)
    m = desk.agents
    out = m.mute("h-alice", True, desk.at(15).now)
    assert of(out, CallMuted) == [CallMuted("k1", True, T0 + 15)]
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=True, mute=True)
    assert m.mute("h-alice", True, desk.at(16).now) == []     # already muted: nothing changes
    out = m.mute("h-alice", False, desk.at(17.5).now)
    assert of(out, CallMuted) == [CallMuted("k1", False, T0 + 17.5)]
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=True, mute=False)
    m.mute("h-alice", True, desk.at(20).now)
    [info] = of(desk.at(25.25).ended("k1"), CallAgentInfo)
    assert info.mute_intervals == ((5.0, 7.5), (10.0, 15.25))
    assert info.muted_s == 7.75


def test_mute_is_honoured_only_on_a_call():
    desk = Desk()
    desk.up("h-alice")
    assert desk.agents.mute("h-alice", True, desk.now) == []          # available: refused
    assert desk.agents.leds("h-alice") == SetHeadset("h-alice", False, False, False)   # what to re-assert
    assert desk.agents.leds("h-bob") is None                          # down: nothing to send
    desk.ring("k1")
    assert desk.agents.mute("h-alice", True, desk.at(1).now) == []    # ringing: refused
    out = desk.at(2).lift("h-alice")
    assert led(out, "h-alice").mute is False                          # the refused request left no trace
    out = desk.agents.mute("h-alice", True, desk.at(3).now)           # off-hook on the call: honoured
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=True, mute=True)


def test_mute_before_the_answer_is_confirmed_counts_from_the_answer():
    desk = Desk()
    desk.up("h-alice")
    desk.ring("k1")
    desk.at(2).lift("h-alice")
    desk.agents.mute("h-alice", True, desk.at(2.5).now)
    desk.at(3).answered("k1")
    desk.agents.mute("h-alice", False, desk.at(4).now)
    [info] = of(desk.at(6).ended("k1"), CallAgentInfo)
    assert info.mute_intervals == ((0.0, 1.0),) and info.muted_s == 1.0


def test_hanging_up_while_muted_closes_the_interval_at_the_hang_up():
    desk = Desk()
    desk.talking("k1", "h-alice", answer_at=2)
    desk.agents.mute("h-alice", True, desk.at(4).now)
    out = desk.at(9).put_down("h-alice")
    assert led(out, "h-alice") == SetHeadset("h-alice", False, False, False)
    [info] = of(desk.at(10).ended("k1"), CallAgentInfo)
    assert info.mute_intervals == ((2.0, 7.0),)


def test_headset_unplugged_mid_call_and_plugged_back_restores_state_and_leds():
    desk = Desk()
    desk.talking("k1", "h-alice", answer_at=2)
    desk.agents.mute("h-alice", True, desk.at(3).now)
    out = desk.agents.headset_down("h-alice", desk.at(5).now)
    assert of(out, HangupLine) == [] and of(out, SetHeadset) == []    # the call goes on; no LEDs to a gone device
    assert of(out, AgentChanged) == [AgentChanged("alice", LOGGED_OUT, T0 + 5, "headset unplugged", "k1",
                                                  "h-alice", ("sales",))]
    assert desk.at(6).ring("k2") and desk.state("bob").call_key == "k2"   # bob is still free for others
    out = desk.at(8).up("h-alice")
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=True, mute=True)
    assert desk.state("alice") == AgentChanged("alice", ON_CALL, T0 + 8, "", "k1", "h-alice", ("sales",))
    assert of(desk.at(9).put_down("h-alice"), HangupLine) == [HangupLine("line-k1", "k1")]
    [info] = of(desk.at(10).ended("k1"), CallAgentInfo)
    assert info.headset_lost is True and info.mute_intervals == ((1.0, 7.0),) and info.wrap_up_s == 10


def test_call_ending_while_the_headset_is_gone_leaves_the_agent_logged_out_without_wrap_up():
    desk = Desk()
    desk.talking("k1", "h-alice", answer_at=2)
    desk.agents.headset_down("h-alice", desk.at(5).now)
    out = desk.at(30).ended("k1")
    [info] = of(out, CallAgentInfo)
    assert info.headset_lost is True and info.wrap_up_s == 0
    assert of(out, SetHeadset) == []
    assert (desk.state("alice").state, desk.state("alice").call_key) == (LOGGED_OUT, "")
    out = desk.at(31).up("h-alice")
    assert led(out, "h-alice") == SetHeadset("h-alice", False, False, False)
    assert desk.state("alice").state == AVAILABLE


def test_headset_unplugged_while_ringing_stops_only_that_agent():
    desk = Desk()
    desk.up("h-alice", "h-bob")
    desk.ring("k1")
    out = desk.agents.headset_down("h-alice", desk.at(2).now)
    assert of(out, SetHeadset) == []                                   # bob's headset keeps ringing
    assert desk.state("bob").state == RINGING and desk.state("alice").state == LOGGED_OUT
    out = desk.at(4).up("h-alice")                                      # back while the call still rings
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=True, off_hook=False, mute=False)
    assert desk.state("alice").call_key == "k1"
    desk.at(7).lift("h-alice")
    desk.at(8).answered("k1")
    [info] = of(desk.at(9).ended("k1"), CallAgentInfo)
    assert info.agent_ring_s == 3                                       # her ringing began again at the replug


def test_a_headset_reopened_without_going_down_gets_its_leds_again():
    desk = Desk()
    desk.talking("k1", "h-alice", answer_at=2)
    out = desk.at(3).up("h-alice")                                      # the driver reopened the device
    assert of(out, SetHeadset) == [SetHeadset("h-alice", ring=False, off_hook=True, mute=False)]
    assert of(out, AgentChanged) == []


def test_headset_unplugged_in_wrap_up_resumes_the_wrap_up_only_if_it_has_not_expired():
    desk = Desk()                                                       # 10 s wrap-up
    desk.talking("k1", "h-alice", answer_at=2)
    desk.at(20).ended("k1")
    desk.agents.headset_down("h-alice", desk.at(22).now)
    desk.at(25).up("h-alice")
    assert (desk.state("alice").state, desk.state("alice").call_key) == (WRAP_UP, "k1")
    desk.agents.headset_down("h-alice", desk.at(26).now)
    desk.at(40).up("h-alice")
    assert desk.state("alice").state == AVAILABLE


def test_driver_events_hook_and_mute_and_buttons_that_do_nothing():
    desk = Desk()
    desk.up("h-alice")
    desk.ring("k1")
    m = desk.agents
    for button in ("flash", "redial", "programmable"):         # no meaning here: no dialling, no hold
        assert m.headset_event("h-alice", HeadsetButton(button), desk.at(1).now) == []
    assert of(m.headset_event("h-alice", HookSwitch(True), desk.at(2).now), AnswerLine) == \
        [AnswerLine("line-k1", "k1")]
    desk.answered("k1")
    assert of(m.headset_event("h-alice", PhoneMute(True), desk.at(3).now), CallMuted) == \
        [CallMuted("k1", True, T0 + 3)]
    assert m.headset_event("h-alice", HeadsetButton("flash"), desk.at(3.5).now) == []
    assert of(m.headset_event("h-alice", HookSwitch(False), desk.at(4).now), HangupLine) == \
        [HangupLine("line-k1", "k1")]
    assert m.headset_event("h-alice", Ring(), desk.at(5).now) == []    # not a headset event: ignored
    assert m.status()["ignored"] == 5


def test_events_from_unknown_or_unplugged_headsets_are_ignored():
    desk = Desk()
    desk.ring("k1")
    assert desk.lift("h-alice") == []                                   # alice's headset is not up
    assert desk.agents.hook("h-nobody", True, desk.now) == []
    out = desk.up("h-nobody")                                           # an unconfigured headset: kept quiet
    assert out == [SetHeadset("h-nobody", False, False, False)]
