"""What the call tracker knows about each device, and what it shows of calls in progress."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from typing import Callable

from firmware_bridge.events import PbxLeg
from firmware_bridge.registry import KINDS


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the tracker needs to know about a device.

    `tz` converts PBX local times to UTC. `to_leg` turns an SMDR feed's records into PbxLeg
    (firmware_bridge.smdr.legs, with the feed's date order); None = the default reader.
    `ring_timeout_s` is the line's own (None = the tracker's default). `agent` is who answers a
    line ("" = the line's name); `line_number` is the line's own number (callee of inbound calls,
    caller of outbound ones).
    """
    name: str
    kind: str                    # a firmware_bridge.registry kind: "avaya-ipo", "gsm", ...
    queue: str = ""
    tz: tzinfo = timezone.utc
    to_leg: Callable[[object], PbxLeg | None] | None = None
    ring_timeout_s: float | None = None
    agent: str = ""
    line_number: str = ""

    @property
    def role(self) -> str:
        """"line" or "smdr" (or another stage's role): which part of the tracker reads it."""
        kind = KINDS.get(self.kind)
        return kind.role if kind is not None else ""


@dataclass(frozen=True, slots=True)
class LiveCall:
    """A call in progress on a line, as queue statistics, agents and live events see it."""
    source: str
    queue: str
    direction: str               # "inbound" | "outbound"
    state: str                   # "ringing" | "dialing" | "alerting" | "active" | "held"
    started_at: datetime
    answered_at: datetime | None
    key: str = ""                # the key its call record will have
    caller: str = ""


@dataclass(frozen=True, slots=True)
class LineState:
    """One telephone line the tracker knows: up or down, and its call if any."""
    name: str
    queue: str
    up: bool
    call: LiveCall | None

