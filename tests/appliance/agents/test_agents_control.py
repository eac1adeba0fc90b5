"""Agents machine, control scenarios: wrap-up expiry, pause/resume, list, configuration reloads."""
from __future__ import annotations

import pytest

from appliance.agents import (AVAILABLE, LOGGED_OUT, ON_CALL, PAUSED, RINGING, WRAP_UP, AgentChanged, CallAgentInfo,
                              HeadsetConfig, SetHeadset, UnknownAgent)
from tests.appliance.agents.desk import STAFF, T0, Desk, led, of


def test_wrap_up_expires_on_tick_and_a_waiting_call_then_rings():
    desk = Desk(wrap_up_s_for_queue={"sales": 30})
    desk.talking("k1", "h-alice", answer_at=2)
    desk.agents.headset_down("h-bob", desk.now)
    desk.at(10).ended("k1")
    desk.at(12).ring("k2")                                    # alice is wrapping up: it waits
    assert desk.state("alice").state == WRAP_UP
    assert desk.agents.tick(desk.at(39.9).now) == []
    out = desk.agents.tick(desk.at(40).now)
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=True, off_hook=False, mute=False)
    assert desk.state("alice") == AgentChanged("alice", RINGING, T0 + 40, "", "k2", "h-alice", ("sales",))


def test_wrap_up_length_per_queue_callable_default_and_zero():
    lengths = {"sales": 0.0}
    desk = Desk(wrap_up_s_for_queue=lambda q: lengths.get(q), default_wrap_up_s=7)
    desk.up("h-carol")
    desk.talking("k1", "h-alice", answer_at=2)
    [info] = of(desk.at(5).ended("k1"), CallAgentInfo)
    assert info.wrap_up_s == 0 and desk.state("alice").state == AVAILABLE   # no wrap-up: free at once
    desk.ring("k2", "support")
    desk.at(6).lift("h-carol")
    desk.at(7).answered("k2")
    [info] = of(desk.at(9).ended("k2"), CallAgentInfo)
    assert info.wrap_up_s == 7                                # None from the callable -> the default
    assert desk.agents.tick(desk.at(15.9).now) == []
    assert desk.agents.tick(desk.at(16).now)[-1].state == AVAILABLE


def test_an_input_after_the_wrap_up_deadline_sees_the_agent_available_without_a_tick():
    desk = Desk()
    desk.talking("k1", "h-alice", answer_at=2)
    desk.agents.headset_down("h-bob", desk.now)
    desk.at(5).ended("k1")
    out = desk.at(20).ring("k2")                              # no tick since t=5
    assert led(out, "h-alice").ring is True


def test_pause_and_resume_by_name():
    desk = Desk()
    desk.up("h-alice", "h-bob")
    out = desk.agents.pause("alice", "training", desk.at(1).now)
    assert of(out, AgentChanged) == [AgentChanged("alice", PAUSED, T0 + 1, "training", "", "h-alice", ("sales",))]
    desk.at(2).ring("k1")
    assert desk.state("alice").state == PAUSED and desk.state("bob").state == RINGING
    out = desk.agents.resume("alice", desk.at(3).now)         # a paused agent resumes into the ringing call
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=True, off_hook=False, mute=False)
    assert desk.agents.resume("alice", desk.at(4).now) == []  # not paused: nothing to do


def test_pausing_a_ringing_agent_stops_only_his_ringing():
    desk = Desk()
    desk.up("h-alice", "h-bob")
    desk.ring("k1")
    out = desk.agents.pause("bob", "", desk.at(1).now)
    assert of(out, SetHeadset) == [SetHeadset("h-bob", False, False, False)]
    assert desk.state("bob").state == PAUSED and desk.state("alice").state == RINGING


def test_pause_during_a_call_takes_effect_after_the_wrap_up():
    desk = Desk()
    desk.talking("k1", "h-alice", answer_at=2)
    out = desk.agents.pause("alice", "lunch", desk.at(5).now)
    assert of(out, AgentChanged) == [AgentChanged("alice", ON_CALL, T0 + 1, "pause requested: lunch", "k1",
                                                  "h-alice", ("sales",))]
    assert of(out, SetHeadset) == []                          # the call is untouched
    desk.at(30).ended("k1")
    assert desk.state("alice").state == WRAP_UP
    out = desk.agents.tick(desk.at(40).now)
    assert of(out, AgentChanged) == [AgentChanged("alice", PAUSED, T0 + 40, "lunch", "", "h-alice", ("sales",))]
    desk.at(41).ring("k2")
    assert desk.state("alice").state == PAUSED


def test_pause_survives_an_unplug_and_resume_of_a_logged_out_agent():
    desk = Desk()
    desk.up("h-alice")
    desk.agents.pause("alice", "break", desk.now)
    desk.agents.headset_down("h-alice", desk.at(1).now)
    assert desk.state("alice").reason == "headset unplugged; pause requested: break"
    desk.at(2).up("h-alice")
    assert (desk.state("alice").state, desk.state("alice").reason) == (PAUSED, "break")
    desk.agents.headset_down("h-alice", desk.at(3).now)
    desk.agents.resume("alice", desk.at(4).now)
    desk.at(5).up("h-alice")
    assert desk.state("alice").state == AVAILABLE


def test_unknown_agent_is_a_clear_error():
    desk = Desk()
    with pytest.raises(UnknownAgent, match=r"no agent named 'alcie'; configured agents: alice, bob, carol"):
        desk.agents.pause("alcie", "", desk.now)
    with pytest.raises(UnknownAgent):
        desk.agents.resume("nobody", desk.now)


def test_list_shows_every_agent_for_the_control_socket():
    desk = Desk()
    desk.up("h-alice")
    desk.at(1).ring("k1")
    desk.agents.pause("bob", "coaching", desk.at(2).now)
    assert desk.agents.list() == [
        {"name": "alice", "headset": "h-alice", "queues": ["sales"], "state": RINGING, "since": T0 + 1,
         "reason": "", "call_key": "k1"},
        {"name": "bob", "headset": "h-bob", "queues": ["sales"], "state": LOGGED_OUT, "since": T0,
         "reason": "no headset; pause requested: coaching", "call_key": ""},
        {"name": "carol", "headset": "h-carol", "queues": ["support"], "state": LOGGED_OUT, "since": T0,
         "reason": "no headset", "call_key": ""}]
    assert desk.agents.status()["states"] == {RINGING: 1, LOGGED_OUT: 2}


def test_configuration_must_name_each_headset_and_agent_once():
    desk = Desk()
    with pytest.raises(ValueError, match="headset may appear once.*h-alice"):
        desk.agents.configure(STAFF + (HeadsetConfig("h-alice", "zoe"),), desk.now)
    with pytest.raises(ValueError, match="agent may appear once.*bob"):
        desk.agents.configure(STAFF + (HeadsetConfig("h-zoe", "bob"),), desk.now)
    with pytest.raises(ValueError):
        HeadsetConfig("", "zoe")


def test_reload_changing_queues_stops_a_ringing_agent_and_rings_the_new_queue():
    desk = Desk()
    desk.up("h-alice", "h-carol")
    desk.ring("k1", "sales")
    staff = (HeadsetConfig("h-alice", "alice", ("support",)),) + STAFF[1:]
    out = desk.agents.configure(staff, desk.at(1).now)
    assert led(out, "h-alice") == SetHeadset("h-alice", False, False, False)
    assert desk.state("alice") == AgentChanged("alice", AVAILABLE, T0 + 1, "", "", "h-alice", ("support",))
    out = desk.at(2).ring("k2", "support")
    assert {a.headset for a in of(out, SetHeadset)} == {"h-alice", "h-carol"}


def test_reload_adding_an_agent_for_a_headset_already_up_and_removing_one_mid_call():
    desk = Desk()
    desk.up("h-dave")
    desk.talking("k1", "h-alice", answer_at=2)
    staff = STAFF[1:] + (HeadsetConfig("h-dave", "dave"),)
    out = desk.agents.configure(staff, desk.at(3).now)
    assert AgentChanged("alice", LOGGED_OUT, T0 + 3, "removed from configuration", "", "h-alice",
                        ("sales",)) in out
    assert led(out, "h-alice") == SetHeadset("h-alice", False, False, False)
    assert AgentChanged("dave", AVAILABLE, T0 + 3, "", "", "h-dave", ()) in out
    assert "alice" not in {a["name"] for a in desk.agents.list()}
    [info] = of(desk.at(20).ended("k1"), CallAgentInfo)       # the call alice took still gets its info
    assert (info.agent, info.wrap_up_s) == ("alice", 0)
