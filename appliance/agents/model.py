"""The agents machine's own bookkeeping: one agent, one line call, and what each one shows."""
from __future__ import annotations

from dataclasses import dataclass, field

from .actions import AVAILABLE, LOGGED_OUT, ON_CALL, PAUSED, RINGING, WRAP_UP, AgentChanged, CallAgentInfo


def _whole(seconds: float) -> int:
    return int(max(0.0, seconds) + 0.5)


@dataclass(slots=True)
class Call:
    """A line call the machine knows, from its first ring until the tracker ends it."""
    key: str
    line: str
    queue: str
    caller: str
    rang_at: float
    order: int                       # arrival order, to break ties between calls ringing at one instant
    agent: str = ""                  # the agent who took it; "" = still waiting for one
    headset: str = ""
    with_agent: bool = False         # the agent is still on it (not hung up, not removed)
    lifted_at: float | None = None
    answered_at: float | None = None  # the tracker's confirmation
    agent_ring_s: float = 0.0
    muted_since: float | None = None
    mutes: list[tuple[float, float]] = field(default_factory=list)
    headset_lost: bool = False
    wrap_up_s: float = 0.0

    @property
    def waiting(self) -> bool:
        return not self.agent

    def mute(self, muted: bool, now: float) -> None:
        if muted and self.muted_since is None:
            self.muted_since = now
        elif not muted and self.muted_since is not None:
            self.mutes.append((self.muted_since, max(now, self.muted_since)))
            self.muted_since = None

    def agent_info(self, end: float) -> CallAgentInfo:
        """Closes an open mute at `end`; offsets count from the confirmed answer (else the lift)."""
        self.mute(False, end)
        zero = self.answered_at if self.answered_at is not None else self.lifted_at
        intervals = tuple((round(max(0.0, a - zero), 3), round(max(0.0, b - zero), 3)) for a, b in self.mutes)
        return CallAgentInfo(
            call_key=self.key, agent=self.agent, headset=self.headset,
            agent_ring_s=_whole(self.agent_ring_s), mute_intervals=intervals,
            muted_s=round(sum(b - a for a, b in intervals), 3), wrap_up_s=_whole(self.wrap_up_s),
            headset_lost=self.headset_lost)


@dataclass(slots=True)
class Agent:
    """One configured agent. The state shown is derived from these fields (`view`), never stored."""
    name: str
    headset: str
    queues: tuple[str, ...]
    call: str = ""                   # key of the call the agent is on
    ringing_for: str = ""            # key of the waiting call the headset rings for
    ring_since: float = 0.0
    muted: bool = False
    wrap_until: float | None = None
    wrap_call: str = ""
    pause: str | None = None         # None = not paused; else the reason ("" allowed)
    seen: bool = False               # the headset has been up at least once
    shown: AgentChanged | None = None  # the last AgentChanged emitted

    def serves(self, queue: str) -> bool:
        """An empty queue is a wildcard on either side (see Agents' docstring)."""
        return not self.queues or not queue or queue in self.queues

    def view(self, present: bool) -> tuple[str, str, str]:
        """(state, reason, call_key) as shown; precedence: headset, call, ring, wrap-up, pause."""
        note = "" if self.pause is None else f"pause requested: {self.pause}" if self.pause else "pause requested"
        if not present:
            base = "headset unplugged" if self.seen else "no headset"
            return LOGGED_OUT, "; ".join(filter(None, (base, note))), self.call
        if self.call:
            return ON_CALL, note, self.call
        if self.ringing_for:
            return RINGING, "", self.ringing_for
        if self.wrap_until is not None:
            return WRAP_UP, note, self.wrap_call
        if self.pause is not None:
            return PAUSED, self.pause, ""
        return AVAILABLE, "", ""

    def led(self, present: bool) -> tuple[bool, bool, bool]:
        """(ring, off_hook, mute) the headset should show: off-hook only on a call, mute only off-hook."""
        off_hook = present and bool(self.call)
        return present and bool(self.ringing_for), off_hook, off_hook and self.muted
