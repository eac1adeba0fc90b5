"""Test helpers for the agents machine: a site with three agents and a clock the test moves by hand."""
from __future__ import annotations

from appliance.agents import AgentChanged, Agents, HeadsetConfig, SetHeadset

T0 = 1_700_000_000.0

STAFF = (HeadsetConfig("h-alice", "alice", ("sales",)),
         HeadsetConfig("h-bob", "bob", ("sales",)),
         HeadsetConfig("h-carol", "carol", ("support",)))


def of(actions, kind) -> list:
    return [a for a in actions if isinstance(a, kind)]


class Desk:
    """The machine plus a clock: `desk.at(5)` sets now to T0 + 5 s; inputs take desk.now."""

    def __init__(self, staff=STAFF, **options):
        self.now = T0
        self.agents = Agents(**options)
        self.first = self.agents.configure(staff, self.now)

    def at(self, seconds: float) -> "Desk":
        self.now = T0 + seconds
        return self

    def up(self, *headsets: str) -> list:
        out = []
        for h in headsets:
            out += self.agents.headset_up(h, self.now)
        return out

    def ring(self, key: str, queue: str = "sales", line: str = "") -> list:
        return self.agents.call_ringing(line or f"line-{key}", key, queue, "+441234567890", self.now)

    def lift(self, headset: str) -> list:
        return self.agents.hook(headset, True, self.now)

    def put_down(self, headset: str) -> list:
        return self.agents.hook(headset, False, self.now)

    def answered(self, key: str, line: str = "") -> list:
        return self.agents.call_answered(line or f"line-{key}", key, self.now)

    def ended(self, key: str, disposition: str = "answered", line: str = "") -> list:
        return self.agents.call_ended(line or f"line-{key}", key, disposition, self.now)

    def state(self, agent: str) -> AgentChanged:
        return next(s for s in self.agents.snapshot() if s.agent == agent)

    def talking(self, key: str = "k1", headset: str = "h-alice", answer_at: float = 2.0) -> None:
        """A sales call `key` answered on `headset` (both sales headsets up)."""
        self.up("h-alice", "h-bob")
        self.ring(key)
        self.at(answer_at - 1)
        self.lift(headset)
        self.at(answer_at)
        self.answered(key)


def led(actions, headset: str) -> SetHeadset | None:
    """The last SetHeadset for `headset` among `actions`, None if none was sent."""
    sent = [a for a in of(actions, SetHeadset) if a.headset == headset]
    return sent[-1] if sent else None
