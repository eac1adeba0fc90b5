"""The agents state machine: which headset rings for which line call, who answers, wrap-up and pause. Pure."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import count

from firmware_bridge.events import Event, HeadsetButton, HookSwitch, PhoneMute

from .actions import (DEFAULT_WRAP_UP_S, LOGGED_OUT, Action, AgentChanged, AnswerLine, CallMuted, HangupLine,
                      HeadsetConfig, SetHeadset, UnknownAgent)
from .model import Agent, Call

WrapUpFor = Mapping[str, float] | Callable[[str], float] | None
_ALL_OFF = (False, False, False)


class Agents:
    """Headsets + ringing line calls -> actions. No I/O, no clock: every input carries `now`
    (POSIX seconds, one clock for every input) and returns the actions to carry out, in order.

    Rules:
      * Ring all: a call rings the headset of every *available* agent serving its queue. An empty
        queue is a wildcard on either side: a call of a line without a queue rings every available
        agent, and an agent configured without queues rings for every queue's calls.
      * An agent rings for one call at a time. When several calls wait, a free agent rings for the
        oldest one he serves (first ring, then arrival order); agents are taken in configuration
        order. An agent who becomes available while a call of his queue waits starts ringing.
      * The first headset off-hook takes the call: AnswerLine, its headset off-hook, every other
        headset ringing for that call stops (and may ring for the next waiting call). A headset
        lifted with nothing ringing for it does nothing (no dialling from headsets).
      * on-hook on a call: HangupLine, the headset on-hook and unmuted; the agent is done with the
        call at once (wrap-up starts then if the answer was confirmed). Headset buttons (flash,
        redial, programmable) mean nothing here: ignored and counted, like every input that changes
        nothing (unknown headset or call key, a lift with nothing ringing, a refused mute).
      * The call ends (call_ended): ringing stops; the agent on it gets Off-Hook and Mute cleared and
        wrap-up (wrap_up_s_for_queue, default 10 s; 0 = none), then becomes available, or paused if
        a pause was asked for meanwhile. CallAgentInfo is given for a call an agent took and that
        was answered (confirmed by call_answered, or disposition "answered"), never otherwise.
      * The answer refused (ATA met NO CARRIER / ERROR: the caller left) or a call that ends before
        its answer was confirmed: the agent is available again at once, no wrap-up, no CallAgentInfo.
      * A call answered with no agent on it (a command, auto-answer) is no longer offered to anyone.
      * Headset down: a ringing agent stops ringing (others go on); an agent on a call stays on it
        as logged_out (headset_lost=True in the info) until the far end or a command ends it. Headset
        up again: LEDs resent in full; the agent is back on his call, in his wrap-up if it has not
        expired, paused if paused, else available.
      * Mute is honoured only on a call (the headset is already off-hook then); each mute..unmute is
        an interval in seconds from the answer; a call ending or hung up while muted closes it.
      * pause: a ringing or available agent pauses now; on a call or in wrap-up, after it.
    Calls are known by call_key; the `line` of later inputs is informational.
    """

    def __init__(self, *, wrap_up_s_for_queue: WrapUpFor = None, default_wrap_up_s: float = DEFAULT_WRAP_UP_S):
        self._wrap_for = wrap_up_s_for_queue
        self._default_wrap = default_wrap_up_s
        self._agents: dict[str, Agent] = {}          # configuration order
        self._by_headset: dict[str, str] = {}
        self._calls: dict[str, Call] = {}
        self._up: set[str] = set()                   # headsets that are up (configured or not)
        self._sent: dict[str, tuple[bool, bool, bool]] = {}   # last SetHeadset per headset up
        self._order = count()
        self.ignored = 0                             # inputs that changed nothing (unknown, stale, refused)

    # ---- configuration ----------------------------------------------------------------------

    def configure(self, headsets: Iterable[HeadsetConfig], now: float) -> list[Action]:
        """Set (or reload) who wears which headset. An agent keeps his state if his headset is
        unchanged (queues may change); a removed agent, or one given another headset, starts afresh
        (a call he is on goes on without him and still gets its CallAgentInfo)."""
        configs = list(headsets)
        for attr in ("headset", "agent"):
            names = [getattr(hc, attr) for hc in configs]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ValueError(f"each {attr} may appear once in the agents configuration: {', '.join(dupes)}")
        out: list[Action] = []
        kept: dict[str, Agent] = {}
        rering: list[tuple[Agent, str, float]] = []
        for hc in configs:
            old = self._agents.get(hc.agent)
            if old is not None and old.headset == hc.headset:
                if old.queues != hc.queues:
                    if old.ringing_for:
                        rering.append((old, old.ringing_for, old.ring_since))
                    old.queues, old.ringing_for = hc.queues, ""   # rings again for his oldest call
                kept[hc.agent] = old
            else:
                kept[hc.agent] = Agent(hc.agent, hc.headset, hc.queues, seen=hc.headset in self._up)
        for name, agent in self._agents.items():
            if kept.get(name) is not agent:
                self._remove(agent, now, out)
        self._agents = kept
        self._by_headset = {a.headset: a.name for a in kept.values()}
        self._dispatch(now)
        for agent, call_key, since in rering:
            if agent.ringing_for == call_key:
                agent.ring_since = since        # the same call rings on: its ring time is not restarted
        return self._settle(out, now)

    # ---- from the call tracker ----------------------------------------------------------------

    def call_ringing(self, line: str, call_key: str, queue: str, caller: str, now: float) -> list[Action]:
        """A line call began ringing. A call still known on the same line is ended first (superseded)."""
        out = self._begin(now)
        if call_key in self._calls:
            self.ignored += 1
            return self._settle(out, now)
        for old in [c for c in self._calls.values() if c.line == line]:
            self._finish(old, now, out, talked=old.answered_at is not None)
        self._calls[call_key] = Call(call_key, line, queue, caller, now, next(self._order))
        return self._settle(out, now)

    def call_answered(self, line: str, call_key: str, now: float) -> list[Action]:
        """The line reports the call connected (the answer is confirmed)."""
        out = self._begin(now)
        call = self._known(call_key)
        if call is not None and call.agent:
            if call.answered_at is None:
                call.answered_at = now
        elif call is not None:      # answered without any headset: nobody should ring for it any more
            self._finish(call, now, out, talked=False)
        return self._settle(out, now)

    def call_ended(self, line: str, call_key: str, disposition: str, now: float) -> list[Action]:
        """The tracker finished the call (its CallRecord has `call_key`)."""
        out = self._begin(now)
        if (call := self._known(call_key)) is not None:
            self._finish(call, now, out, talked=call.answered_at is not None or disposition == "answered")
        return self._settle(out, now)

    def answer_refused(self, line: str, call_key: str, now: float) -> list[Action]:
        """ATA was answered by NO CARRIER or ERROR: the caller left as the agent lifted."""
        out = self._begin(now)
        if (call := self._known(call_key)) is not None:
            self._finish(call, now, out, talked=False)
        return self._settle(out, now)

    # ---- from headsets --------------------------------------------------------------------------

    def headset_up(self, headset: str, now: float) -> list[Action]:
        out = self._begin(now)
        self._up.add(headset)
        self._sent.pop(headset, None)           # the device's LEDs are unknown: resend them in full
        agent = self._agent_at(headset)
        if agent is not None:
            agent.seen = True
        return self._settle(out, now)

    def headset_down(self, headset: str, now: float) -> list[Action]:
        out = self._begin(now)
        self._up.discard(headset)
        self._sent.pop(headset, None)
        agent = self._agent_at(headset)
        if agent is not None:
            agent.ringing_for = ""
            if agent.call:
                self._calls[agent.call].headset_lost = True
        return self._settle(out, now)

    def headset_event(self, headset: str, event: Event, now: float) -> list[Action]:
        """HookSwitch / PhoneMute / HeadsetButton from the headset driver (other events: ignored)."""
        if isinstance(event, HookSwitch):
            return self.hook(headset, event.off_hook, now)
        if isinstance(event, PhoneMute):
            return self.mute(headset, event.muted, now)
        if isinstance(event, HeadsetButton):
            return self.button(headset, event.button, now)
        out = self._begin(now)
        self.ignored += 1
        return self._settle(out, now)

    def hook(self, headset: str, off_hook: bool, now: float) -> list[Action]:
        out = self._begin(now)
        agent = self._present_agent(headset)
        if agent is not None and off_hook and agent.ringing_for:
            self._take(agent, now, out)
        elif agent is not None and not off_hook and agent.call:
            self._hang_up(agent, now, out)
        else:
            self.ignored += 1
        return self._settle(out, now)

    def mute(self, headset: str, muted: bool, now: float) -> list[Action]:
        """A mute/unmute request; honoured only on a call (the host tracks the toggled state)."""
        out = self._begin(now)
        agent = self._present_agent(headset)
        if agent is None or not agent.call or agent.muted == muted:
            self.ignored += 1
            return self._settle(out, now)
        agent.muted = muted
        self._calls[agent.call].mute(muted, now)
        out.append(CallMuted(agent.call, muted, now))
        return self._settle(out, now)

    def button(self, headset: str, button: str, now: float) -> list[Action]:
        """"flash", "redial", "programmable": none has a meaning here yet (no dialling from a headset,
        no hold on a line), so each is ignored and counted."""
        out = self._begin(now)
        self.ignored += 1
        return self._settle(out, now)

    # ---- time and control -------------------------------------------------------------------------

    def tick(self, now: float) -> list[Action]:
        """Wrap-ups that expired by `now` (every input does this too)."""
        return self._settle(self._begin(now), now)

    def pause(self, name: str, reason: str, now: float) -> list[Action]:
        """Pause now if ringing or available (ringing stops); after the call and wrap-up otherwise."""
        out = self._begin(now)
        agent = self._named(name)
        agent.pause = reason or ""
        agent.ringing_for = ""
        return self._settle(out, now)

    def resume(self, name: str, now: float) -> list[Action]:
        """Lift a pause (or a pause still waiting for the call to end). Resuming an unpaused agent is a no-op."""
        out = self._begin(now)
        self._named(name).pause = None
        return self._settle(out, now)

    def leds(self, headset: str) -> SetHeadset | None:
        """The state last sent to a headset that is up (for a driver that must acknowledge every
        request, even one the machine refused and so answered with no SetHeadset); None if down."""
        sent = self._sent.get(headset)
        return None if sent is None else SetHeadset(headset, *sent)

    def snapshot(self) -> list[AgentChanged]:
        """Every agent's current state, as its last AgentChanged (a live SiteSnapshot's agents)."""
        return [a.shown for a in self._agents.values() if a.shown is not None]

    def list(self) -> list[dict]:
        """For `appliance agent list`: name, headset, queues, state, since, reason, call_key."""
        return [{"name": s.agent, "headset": s.headset, "queues": list(s.queues), "state": s.state,
                 "since": s.since, "reason": s.reason, "call_key": s.call_key} for s in self.snapshot()]

    def status(self) -> dict:
        states: dict[str, int] = {}
        for shown in self.snapshot():
            states[shown.state] = states.get(shown.state, 0) + 1
        return {"agents": len(self._agents), "states": states, "headsets_up": len(self._up),
                "calls": len(self._calls), "waiting": sum(1 for c in self._calls.values() if c.waiting),
                "ignored": self.ignored}

    # ---- internals ----------------------------------------------------------------------------------

    def _begin(self, now: float) -> list[Action]:
        for agent in self._agents.values():
            if agent.wrap_until is not None and now >= agent.wrap_until:
                agent.wrap_until, agent.wrap_call = None, ""
        return []

    def _known(self, call_key: str) -> Call | None:
        call = self._calls.get(call_key)
        if call is None:
            self.ignored += 1       # already ended or refused, answered elsewhere, or never rang
        return call

    def _named(self, name: str) -> Agent:
        agent = self._agents.get(name)
        if agent is None:
            raise UnknownAgent(name, list(self._agents))
        return agent

    def _agent_at(self, headset: str) -> Agent | None:
        name = self._by_headset.get(headset)
        return None if name is None else self._agents[name]

    def _present_agent(self, headset: str) -> Agent | None:
        return self._agent_at(headset) if headset in self._up else None

    def _wrap_s(self, queue: str) -> float:
        source = self._wrap_for
        if source is None:
            value = self._default_wrap
        elif callable(source):
            value = source(queue)
        else:
            value = source.get(queue, self._default_wrap)
        return max(0.0, float(self._default_wrap if value is None else value))

    def _take(self, agent: Agent, now: float, out: list[Action]) -> None:
        call = self._calls[agent.ringing_for]
        call.agent, call.headset, call.with_agent = agent.name, agent.headset, True
        call.lifted_at, call.agent_ring_s = now, now - agent.ring_since
        agent.call, agent.ringing_for, agent.muted = call.key, "", False
        out.append(AnswerLine(call.line, call.key))
        self._stop_ringing(call.key)

    def _hang_up(self, agent: Agent, now: float, out: list[Action]) -> None:
        call = self._calls[agent.call]
        out.append(HangupLine(call.line, call.key))
        self._release(agent, call, now, wrap=call.answered_at is not None)

    def _release(self, agent: Agent, call: Call, now: float, *, wrap: bool) -> None:
        """The agent is done with `call` (hung up, or it ended): unmuted, on-hook, maybe wrap-up."""
        call.mute(False, now)
        call.with_agent = False
        agent.call, agent.muted = "", False
        if wrap and agent.headset in self._up:
            call.wrap_up_s = self._wrap_s(call.queue)
            if call.wrap_up_s > 0:
                agent.wrap_until, agent.wrap_call = now + call.wrap_up_s, call.key

    def _finish(self, call: Call, now: float, out: list[Action], *, talked: bool) -> None:
        """The call is over for the machine: ringing stops, its agent is released, info if answered."""
        del self._calls[call.key]
        self._stop_ringing(call.key)
        agent = self._agents.get(call.agent)
        if call.with_agent and agent is not None and agent.call == call.key:
            self._release(agent, call, now, wrap=talked)
        if call.agent and talked:
            out.append(call.agent_info(now))

    def _stop_ringing(self, call_key: str) -> None:
        for agent in self._agents.values():
            if agent.ringing_for == call_key:
                agent.ringing_for = ""

    def _remove(self, agent: Agent, now: float, out: list[Action]) -> None:
        agent.ringing_for = ""
        if agent.call:
            call = self._calls[agent.call]
            call.mute(False, now)
            call.with_agent = False
        out.append(AgentChanged(agent.name, LOGGED_OUT, now, "removed from configuration", "",
                                agent.headset, agent.queues))

    def _free(self, agent: Agent) -> bool:
        return (agent.headset in self._up and not agent.call and not agent.ringing_for
                and agent.wrap_until is None and agent.pause is None)

    def _dispatch(self, now: float) -> None:
        waiting = sorted((c for c in self._calls.values() if c.waiting), key=lambda c: (c.rang_at, c.order))
        if not waiting:
            return
        for agent in self._agents.values():
            if self._free(agent):
                call = next((c for c in waiting if agent.serves(c.queue)), None)
                if call is not None:
                    agent.ringing_for, agent.ring_since = call.key, now

    def _settle(self, out: list[Action], now: float) -> list[Action]:
        """Ring whoever is free, then report every headset and agent whose shown state changed."""
        self._dispatch(now)
        wanted = {h: _ALL_OFF for h in self._up}
        for agent in self._agents.values():
            if agent.headset in self._up:
                wanted[agent.headset] = agent.led(True)
        for headset in sorted(wanted):
            if self._sent.get(headset) != wanted[headset]:
                self._sent[headset] = wanted[headset]
                out.append(SetHeadset(headset, *wanted[headset]))
        for agent in self._agents.values():
            state, reason, call_key = agent.view(agent.headset in self._up)
            old = agent.shown
            if old is not None and (old.state, old.reason, old.call_key, old.queues) == \
                    (state, reason, call_key, agent.queues):
                continue
            since = old.since if old is not None and (old.state, old.call_key) == (state, call_key) else now
            agent.shown = AgentChanged(agent.name, state, since, reason, call_key, agent.headset, agent.queues)
            out.append(agent.shown)
        return out
