"""PBX call records -> PbxLeg: the one place that reads direction, extensions and times out of SMDR."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Callable

from ..events import AvayaSmdrRecord, PanasonicSmdrRecord, PbxLeg
from .panasonic import PanasonicOptions, panasonic_end_time

_NUMBERISH = re.compile(r"^\+?[\d\s\-*#]+$")


def avaya_time(text: str) -> datetime:
    """"YYYY/MM/DD HH:MM:SS" without strptime (a tenth of the cost on the ingest hot path)."""
    t = text.strip()
    if len(t) != 19 or t[4] != "/" or t[7] != "/" or t[10] != " " or t[13] != ":" or t[16] != ":":
        raise ValueError(f"not YYYY/MM/DD HH:MM:SS: {t!r}")
    if t.isascii():
        try:
            return datetime.fromisoformat(t.replace("/", "-"))     # in C; int() below takes any digits
        except ValueError:
            pass
    return datetime(int(t[0:4]), int(t[5:7]), int(t[8:10]), int(t[11:13]), int(t[14:16]), int(t[17:19]))


def avaya_leg(rec: AvayaSmdrRecord) -> PbxLeg:
    """One IP Office record = one leg (what it says: `avaya_reading`). Hold time includes park time."""
    try:
        printed = avaya_time(rec.call_start)
    except ValueError:
        printed = None
    direction, agent, caller_name = avaya_reading(rec)
    # Positional (printed_at, printed_is_end, ring_s, talk_s, hold_s, direction, answered, caller,
    # callee, dialled, caller_name, agent, call_id, final, raw, key_source): built once per record.
    return PbxLeg(printed, False, rec.ring_s, rec.connected_s, rec.hold_s + rec.park_s, direction,
                  rec.connected_s > 0, rec.caller, rec.called_number, rec.dialled_number, caller_name, agent,
                  rec.call_id, not rec.continuation, rec.raw, rec.raw or repr(rec).encode())


def avaya_reading(rec: AvayaSmdrRecord) -> tuple[str, str, str]:
    """(direction, agent, caller name) of an IP Office record.

    Direction: Is Internal => internal, else I => inbound, O => outbound. Answered = Connected > 0.
    Agent: for inbound, the first E<ext> party when answered; for outbound/internal, Party1 when it
    is an E<ext> (the extension that placed the call). Caller name: Party1's for outbound and
    internal legs. Legs share the Call ID; Continuation=0 is the last.
    """
    party1 = rec.party1_device
    if rec.is_internal or rec.direction.strip().upper() != "I":
        return ("internal" if rec.is_internal else "outbound",
                party1[1:] if party1[:1] == "E" else "", rec.party1_name)
    if rec.connected_s <= 0:
        return "inbound", "", ""
    if party1[:1] == "E":
        return "inbound", party1[1:], ""
    party2 = rec.party2_device
    return "inbound", party2[1:] if party2[:1] == "E" else "", ""


def panasonic_leg(rec: PanasonicSmdrRecord, options: PanasonicOptions) -> PbxLeg:
    """One Panasonic SMDR line = one call; the printed time is the call's END.

    Dial Number "<I>cli" or "<D>ddi<I>cli" => inbound (a non-numeric CLI is the caller's name),
    "EXT<n>" => internal, anything else => outbound (dialled digits as printed). Duration > 0 =>
    answered. Agent = the Ext column (inbound: only when answered).
    """
    try:
        printed = panasonic_end_time(rec, options)
    except ValueError:
        printed = None
    ring, duration = rec.ring_s or 0, rec.duration_s or 0
    dial, ext = rec.dial_number.strip(), rec.extension.strip()
    answered = duration > 0
    caller = callee = dialled = caller_name = ""
    if dial.startswith(("<I>", "<D>")):
        direction = "inbound"
        head, _, cli = dial.partition("<I>")
        callee = head[3:] if head.startswith("<D>") else ""
        cli = cli.strip()
        if _NUMBERISH.match(cli):
            caller = cli
        else:
            caller_name = cli
        agent = ext if answered else ""
    else:
        direction = "internal" if dial.upper().startswith("EXT") else "outbound"
        caller, agent = ext, ext
        callee = dial[3:] if direction == "internal" else dial
        dialled = "" if direction == "internal" else dial
    return PbxLeg(
        printed_at=printed, printed_is_end=True, ring_s=ring, talk_s=duration, hold_s=0,
        direction=direction, answered=answered, caller=caller, callee=callee, dialled=dialled,
        caller_name=caller_name, agent=agent, call_id="", final=True, raw=rec.raw,
        key_source=rec.raw or repr(rec).encode())


def leg_reader(options: PanasonicOptions | None = None) -> Callable[[object], PbxLeg | None]:
    """A function turning either PBX's record into its leg (None for anything else)."""
    options = options or PanasonicOptions()

    def read(event) -> PbxLeg | None:
        kind = type(event)
        if kind is AvayaSmdrRecord:
            return avaya_leg(event)
        if kind is PanasonicSmdrRecord:
            return panasonic_leg(event, options)
        if kind is PbxLeg:
            return event
        return None
    return read
