"""The call detail record (CDR): what the state machine produces, the store keeps and sync sends."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from firmware_bridge.frozen import fast_init

DIRECTIONS = ("inbound", "outbound", "internal")
DISPOSITIONS = ("answered", "abandoned", "busy", "no_answer", "failed")
RECORDING_STATUSES = ("", "recorded", "truncated", "not_recorded")   # "" = no audio path for the call


@dataclass(frozen=True, slots=True)
class RecordingSegment:
    """One age-encrypted segment file of a recording (docs/recording-format.md)."""
    index: int
    name: str
    sha256: str                 # hex SHA-256 of the ciphertext: tamper evidence for the central
    bytes: int
    first_sample: int
    samples: int
    complete: bool = True       # False: cut by a crash (no final age chunk)


@dataclass(frozen=True, slots=True)
class PciPause:
    """Audio written as silence for card details; who paused and resumed, and when."""
    start_s: float
    end_s: float
    paused_by: str
    resumed_by: str = ""
    paused_at: str = ""
    resumed_at: str = ""


@dataclass(frozen=True, slots=True)
class Recording:
    """What became of a call's audio: its segments, voice activity and PCI pauses."""
    status: str                                     # one of RECORDING_STATUSES
    reason: str = ""
    sample_rate: int = 0
    samples: int = 0                                # per channel
    segments: tuple[RecordingSegment, ...] = ()
    caller_speech_ratio: float = 0.0
    caller_speech: tuple[tuple[int, int], ...] = ()   # (start, end) sample ranges, left channel
    agent_speech_ratio: float = 0.0
    agent_speech: tuple[tuple[int, int], ...] = ()    # right channel
    talk_over_s: float = 0.0
    pci_pauses: tuple[PciPause, ...] = ()
    vad_mode: int = 0
    trimmed_s: float = 0.0


@fast_init                 # one per call or PBX leg, built on the ingest's hot path
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
    # agents: a headset answered a line
    headset: str = ""           # the headset that answered
    agent_ring_s: int = 0       # the answering agent's headset ringing -> answer
    mute_intervals: tuple[tuple[float, float], ...] = ()   # seconds from answered_at
    muted_s: float = 0.0
    wrap_up_s: int = 0          # wrap-up the agent was given after the call
    headset_lost: bool = False  # the answering headset was unplugged during the call
    interrupted: bool = False   # the site restarted during the call; ended_at is the last moment known
    recording: Recording | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "CallRecord":
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if "mute_intervals" in values:
            values["mute_intervals"] = tuple((float(a), float(b)) for a, b in values["mute_intervals"])
        if isinstance(values.get("recording"), dict):
            values["recording"] = recording_from_dict(values["recording"])
        return cls(**values)


def recording_from_dict(data: dict) -> Recording:
    """Recording from its to_dict()/JSON form (nested lists back to tuples and dataclasses)."""
    d = dict(data)
    d["segments"] = tuple(RecordingSegment(**seg) for seg in d.get("segments", ()))
    d["pci_pauses"] = tuple(PciPause(**p) for p in d.get("pci_pauses", ()))
    for name in ("caller_speech", "agent_speech"):
        d[name] = tuple((int(a), int(b)) for a, b in d.get(name, ()))
    return Recording(**d)


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(CallRecord))
