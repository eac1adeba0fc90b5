"""Agents machine under random sequences of every input: the call/agent invariants hold after each step."""
from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from appliance.agents import (AVAILABLE, LOGGED_OUT, ON_CALL, PAUSED, RINGING, WRAP_UP, AgentChanged, Agents,
                              AnswerLine, CallAgentInfo, CallMuted, HangupLine, HeadsetConfig, SetHeadset)
from firmware_bridge.events import HeadsetButton, HookSwitch, PhoneMute
from tests.appliance.agents.desk import T0

STAFF = (HeadsetConfig("h1", "ann", ("sales",)), HeadsetConfig("h2", "ben", ("sales", "support")),
         HeadsetConfig("h3", "cat", ()), HeadsetConfig("h4", "dan", ("support",)))
HEADSETS = tuple(hc.headset for hc in STAFF) + ("h-stray",)
AGENT_NAMES = tuple(hc.agent for hc in STAFF)
LINES = ("l1", "l2", "l3")
QUEUES = ("sales", "support", "")
DISPOSITIONS = ("answered", "abandoned", "failed")
WRAP_UP_S = {"sales": 5.0, "support": 0.0}      # any other queue: 2 s


class AgentsStateMachine(RuleBasedStateMachine):
    """A model of the tracker and the daemon around the machine: it feeds inputs, applies the
    actions the way the daemon would (LED state per headset, answered lines) and checks them."""

    def __init__(self):
        super().__init__()
        self.now = T0
        self.machine = Agents(wrap_up_s_for_queue=WRAP_UP_S, default_wrap_up_s=2.0)
        self.staff = {hc.agent: hc for hc in STAFF}
        self.up: set[str] = set()
        self.leds: dict[str, tuple[bool, bool, bool]] = {}
        self.shown: dict[str, AgentChanged] = {}
        self.pauses: set[str] = set()
        self.line_call: dict[str, str] = {}       # the tracker's call on each line
        self.queue_of: dict[str, str] = {}
        self.waiting: set[str] = set()            # offered to agents: ringing, nobody took it
        self.taken: set[str] = set()              # AnswerLine sent
        self.confirmed: set[str] = set()
        self.refused: set[str] = set()
        self.finished: set[str] = set()
        self.infos: dict[str, CallAgentInfo] = {}
        self.mutes: dict[str, int] = {}              # call -> CallMuted(muted=True) seen
        self.rang: dict[str, tuple[str, float]] = {}   # call -> (agent who took it, how long his headset rang)
        self.serial = 0
        self.apply(self.machine.configure(STAFF, self.now))

    # ---- applying what the machine asks --------------------------------------------------

    def apply(self, actions) -> None:
        for a in actions:
            if isinstance(a, SetHeadset):
                assert a.headset in self.up, f"LEDs sent to a headset that is down: {a}"
                assert not (a.mute and not a.off_hook), f"mute without off-hook: {a}"
                self.leds[a.headset] = (a.ring, a.off_hook, a.mute)
            elif isinstance(a, AnswerLine):
                assert a.call_key in self.waiting, f"answered a call that was not waiting: {a}"
                assert self.line_call.get(a.line) == a.call_key
                self.waiting.discard(a.call_key)
                self.taken.add(a.call_key)
            elif isinstance(a, HangupLine):
                assert a.call_key in self.taken and a.call_key not in self.finished
            elif isinstance(a, AgentChanged):
                before = self.shown.get(a.agent)
                if a.state == ON_CALL and before and (before.state, before.call_key) == (RINGING, a.call_key):
                    self.rang[a.call_key] = (a.agent, a.since - before.since)   # lifted after ringing so long
                self.shown[a.agent] = a
            elif isinstance(a, CallMuted):
                assert a.call_key in self.taken and a.call_key not in self.finished
                self.mutes[a.call_key] = self.mutes.get(a.call_key, 0) + a.muted
            elif isinstance(a, CallAgentInfo):
                assert a.call_key not in self.infos, "two agent infos for one call"
                assert a.call_key in self.taken and a.call_key not in self.refused
                assert len(a.mute_intervals) == self.mutes.get(a.call_key, 0), "one interval per mute"
                assert (a.agent, a.agent_ring_s) == (self.rang[a.call_key][0], int(self.rang[a.call_key][1] + 0.5))
                self.infos[a.call_key] = a
            else:
                raise AssertionError(f"unknown action {a!r}")

    def call_of(self, line: str) -> str:
        return self.line_call[line]

    # ---- rules: time -------------------------------------------------------------------------

    @rule(dt=st.sampled_from((0.0, 0.5, 1.0, 2.0, 5.0, 7.0)))
    def tick(self, dt):
        self.now += dt
        self.apply(self.machine.tick(self.now))

    # ---- rules: the call tracker -----------------------------------------------------------

    @rule(line=st.sampled_from(LINES), queue=st.sampled_from(QUEUES))
    def ring(self, line, queue):
        if line in self.line_call:
            return                                    # the tracker has one call per line
        self.serial += 1
        key = f"k{self.serial}"
        self.line_call[line], self.queue_of[key] = key, queue
        self.waiting.add(key)
        self.apply(self.machine.call_ringing(line, key, queue, "+15550100", self.now))

    @precondition(lambda self: self.line_call)
    @rule(data=st.data())
    def answered(self, data):
        line = data.draw(st.sampled_from(sorted(self.line_call)))
        key = self.call_of(line)
        if key in self.refused:
            assert self.machine.call_answered(line, key, self.now) == []   # forgotten at the refusal
            return
        if key in self.waiting:                       # answered with no headset: offered no more
            self.waiting.discard(key)
        elif key in self.taken:
            self.confirmed.add(key)
        self.apply(self.machine.call_answered(line, key, self.now))

    def unconfirmed(self) -> list[str]:
        return sorted(ln for ln, k in self.line_call.items() if k in self.taken and k not in self.confirmed | self.refused)

    @precondition(lambda self: self.unconfirmed())
    @rule(data=st.data())
    def connected(self, data):
        """The usual path after AnswerLine: the line reports the call up."""
        line = data.draw(st.sampled_from(self.unconfirmed()))
        self.confirmed.add(self.line_call[line])
        self.apply(self.machine.call_answered(line, self.line_call[line], self.now))

    @precondition(lambda self: self.line_call)
    @rule(data=st.data(), disposition=st.sampled_from(DISPOSITIONS))
    def ended(self, data, disposition):
        line = data.draw(st.sampled_from(sorted(self.line_call)))
        key = self.line_call.pop(line)
        talked = key in self.taken and key not in self.refused and \
            (key in self.confirmed or disposition == "answered")
        self.apply(self.machine.call_ended(line, key, disposition, self.now))
        self.finished.add(key)
        self.waiting.discard(key)
        assert (key in self.infos) == talked, f"agent info for {key}: expected {talked}"

    @precondition(lambda self: self.unconfirmed())
    @rule(data=st.data())
    def refused_answer(self, data):
        line = data.draw(st.sampled_from(self.unconfirmed()))
        key = self.call_of(line)
        self.refused.add(key)
        self.apply(self.machine.answer_refused(line, key, self.now))

    # ---- rules: headsets and control -----------------------------------------------------------

    def plug(self, headset: str) -> None:
        self.up.add(headset)
        self.leds.pop(headset, None)
        self.apply(self.machine.headset_up(headset, self.now))
        assert headset in self.leds, "a headset coming up gets its full LED state"

    @initialize(headsets=st.sets(st.sampled_from(HEADSETS)))
    def plug_some(self, headsets):
        for headset in sorted(headsets):
            self.plug(headset)

    @rule(headset=st.sampled_from(HEADSETS), up=st.booleans())
    def plug_or_unplug(self, headset, up):
        if up:
            self.plug(headset)
        else:
            self.up.discard(headset)
            self.leds.pop(headset, None)
            self.apply(self.machine.headset_down(headset, self.now))

    @rule(headset=st.sampled_from(HEADSETS), event=st.one_of(
        st.builds(HookSwitch, st.booleans()), st.builds(PhoneMute, st.booleans()),
        st.builds(HeadsetButton, st.sampled_from(("flash", "redial", "programmable")))))
    def headset_event(self, headset, event):
        self.apply(self.machine.headset_event(headset, event, self.now))

    def headsets_in(self, state: str) -> list[str]:
        return sorted(self.staff[s.agent].headset for s in self.shown.values() if s.state == state)

    @precondition(lambda self: self.headsets_in(RINGING))
    @rule(data=st.data())
    def lift_a_ringing_headset(self, data):
        headset = data.draw(st.sampled_from(self.headsets_in(RINGING)))
        self.apply(self.machine.headset_event(headset, HookSwitch(True), self.now))

    @precondition(lambda self: self.headsets_in(ON_CALL))
    @rule(data=st.data(), event=st.sampled_from((HookSwitch(False), HeadsetButton("flash"), PhoneMute(True),
                                                 PhoneMute(False))))
    def act_on_a_call(self, data, event):
        headset = data.draw(st.sampled_from(self.headsets_in(ON_CALL)))
        self.apply(self.machine.headset_event(headset, event, self.now))

    @rule(agent=st.sampled_from(AGENT_NAMES), op=st.sampled_from(("pause", "pause lunch", "resume", "resume",
                                                                   "queues", "queues sales", "queues support")))
    def supervisor(self, agent, op):
        """`appliance agent pause/resume`, or a configuration reload giving the agent other queues."""
        verb, _, arg = op.partition(" ")
        if verb == "pause":
            self.pauses.add(agent)
            self.apply(self.machine.pause(agent, arg, self.now))
        elif verb == "resume":
            self.pauses.discard(agent)
            self.apply(self.machine.resume(agent, self.now))
        else:
            self.staff[agent] = HeadsetConfig(self.staff[agent].headset, agent, (arg,) if arg else ())
            self.apply(self.machine.configure(tuple(self.staff.values()), self.now))

    # ---- invariants ---------------------------------------------------------------------------------

    def serves(self, agent: str, key: str) -> bool:
        queues, queue = self.staff[agent].queues, self.queue_of[key]
        return not queues or not queue or queue in queues

    @invariant()
    def the_actions_tell_the_whole_state(self):
        assert {s.agent: s for s in self.machine.snapshot()} == self.shown
        for headset in self.up:
            assert headset in self.leds, f"{headset} is up but was never told its state"

    @invariant()
    def an_agent_has_at_most_one_call_and_a_call_at_most_one_agent(self):
        holders: dict[str, str] = {}
        for s in self.shown.values():
            if s.state in (ON_CALL, LOGGED_OUT) and s.call_key:
                assert s.call_key not in holders, f"{s.call_key} held by {holders.get(s.call_key)} and {s.agent}"
                holders[s.call_key] = s.agent
                assert s.call_key in self.taken and s.call_key not in self.finished | self.refused

    @invariant()
    def only_available_agents_ring_each_for_one_waiting_call_of_their_queue(self):
        for s in self.shown.values():
            if s.state == RINGING:
                assert s.call_key in self.waiting, f"{s.agent} rings for {s.call_key}, not waiting"
                oldest = min((k for k in self.waiting if self.serves(s.agent, k)), key=lambda k: int(k[1:]))
                assert s.call_key == oldest, f"{s.agent} rings for {s.call_key}, {oldest} waits longer"
                assert s.agent not in self.pauses
                assert self.staff[s.agent].headset in self.up

    @invariant()
    def no_agent_sits_available_while_a_call_of_his_queue_waits(self):
        for s in self.shown.values():
            if s.state == AVAILABLE:
                assert s.agent not in self.pauses
                assert not [k for k in self.waiting if self.serves(s.agent, k)], f"{s.agent} idle"

    @invariant()
    def states_agree_with_headsets_pauses_and_leds(self):
        for s in self.shown.values():
            headset = self.staff[s.agent].headset
            assert (s.state == LOGGED_OUT) == (headset not in self.up)
            if s.state == PAUSED:
                assert s.agent in self.pauses
            if s.state == WRAP_UP:
                assert s.call_key in self.taken
                assert self.now < s.since + WRAP_UP_S.get(self.queue_of[s.call_key], 2.0), "wrap-up overran"
            if headset in self.up:
                ring, off_hook, mute = self.leds[headset]
                assert ring == (s.state == RINGING) and off_hook == (s.state == ON_CALL)
                assert not mute or off_hook
        for headset in self.up - {hc.headset for hc in self.staff.values()}:
            assert self.leds[headset] == (False, False, False)

    @invariant()
    def agent_infos_are_well_formed(self):
        for info in self.infos.values():
            previous_end = 0.0
            for start, end in info.mute_intervals:
                assert previous_end <= start <= end
                previous_end = end
            assert abs(info.muted_s - sum(e - s for s, e in info.mute_intervals)) < 1e-6
            assert info.agent_ring_s >= 0 and info.wrap_up_s in (0, 2, 5)


TestAgentsStateMachine = AgentsStateMachine.TestCase
TestAgentsStateMachine.settings = settings(max_examples=200, stateful_step_count=40, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow])
