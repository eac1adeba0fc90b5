"""Typed events the codecs produce. Frozen and free of I/O: the daemon consumes them.

Codecs do not stamp time or device name; the daemon wraps each event with both.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .frozen import fast_init


@dataclass(frozen=True, slots=True)
class ProtocolError:
    """Bytes that did not parse. `raw` is kept whole so the record can be inspected and replayed."""
    reason: str
    raw: bytes


# ---- telephony lines (27.007 modules, V.253 voice modems) -------------------------------

@dataclass(frozen=True, slots=True)
class Ring:
    """RING or +CRING: <type>. One per ring cycle."""
    ring_type: str = "VOICE"


@dataclass(frozen=True, slots=True)
class CallerId:
    """+CLIP (27.007) or DATE/TIME/NMBR/NAME block (V.253).

    validity: "valid" | "withheld" | "unavailable".
    """
    number: str
    name: str = ""
    validity: str = "valid"
    date: str = ""       # V.253 MMDD, when the modem sent it
    time: str = ""       # V.253 HHMM
    extra: tuple[tuple[str, str], ...] = ()   # V.253 tags kept as sent: MESG, DDN_NMBR, unknown ones


@dataclass(frozen=True, slots=True)
class CallStatus:
    """One +CLCC line (solicited or unsolicited).

    direction: "outbound" | "inbound"; state: "active" | "held" | "dialing" | "alerting" |
    "incoming" | "waiting" | "disconnected".
    """
    index: int
    direction: str
    state: str
    mode: str = "voice"
    number: str = ""


@dataclass(frozen=True, slots=True)
class CallConnected:
    """The voice call is up (VOICE CALL: BEGIN, CONNECT, or +CLCC active)."""
    source: str = "voice_call_begin"


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The line went idle.

    reason: "no_carrier" | "busy" | "no_answer" | "voice_call_end" | "missed_call" | "clcc_disconnect".
    """
    reason: str
    duration_s: int | None = None   # from VOICE CALL: END: HHMMSS where given
    number: str = ""                 # MISSED_CALL: carries the caller


@dataclass(frozen=True, slots=True)
class CommandResult:
    """The final result of a command the host sent (OK / ERROR / +CME ERROR)."""
    command: str
    ok: bool
    lines: tuple[str, ...] = ()      # information lines that belong to the command
    error: str = ""


# ---- PBX call records (SMDR) ------------------------------------------------------------

@fast_init                 # made once per record: see frozen.py
@dataclass(frozen=True, slots=True)
class AvayaSmdrRecord:
    """One Avaya IP Office SMDR CSV record (one call leg). Times as printed (PBX local time)."""
    call_start: str          # "YYYY/MM/DD HH:MM:SS"
    connected_s: int
    ring_s: int
    caller: str
    direction: str           # "I" | "O"
    called_number: str
    dialled_number: str
    account: str
    is_internal: bool
    call_id: str
    continuation: bool
    party1_device: str
    party1_name: str
    party2_device: str
    party2_name: str
    hold_s: int
    park_s: int
    extra: tuple[str, ...] = ()      # fields 18.. as sent (auth, AoC, targeting, R11 extras)
    raw: bytes = b""


@dataclass(frozen=True, slots=True)
class PanasonicSmdrRecord:
    """One Panasonic KX-TDA/TDE/NS SMDR printer line. Date/time are the call's END as printed."""
    date: str                # as printed, e.g. "01/02/02"
    time: str                # as printed, e.g. "10:03AM" or "22:03"
    extension: str
    co: str                  # trunk number, "" for intercom
    dial_number: str         # "<I>..." incoming, "EXT1234" intercom, digits outgoing
    ring_s: int | None
    duration_s: int | None
    account_code: str = ""
    cost: str = ""
    condition: str = ""      # CD column (TR, FW, ...)
    raw: bytes = b""


@fast_init
@dataclass(frozen=True, slots=True)
class PbxLeg:
    """One call leg from a PBX call record, parsed into what a call tracker needs (any PBX).

    Times are the PBX's local wall clock (naive). `printed_at` is the record's own time: the leg's
    start (Avaya) or its end (Panasonic, `printed_is_end`); None when the record's time could not
    be read. `key_source` is what identifies the record (its raw bytes): the same record re-sent by
    the PBX gives the same key.
    """
    printed_at: datetime | None
    printed_is_end: bool
    ring_s: int
    talk_s: int
    hold_s: int                      # hold + park
    direction: str                   # "inbound" | "outbound" | "internal"
    answered: bool
    caller: str
    callee: str
    dialled: str
    caller_name: str
    agent: str                       # the extension that handled the leg, "" if none
    call_id: str                     # PBX call id shared by the legs of one call, "" if none
    final: bool                      # no more legs of this call follow
    raw: bytes
    key_source: bytes


Event = (ProtocolError | Ring | CallerId | CallStatus | CallConnected | CallEnded | CommandResult
         | AvayaSmdrRecord | PanasonicSmdrRecord | PbxLeg)


# ---- headsets (USB HID telephony page over hidraw) ------------------------------------------
# Each is a request from the agent at the headset; the host owns call state and answers with LEDs.

@dataclass(frozen=True, slots=True)
class HookSwitch:
    """The user asks for this hook state (toggle controls already resolved against host state)."""
    off_hook: bool


@dataclass(frozen=True, slots=True)
class PhoneMute:
    """The user asks for this microphone mute state (a toggle press means "not the host's mute")."""
    muted: bool


@dataclass(frozen=True, slots=True)
class HeadsetButton:
    """A momentary call button was pressed: "flash" | "redial" | "programmable"."""
    button: str


Event = Event | HookSwitch | PhoneMute | HeadsetButton


# ---- wallboards (Alpha signs: firmware_bridge.wallboard) ---------------------------------

@dataclass(frozen=True, slots=True)
class SignAck:
    """ACK (ok) or NAK from an Alpha 2.0+ sign, with its status byte (None: the sign sent none).

    reasons name the status bits set besides 0x40: "illegal command or label", "checksum error",
    "buffer overflow", "serial timeout", "framing error", "parity error".
    """
    ok: bool
    status: int | None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SignFile:
    """One entry of a sign's memory table. kind: "text" | "string" | "dots"."""
    label: str
    kind: str
    locked: bool
    size: int
    times: str               # TEXT start/stop time codes, "0000" for STRING, colour depth for DOTS


@dataclass(frozen=True, slots=True)
class SignMemoryTable:
    """The sign's answer to F$ (read memory configuration)."""
    entries: tuple[SignFile, ...]


@dataclass(frozen=True, slots=True)
class SignString:
    """The sign's answer to H<label> (read STRING file)."""
    label: str
    data: bytes


Event = Event | SignAck | SignMemoryTable | SignString
