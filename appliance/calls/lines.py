"""Telephone lines (27.007 modules, V.253 modems): line events -> calls -> call records. Pure."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from firmware_bridge.events import (CallConnected, CallEnded, CallerId, CallStatus, CommandResult,
                                    Ring)

from appliance.calls.record import CallRecord
from appliance.calls.source import DeviceInfo, LineState, LiveCall
from appliance.common.time import iso_utc

LINE_EVENTS = (Ring, CallerId, CallStatus, CallConnected, CallEnded, CommandResult)


@dataclass(slots=True)
class _Call:
    direction: str
    state: str
    started: datetime
    last_ring: datetime
    key: str = ""                # the key the call record will have (chosen when the call begins)
    rings: int = 0               # Ring/CallerId events seen: only ring-driven calls time out
    index: int | None = None     # +CLCC call index once known
    answered: datetime | None = None
    held_since: datetime | None = None
    hold_s: float = 0.0
    guessed: bool = False        # begun by a bare CONNECT: inbound unless an ATD result says otherwise
    caller: str = ""
    caller_name: str = ""
    callee: str = ""
    events: dict[str, list] = field(default_factory=dict)   # text -> [first offset s, count]


@dataclass(slots=True)
class _Line:
    info: DeviceInfo
    up: bool = True
    call: _Call | None = None
    dial_seen_by_clcc: bool = False   # an outbound call began from +CLCC; its ATD result is not news
    unmatched_end: str = ""           # BUSY / NO ANSWER with no call, waiting for ATD's result


def _is_clcc_echo(event) -> bool:
    """What the AT codec adds after a +CLCC change; the CallStatus before it carries the index."""
    return (isinstance(event, CallConnected) and event.source == "clcc") or \
        (isinstance(event, CallEnded) and event.reason == "clcc_disconnect")


def _whole(dt: datetime | None) -> datetime | None:
    """Round to the nearest second, so printed times and the durations between them agree."""
    if dt is None:
        return None
    return (dt + timedelta(microseconds=500_000)).replace(microsecond=0)


def _secs(delta: timedelta | float) -> int:
    s = delta.total_seconds() if isinstance(delta, timedelta) else delta
    return max(0, int(s + 0.5))


def _event_text(event) -> str:
    """Ring() / CallerId(number='+44...', validity='withheld'): only fields that differ from defaults."""
    parts = []
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if f.default is dataclasses.MISSING or value != f.default:
            parts.append(f"{f.name}={value!r}")
    return f"{type(event).__name__}({', '.join(parts)})"



class LineCalls:
    """Turns typed events from lines and PBXs into CallRecords.

    Line rules (gsm / voice-modem, one call per line; +CLCC for another index is ignored):
      * Ring, CallerId or +CLCC incoming/waiting starts an inbound call (started_at = first one);
        +CLCC dialing/alerting starts an outbound one.
      * CallConnected or +CLCC active answers it; +CLCC held .. active counts as hold time.
      * CallEnded or +CLCC disconnected finishes it. Unanswered inbound => "abandoned" (NO CARRIER,
        MISSED_CALL, +CLCC disconnect, or rings that stop for ring_timeout_s, found by tick(),
        which ends the call at the last ring seen). BUSY => "busy", NO ANSWER => "no_answer";
        an outbound call that reached alerting and ended unanswered => "no_answer", one that
        never got that far => "failed". A line that goes away mid-call => "failed".
      * Withheld or unavailable caller ID: caller "" and caller_name "withheld" / "unavailable".
      * MISSED_CALL with no call in progress records an abandoned call of zero length.
      * talk_s = VOICE CALL: END duration when given, else answer..end minus hold.
      * ATD's CommandResult names the dialled number; without +CLCC reports it also begins the
        outbound call (OK), turns a CONNECT just before it into that call, or records a dial that
        failed outright (BUSY => "busy", NO ANSWER => "no_answer", ERROR / NO DIALTONE => "failed").
    """

    def __init__(self, site_id: str, new_id: Callable[[], str], ring_timeout_s: float):
        self.site_id = site_id
        self.new_id = new_id
        self.ring_timeout_s = ring_timeout_s
        self._lines: dict[str, _Line] = {}

    def register(self, source: DeviceInfo) -> None:
        self._line(source)

    def handle(self, source: DeviceInfo, event, now: datetime) -> list[CallRecord]:
        line = self._line(source)
        return self._superseded(line, event) + self._line_event(line, event, now)

    def tick(self, now: datetime) -> list[CallRecord]:
        """Rings that stopped: the caller gave up ring_timeout_s (the line's own, if set) ago."""
        out = []
        for line in self._lines.values():
            call = line.call
            timeout = line.info.ring_timeout_s or self.ring_timeout_s
            if (call is not None and call.state == "ringing" and call.rings
                    and (now - call.last_ring).total_seconds() >= timeout):
                out.append(self._finish(line, call.last_ring, reason="rings_stopped"))
        return out

    def device_down(self, name: str, now: datetime) -> list[CallRecord]:
        """The device disappeared: its call in progress (if any) ends as "failed"."""
        line = self._lines.get(name)
        if line is None:
            return []
        line.up = False
        if line.call is None:
            return []
        return [self._finish(line, now, reason="device_down")]

    def lines(self) -> list[LineState]:
        return [LineState(name, line.info.queue, line.up, self._live(line)) for name, line in self._lines.items()]

    def live_calls(self) -> list[LiveCall]:
        return [c for c in (self._live(line) for line in self._lines.values()) if c is not None]

    def in_progress(self) -> int:
        return sum(1 for line in self._lines.values() if line.call is not None)

    # ---- lines --------------------------------------------------------------------------

    def _line(self, info: DeviceInfo) -> _Line:
        line = self._lines.get(info.name)
        if line is None:
            line = self._lines[info.name] = _Line(info)
        line.info = info
        line.up = True
        return line

    @staticmethod
    def _live(line: _Line) -> LiveCall | None:
        c = line.call
        if c is None:
            return None
        return LiveCall(line.info.name, line.info.queue, c.direction, c.state, c.started, c.answered,
                        c.key, c.caller)

    def _begin(self, line: _Line, direction: str, state: str, now: datetime) -> _Call:
        line.dial_seen_by_clcc = False
        line.call = _Call(direction=direction, state=state, started=now, last_ring=now,
                          key=f"{self.site_id}/{line.info.name}/{self.new_id()}")
        return line.call

    @staticmethod
    def _note(call: _Call, event, now: datetime) -> None:
        text = _event_text(event)
        seen = call.events.get(text)
        if seen is None:
            call.events[text] = [(now - call.started).total_seconds(), 1]
        else:
            seen[1] += 1

    def _superseded(self, line: _Line, event) -> list[CallRecord]:
        """A different caller ID while still ringing: the first caller gave up (rings stopped) and
        a new call arrived before ring_timeout_s could tell. End the first one as abandoned."""
        call = line.call
        if call is None or call.state != "ringing" or call.direction != "inbound" or call.answered:
            return []
        if not (call.caller or call.caller_name):
            return []
        if isinstance(event, CallerId):
            new = event.number if event.validity == "valid" else ""
            changed = (new, "" if new else event.validity) != (call.caller, call.caller_name if not call.caller else "")
        elif isinstance(event, CallStatus) and event.state in ("incoming", "waiting") and event.number:
            changed = bool(call.caller) and event.number != call.caller
        else:
            return []
        if not changed:
            return []
        return [self._finish(line, call.last_ring or call.started, reason="rings_stopped")]

    def _line_event(self, line: _Line, event, now: datetime) -> list[CallRecord]:
        call = line.call
        unmatched_end, line.unmatched_end = line.unmatched_end, ""
        if isinstance(event, CommandResult):
            return self._command_result(line, event, unmatched_end, now)
        if isinstance(event, CallStatus):
            return self._status(line, event, now)
        if call is not None and call.index is not None and _is_clcc_echo(event):
            return []   # the codec's echo of a +CLCC change: the CallStatus (with its index) decides
        if isinstance(event, CallEnded):
            if call is None:
                if event.reason != "missed_call":
                    # NO CARRIER answering ATA with nothing ringing, or BUSY / NO ANSWER of a dial
                    # whose CommandResult follows and will name the number.
                    line.unmatched_end = event.reason
                    return []
                call = self._begin(line, "inbound", "ringing", now)
            if event.number and call.direction == "inbound" and not call.caller:
                call.caller = event.number
            self._note(call, event, now)
            return [self._finish(line, now, reason=event.reason, duration_s=event.duration_s)]
        if call is None:
            call = self._begin(line, "inbound", "ringing", now)
            call.guessed = isinstance(event, CallConnected)   # CONNECT out of nowhere: maybe our ATD
        self._note(call, event, now)
        if isinstance(event, (Ring, CallerId)):
            if call.state == "ringing":
                call.last_ring = now
                call.rings += 1
            if isinstance(event, CallerId) and call.direction == "inbound":
                if event.validity == "valid":
                    call.caller, call.caller_name = event.number, event.name
                else:
                    call.caller, call.caller_name = "", event.validity
        elif isinstance(event, CallConnected):
            self._answer(call, now)
        return []

    def _command_result(self, line: _Line, result: CommandResult, unmatched_end: str,
                        now: datetime) -> list[CallRecord]:
        """ATD's final result: the only place a line without +CLCC reports names the dialled number."""
        command = result.command.strip()
        if not command.upper().startswith("ATD"):
            return []
        number = command[3:].strip().rstrip(";").strip()
        call = line.call
        if line.dial_seen_by_clcc:
            line.dial_seen_by_clcc = False   # +CLCC already began (and maybe ended) this dial
            if call is not None and call.direction == "outbound" and not call.callee:
                call.callee = number
            return []
        if call is not None:
            if call.guessed:                  # the CONNECT before this result was our dial answering
                call.direction, call.guessed = "outbound", False
            if call.direction == "outbound" and not call.callee:
                call.callee = number
            return []
        call = self._begin(line, "outbound", "dialing", now)
        call.callee = number
        self._note(call, result, now)
        if result.ok:
            return []
        reason = unmatched_end if unmatched_end in ("busy", "no_answer") else "dial_failed"
        return [self._finish(line, now, reason=reason)]

    def _status(self, line: _Line, st: CallStatus, now: datetime) -> list[CallRecord]:
        call = line.call
        if call is not None and call.index is not None and st.index != call.index:
            return []   # a second call on the line (call waiting): not tracked
        if st.state == "disconnected":
            if call is None:
                return []
            self._note(call, st, now)
            return [self._finish(line, now, reason="clcc_disconnect")]
        if call is None:
            direction = "outbound" if st.direction == "outbound" else "inbound"
            call = self._begin(line, direction, "ringing" if direction == "inbound" else "dialing", now)
            line.dial_seen_by_clcc = direction == "outbound"
        self._note(call, st, now)
        call.index = st.index
        if st.number:
            if call.direction == "outbound":
                call.callee = st.number
            elif not call.caller and not call.caller_name:
                call.caller = st.number
        if st.state in ("dialing", "alerting"):
            if call.direction == "outbound" and call.answered is None:
                call.state = st.state
        elif st.state in ("incoming", "waiting"):
            pass    # the call was begun as ringing above; nothing else changes

        elif st.state == "active":
            self._answer(call, now)
        elif st.state == "held" and call.held_since is None:
            self._answer(call, now)
            call.state, call.held_since = "held", now
        return []

    @staticmethod
    def _answer(call: _Call, now: datetime) -> None:
        if call.answered is None:
            call.answered = now
        if call.held_since is not None:
            call.hold_s += (now - call.held_since).total_seconds()
            call.held_since = None
        call.state = "active"

    def _finish(self, line: _Line, end: datetime, *, reason: str, duration_s: int | None = None) -> CallRecord:
        call, info = line.call, line.info
        line.call = None
        if call.held_since is not None:
            call.hold_s += max(0.0, (end - call.held_since).total_seconds())
        call.started, call.answered, end = _whole(call.started), _whole(call.answered), _whole(end)
        answered = call.answered is not None
        if reason == "device_down":
            disposition = "failed"
        elif answered:
            disposition = "answered"
        elif reason in ("busy", "no_answer"):
            disposition = reason
        elif call.direction == "inbound":
            disposition = "abandoned"
        else:
            disposition = "no_answer" if call.state == "alerting" else "failed"
        ring_s = _secs((call.answered or end) - call.started)
        if not answered:
            talk_s = 0
        elif duration_s is not None:
            talk_s = duration_s
        else:
            talk_s = _secs((end - call.answered).total_seconds() - call.hold_s)
        inbound = call.direction == "inbound"
        raw = "; ".join(f"+{off:.1f}s {text}" + (f" x{n}" if n > 1 else "")
                        for text, (off, n) in call.events.items())
        if reason in ("rings_stopped", "device_down"):
            raw += f"; {reason}"
        return CallRecord(
            key=call.key, site_id=self.site_id, source=info.name,
            source_kind=info.kind, direction=call.direction,
            caller=call.caller if inbound else info.line_number,
            callee=info.line_number if inbound else call.callee,
            dialled_number="" if inbound else call.callee, queue=info.queue,
            agent=(info.agent or info.name) if answered else "",
            started_at=iso_utc(call.started), answered_at=iso_utc(call.answered), ended_at=iso_utc(end),
            ring_s=ring_s, talk_s=talk_s, hold_s=_secs(call.hold_s), disposition=disposition,
            caller_name=call.caller_name, raw=raw)
