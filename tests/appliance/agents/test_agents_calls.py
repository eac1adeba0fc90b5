"""Agents machine, call scenarios: ring all, first lift wins, hang-up, caller leaves, refused answers."""
from __future__ import annotations

from appliance.agents import (AVAILABLE, ON_CALL, RINGING, WRAP_UP, AgentChanged, AnswerLine, CallAgentInfo,
                              HangupLine, SetHeadset)
from tests.appliance.agents.desk import T0, Desk, led, of


def test_configured_agents_start_logged_out_and_headset_up_makes_them_available():
    desk = Desk()
    assert [(a.agent, a.state, a.reason) for a in of(desk.first, AgentChanged)] == [
        ("alice", "logged_out", "no headset"), ("bob", "logged_out", "no headset"),
        ("carol", "logged_out", "no headset")]
    out = desk.at(1).up("h-alice")
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=False, mute=False)
    assert of(out, AgentChanged) == [AgentChanged("alice", AVAILABLE, T0 + 1, "", "", "h-alice", ("sales",))]


def test_two_headsets_ring_the_first_lift_answers_once_and_the_other_stops():
    desk = Desk()
    desk.up("h-alice", "h-bob", "h-carol")
    out = desk.at(1).ring("k1", "sales", line="gsm1")
    assert of(out, SetHeadset) == [SetHeadset("h-alice", True, False, False), SetHeadset("h-bob", True, False, False)]
    assert {(a.agent, a.state, a.call_key) for a in of(out, AgentChanged)} == {
        ("alice", RINGING, "k1"), ("bob", RINGING, "k1")}   # carol serves support only

    out = desk.at(4).lift("h-bob")
    assert of(out, AnswerLine) == [AnswerLine("gsm1", "k1")]
    assert out[0] == AnswerLine("gsm1", "k1")                 # the line is answered before anything else
    assert led(out, "h-bob") == SetHeadset("h-bob", ring=False, off_hook=True, mute=False)
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=False, mute=False)
    assert desk.state("bob").state == ON_CALL and desk.state("bob").call_key == "k1"
    assert desk.state("alice").state == AVAILABLE

    # alice lifts a moment later: nothing at all (no second ATA, her headset stays on-hook and quiet)
    assert desk.at(4.2).lift("h-alice") == []
    assert desk.state("alice").state == AVAILABLE


def test_a_headset_lifted_with_nothing_ringing_does_nothing():
    desk = Desk()
    desk.up("h-alice")
    assert desk.at(1).lift("h-alice") == []
    assert desk.at(2).put_down("h-alice") == []
    # a call of carol's queue rings only carol: alice lifting does not take it
    desk.up("h-carol")
    desk.ring("k1", "support")
    assert desk.at(3).lift("h-alice") == []
    assert desk.state("carol").state == RINGING


def test_on_hook_hangs_up_the_line_then_wrap_up_and_the_agent_info():
    desk = Desk(wrap_up_s_for_queue={"sales": 30})
    desk.talking("k1", "h-alice", answer_at=2)
    out = desk.at(62).put_down("h-alice")
    assert of(out, HangupLine) == [HangupLine("line-k1", "k1")]
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=False, mute=False)
    assert desk.state("alice").state == WRAP_UP and desk.state("alice").call_key == "k1"

    out = desk.at(63).ended("k1", "answered")
    assert of(out, CallAgentInfo) == [CallAgentInfo("k1", "alice", "h-alice", agent_ring_s=1, mute_intervals=(),
                                                    muted_s=0.0, wrap_up_s=30, headset_lost=False)]
    assert of(out, HangupLine) == [] and of(out, SetHeadset) == []


def test_the_caller_hanging_up_clears_off_hook_and_mute_and_starts_wrap_up():
    desk = Desk()
    desk.talking("k1", "h-alice", answer_at=2)
    desk.at(5).agents.mute("h-alice", True, desk.now)
    out = desk.at(40).ended("k1", "answered")
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=False, mute=False)
    assert of(out, HangupLine) == []                          # the line is already idle
    [info] = of(out, CallAgentInfo)
    assert info.wrap_up_s == 10 and info.mute_intervals == ((3.0, 38.0),) and info.muted_s == 35.0
    assert desk.state("alice") == AgentChanged("alice", WRAP_UP, T0 + 40, "", "k1", "h-alice", ("sales",))


def test_answer_refused_the_caller_left_as_the_agent_lifted():
    desk = Desk()
    desk.up("h-alice", "h-bob")
    desk.ring("k1")
    out = desk.at(3).lift("h-alice")
    assert of(out, AnswerLine) == [AnswerLine("line-k1", "k1")]
    out = desk.at(3.5).agents.answer_refused("line-k1", "k1", desk.now)
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=False, mute=False)
    assert desk.state("alice").state == AVAILABLE and desk.state("alice").call_key == ""
    assert desk.state("bob").state == AVAILABLE               # the call is not offered again
    out = desk.at(4).ended("k1", "abandoned")                 # the tracker records the abandon
    assert out == []                                          # no agent info claims an answer


def test_a_call_ending_before_the_answer_was_confirmed_gives_no_agent_info_and_no_wrap_up():
    desk = Desk()
    desk.up("h-alice")
    desk.ring("k1")
    desk.at(2).lift("h-alice")
    out = desk.at(2.4).ended("k1", "abandoned")               # NO CARRIER reached the tracker first
    assert of(out, CallAgentInfo) == []
    assert led(out, "h-alice") == SetHeadset("h-alice", False, False, False)
    assert desk.state("alice").state == AVAILABLE
    assert desk.at(2.5).agents.answer_refused("line-k1", "k1", desk.now) == []


def test_hanging_up_before_the_answer_is_confirmed_skips_wrap_up():
    desk = Desk()
    desk.up("h-alice")
    desk.ring("k1")
    desk.at(2).lift("h-alice")
    out = desk.at(2.3).put_down("h-alice")
    assert of(out, HangupLine) == [HangupLine("line-k1", "k1")]
    assert desk.state("alice").state == AVAILABLE
    assert of(desk.at(3).ended("k1", "abandoned"), CallAgentInfo) == []


def test_no_agent_available_the_line_keeps_ringing_and_an_abandon_stops_all_ringing():
    desk = Desk()
    assert of(desk.ring("k1"), SetHeadset) == []              # nobody logged in: nothing rings
    out = desk.at(5).up("h-alice")                            # alice arrives while the caller waits
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=True, off_hook=False, mute=False)
    assert desk.state("alice").call_key == "k1"
    out = desk.at(9).ended("k1", "abandoned")
    assert led(out, "h-alice") == SetHeadset("h-alice", ring=False, off_hook=False, mute=False)
    assert of(out, CallAgentInfo) == [] and desk.state("alice").state == AVAILABLE


def test_a_waiting_call_rings_an_agent_freed_by_another_call_oldest_call_first():
    desk = Desk()
    desk.ring("k1")
    desk.at(1).ring("k2")
    desk.at(2).up("h-alice", "h-bob")
    assert {desk.state(n).call_key for n in ("alice", "bob")} == {"k1"}   # both ring for the oldest
    out = desk.at(3).lift("h-alice")
    assert of(out, AnswerLine) == [AnswerLine("line-k1", "k1")]
    assert led(out, "h-bob") is None                          # still ringing: no LED change to send
    assert [(a.agent, a.state, a.call_key, a.since) for a in of(out, AgentChanged)] == [
        ("alice", ON_CALL, "k1", T0 + 3), ("bob", RINGING, "k2", T0 + 3)]
    out = desk.at(4).lift("h-bob")
    assert of(out, AnswerLine) == [AnswerLine("line-k2", "k2")]


def test_agent_ring_s_counts_from_when_that_agents_headset_began_ringing():
    desk = Desk()
    desk.up("h-alice")
    desk.ring("k1")
    desk.at(3).up("h-bob")                                    # bob rings from t=3
    desk.at(8).lift("h-bob")
    desk.at(9).answered("k1")
    [info] = of(desk.at(20).ended("k1"), CallAgentInfo)
    assert (info.agent, info.headset, info.agent_ring_s) == ("bob", "h-bob", 5)


def test_a_call_answered_without_a_headset_stops_ringing_everyone():
    desk = Desk()
    desk.up("h-alice", "h-bob")
    desk.ring("k1")
    out = desk.at(2).answered("k1")                           # e.g. `appliance answer` on the line
    assert led(out, "h-alice") == SetHeadset("h-alice", False, False, False)
    assert led(out, "h-bob") == SetHeadset("h-bob", False, False, False)
    assert desk.at(3).lift("h-alice") == []
    assert of(desk.at(9).ended("k1"), CallAgentInfo) == []


def test_queue_wildcards_a_line_without_queue_rings_everyone_an_agent_without_queues_takes_all():
    from appliance.agents import HeadsetConfig
    from tests.appliance.agents.desk import STAFF
    desk = Desk(STAFF + (HeadsetConfig("h-dave", "dave", ()),))
    desk.up("h-alice", "h-bob", "h-carol", "h-dave")
    out = desk.ring("k1", queue="")
    assert sorted(a.headset for a in of(out, SetHeadset)) == ["h-alice", "h-bob", "h-carol", "h-dave"]
    desk.ended("k1", "abandoned")
    out = desk.at(1).ring("k2", queue="support")
    assert sorted(a.headset for a in of(out, SetHeadset)) == ["h-carol", "h-dave"]


def test_a_new_ring_on_a_line_with_a_call_still_known_supersedes_it():
    desk = Desk()
    desk.up("h-alice")
    desk.ring("k1", line="gsm1")
    out = desk.at(6).ring("k2", line="gsm1")                  # the tracker ended k1 without telling us
    assert desk.state("alice").call_key == "k2"
    assert [a.call_key for a in of(out, AgentChanged)] == ["k2"]
    assert desk.at(7).ended("k1", "abandoned") == []          # already forgotten


def test_a_queue_change_that_keeps_an_agent_ringing_for_the_same_call_does_not_restart_his_ring_time():
    from appliance.agents import HeadsetConfig
    desk = Desk()
    desk.up("h-alice")
    desk.ring("k1")                                           # alice rings from t=0
    desk.agents.configure((HeadsetConfig("h-alice", "alice", ("sales", "support")),), T0 + 3)
    assert desk.state("alice").state == RINGING and desk.state("alice").since == T0
    desk.at(4).lift("h-alice")
    desk.at(5).answered("k1")
    [info] = of(desk.at(20).ended("k1"), CallAgentInfo)
    assert info.agent_ring_s == 4                             # rang 0..4, not 3..4
