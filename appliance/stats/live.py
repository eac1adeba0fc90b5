"""Live figures of a queue now: calls waiting, the longest wait, agents by state; none for SMDR-only queues."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timezone

AGENT_STATES = ("logged_out", "available", "ringing", "on_call", "wrap_up", "paused")


@dataclass(frozen=True, slots=True)
class AgentInput:
    """One agent as the agent layer sees it: its state (one of AGENT_STATES) and its queues."""
    agent: str
    state: str
    queues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LiveFigures:
    """A queue's live figures. live_available=False (SMDR-only queue): every figure is None, never 0.

    longest_wait_now_s is None also when nobody is waiting (there is no wait to measure).
    """
    queue: str
    live_available: bool
    waiting: int | None = None
    longest_wait_now_s: float | None = None
    agents_available: int | None = None
    agents_ringing: int | None = None
    agents_on_call: int | None = None
    agents_wrap_up: int | None = None
    agents_paused: int | None = None
    agents_logged_out: int | None = None

    def fill_pb(self, msg) -> None:
        """Write into an appliance.v1.live_pb2.QueueStats (None goes on the wire as 0)."""
        for f in fields(self):
            if f.name != "queue":
                value = getattr(self, f.name)
                setattr(msg, f.name, value if value is not None else 0)


def to_posix(when: float | datetime) -> float:
    """POSIX seconds from seconds or an aware datetime (a naive datetime is taken as UTC)."""
    if isinstance(when, datetime):
        return (when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)).timestamp()
    return float(when)


@dataclass(frozen=True, slots=True)
class LiveInputs:
    """What the daemon knows now: waiting calls' start times per queue, agents, queues with a line."""
    waiting: Mapping[str, tuple[float, ...]]
    agents: tuple[AgentInput, ...]
    line_queues: frozenset[str]
    fed: frozenset[str]           # queues a line or an agent feeds (a waiting call implies a line)

    @classmethod
    def build(cls, waiting: Mapping[str, Iterable[float | datetime]] | None = None,
              agents: Iterable[AgentInput] = (), line_queues: Iterable[str] = ()) -> tuple["LiveInputs", int]:
        """Normalise plain inputs; returns (inputs, number of agents dropped for an unknown state)."""
        kept, dropped = [], 0
        for a in agents:
            if a.state in AGENT_STATES:
                kept.append(a)
            else:
                dropped += 1
        starts = {q: tuple(to_posix(t) for t in ts) for q, ts in (waiting or {}).items() if q}
        lines = frozenset(q for q in line_queues if q)
        fed = set(lines) | {q for q, ts in starts.items() if ts}
        for a in kept:
            fed.update(q for q in a.queues if q)
        return cls(starts, tuple(kept), lines, frozenset(fed)), dropped


def live_figures(queue: str, inputs: LiveInputs, now: float) -> LiveFigures:
    """The queue's live figures at `now` (POSIX seconds)."""
    if queue not in inputs.fed:
        return LiveFigures(queue, live_available=False)
    counts = dict.fromkeys(AGENT_STATES, 0)
    for a in inputs.agents:
        if queue in a.queues:
            counts[a.state] += 1
    starts = inputs.waiting.get(queue, ())
    longest = max((max(0.0, now - t) for t in starts), default=None)
    return LiveFigures(
        queue, live_available=True, waiting=len(starts), longest_wait_now_s=longest,
        agents_available=counts["available"], agents_ringing=counts["ringing"],
        agents_on_call=counts["on_call"], agents_wrap_up=counts["wrap_up"],
        agents_paused=counts["paused"], agents_logged_out=counts["logged_out"])


def waiting_from_calls(calls: Iterable) -> dict[str, list[float]]:
    """Waiting calls per queue from the call tracker's LiveCall objects: inbound and still ringing."""
    out: dict[str, list[float]] = {}
    for c in calls:
        if c.direction == "inbound" and c.state == "ringing" and c.queue:
            out.setdefault(c.queue, []).append(to_posix(c.started_at))
    return out
