"""The call detail record (CDR): what the state machine produces, the store keeps and sync sends."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

DIRECTIONS = ("inbound", "outbound", "internal")
DISPOSITIONS = ("answered", "abandoned", "busy", "no_answer", "failed")


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call (or, for SMDR, one leg of a call).

    `key` is the idempotency key, unique per site and stable across restarts and re-sends:
    the store and the central de-duplicate on it. Times are UTC ISO 8601 with a trailing "Z".
    Phone numbers are kept whole here; only logs mask them.
    """
    key: str
    site_id: str
    source: str                 # device name from the config
    source_kind: str            # "avaya-ipo" | "panasonic" | "gsm" | "voice-modem"
    direction: str              # one of DIRECTIONS
    caller: str
    callee: str
    dialled_number: str
    queue: str
    agent: str                  # agent / extension that handled it, "" if none
    started_at: str
    answered_at: str            # "" when never answered
    ended_at: str
    ring_s: int
    talk_s: int
    hold_s: int
    disposition: str            # one of DISPOSITIONS
    pbx_call_id: str = ""       # SMDR Call ID; "" for line calls
    leg: int = 0                # 1-based leg number within pbx_call_id; 0 when not applicable
    final_leg: bool = True      # False while the PBX says more legs follow (Avaya Continuation=1)
    caller_name: str = ""
    raw: str = ""               # the source record(s) as received, for audit and replay
    recording_ref: str = ""     # encrypted recording this call refers to, if any

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CallRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CallRecord))
