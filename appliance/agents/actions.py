"""What the agents state machine is told (headset configuration) and what it asks the daemon to do."""
from __future__ import annotations

from dataclasses import dataclass

# Agent states, as live.proto's AgentState names them (AGENT_<STATE upper>).
LOGGED_OUT = "logged_out"       # headset down or absent
AVAILABLE = "available"
RINGING = "ringing"
ON_CALL = "on_call"
WRAP_UP = "wrap_up"
PAUSED = "paused"
AGENT_STATES = (LOGGED_OUT, AVAILABLE, RINGING, ON_CALL, WRAP_UP, PAUSED)

DEFAULT_WRAP_UP_S = 10.0


class UnknownAgent(LookupError):
    """pause/resume named an agent the configuration does not have (a typo on the command line)."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        super().__init__(f"no agent named {name!r}; configured agents: {', '.join(known) or '(none)'}")

    def __str__(self) -> str:
        return self.args[0]


@dataclass(frozen=True, slots=True)
class HeadsetConfig:
    """One agent and the headset they wear. Empty `queues` = the agent takes calls of every queue."""
    headset: str
    agent: str
    queues: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.headset or not self.agent:
            raise ValueError(f"headset and agent names must not be empty: {self!r}")
        object.__setattr__(self, "queues", tuple(self.queues))


# ---- actions: frozen, carried out by the daemon in the order given ----------------------

@dataclass(frozen=True, slots=True)
class AnswerLine:
    """Answer the ringing line (LineDriver.answer(): ATA). The tracker then reports answered or refused."""
    line: str
    call_key: str


@dataclass(frozen=True, slots=True)
class HangupLine:
    """Hang the line up (LineDriver.hangup(): AT+CHUP or ATH). The tracker then reports the end."""
    line: str
    call_key: str


@dataclass(frozen=True, slots=True)
class SetHeadset:
    """The whole desired LED/ringer state of one headset (HID Ring, Off-Hook, Mute); sent on every
    change and whenever the headset comes (back) up. Never sent to a headset that is down."""
    headset: str
    ring: bool
    off_hook: bool
    mute: bool


@dataclass(frozen=True, slots=True)
class AgentChanged:
    """An agent's state, reason or call changed (live AgentEvent, status, metrics).

    `since` is when the agent entered `state` (the `now` of that input, POSIX seconds). `call_key` is
    the call the agent rings for, is on, is wrapping up, or (logged_out) lost the headset during.
    """
    agent: str
    state: str
    since: float
    reason: str
    call_key: str
    headset: str
    queues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CallMuted:
    """The agent muted or unmuted the call (live CALL_MUTED / CALL_UNMUTED)."""
    call_key: str
    muted: bool
    at: float


@dataclass(frozen=True, slots=True)
class CallAgentInfo:
    """The agent part of a finished call's record (CallRecord fields of the same names).

    Only for calls an agent took and that were answered; `mute_intervals` are seconds from the answer.
    """
    call_key: str
    agent: str
    headset: str
    agent_ring_s: int
    mute_intervals: tuple[tuple[float, float], ...]
    muted_s: float
    wrap_up_s: int
    headset_lost: bool


Action = AnswerLine | HangupLine | SetHeadset | AgentChanged | CallMuted | CallAgentInfo
