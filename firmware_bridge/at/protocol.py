"""AT line codec (V.250 / 27.007 / V.253): modem bytes in, typed events out; sans-IO, no clock."""
from __future__ import annotations

import re

from ..events import (CallConnected, CallEnded, CallerId, CallStatus, CommandResult, Event,
                      ProtocolError, Ring)
from ..framing import LineFramer
from .vcid import KNOWN_TAGS, TAG_LINE, CallerIdBlock

MAX_LINE = 1024
KINDS = ("gsm", "voice-modem")


# ATV0 numeric result codes (USR, Multitech, Si2404 tables); voice modems only.
NUMERIC_RESULTS = {
    "0": "OK", "1": "CONNECT", "2": "RING", "3": "NO CARRIER", "4": "ERROR",
    "5": "CONNECT 1200", "6": "NO DIALTONE", "7": "BUSY", "8": "NO ANSWER",
}

_CLCC_DIRECTION = {0: "outbound", 1: "inbound"}
_CLCC_STATE = {0: "active", 1: "held", 2: "dialing", 3: "alerting", 4: "incoming", 5: "waiting",
               6: "disconnected"}
_CLCC_MODE = {0: "voice", 1: "data", 2: "fax", 9: "unknown"}
_CLIP_VALIDITY = {"0": "valid", "1": "withheld", "2": "unavailable", "3": "unavailable"}
TYPE_RESTRICTED = 128

# Call-ending result codes and the CallEnded reason each stands for.
_CALL_ENDINGS = {"NO CARRIER": "no_carrier", "BUSY": "busy", "NO ANSWER": "no_answer"}
_DIAL_ONLY_RESULTS = ("NO DIALTONE", "NO DIAL TONE")

# Unsolicited lines a module prints that carry nothing for call handling: counted, not errors.
_BENIGN_PREFIXES = ("+CREG", "+CGREG", "+CEREG", "+CPIN", "+CFUN", "+CTZV", "+CTZE", "+QIND",
                    "*PSUTTZ", "DST")
_BENIGN_LINES = frozenset({"RDY", "SMS DONE", "PB DONE", "CALL READY", "SMS READY"})

_PREFIXED = re.compile(r"^([+^#$*][A-Z0-9]+):\s?(.*)$", re.IGNORECASE)
_VOICE_CALL_BEGIN = re.compile(r"^VOICE CALL:\s*BEGIN$", re.IGNORECASE)
_VOICE_CALL_END = re.compile(r"^VOICE CALL:\s*END(?::\s*(\d+))?$", re.IGNORECASE)
_MISSED_CALL = re.compile(r"^MISSED_CALL:\s*(.*)$", re.IGNORECASE)
_TIME_TOKEN = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?([AP]M)?$", re.IGNORECASE)
_CONNECT = re.compile(r"^CONNECT(\s.*)?$", re.IGNORECASE)
_EXTENDED_NAME = re.compile(r"([+^#$*][A-Z0-9]+)(=\?|\?|=|;|$)", re.IGNORECASE)


def encode_command(cmd: str) -> bytes:
    """One command line: the text and S3 (CR). Rejects embedded terminators and non-ASCII."""
    if "\r" in cmd or "\n" in cmd:
        raise ValueError("AT command must not contain CR or LF")
    try:
        return cmd.encode("ascii") + b"\r"
    except UnicodeEncodeError as exc:
        raise ValueError(f"AT command must be ASCII: {exc}") from exc


def split_fields(text: str) -> list[str] | None:
    """Comma-separated fields, commas inside double quotes kept; quotes removed; None if unbalanced.

    Missing fields come back as "" (`"",128,,,,1` -> ["", "128", "", "", "", "1"]).
    """
    fields: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            fields.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if quoted:
        return None
    fields.append("".join(current).strip())
    return fields


def duration_seconds(digits: str) -> int:
    """VOICE CALL: END argument: HHMMSS when six digits, plain seconds otherwise."""
    if len(digits) == 6:
        return int(digits[0:2]) * 3600 + int(digits[2:4]) * 60 + int(digits[4:6])
    return int(digits)


def _solicited_prefixes(command: str) -> frozenset[str]:
    """Response prefixes a command asks for: `AT+CSQ` -> +CSQ, `AT+CREG?` -> +CREG.

    Set commands (`AT+CLIP=1`) ask for none, so a +CLIP URC arriving meanwhile stays a URC.
    """
    names = set()
    for match in _EXTENDED_NAME.finditer(command.upper()):
        if match.group(2) != "=":
            names.add(match.group(1))
    return frozenset(names)


def _is_call_command(command: str) -> bool:
    """ATA / ATD / ATO: the commands whose final result can be CONNECT, NO CARRIER, BUSY ..."""
    upper = command.upper().replace(" ", "")
    return upper.startswith(("ATA", "ATD", "ATO"))


class AtCodec:
    """Turns what a modem prints into events; tracks the one command the host has in flight.

    Call `command_sent(cmd)` when a command goes out: its echo is then dropped, information lines
    are collected for it, and its final result comes out as one CommandResult. URCs (RING,
    +CLIP, +CLCC, VOICE CALL: ..., NO CARRIER ...) are routed by prefix, so a URC arriving
    between a command and its result is an event of its own. Never raises on input: anything it
    does not understand becomes ProtocolError(reason, raw). Reasons never quote the payload, so
    they are safe to log; the raw bytes stay in the event.
    """

    def __init__(self, kind: str = "gsm", *, max_line: int = MAX_LINE):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        self.kind = kind
        self._framer = LineFramer(blank_lines=True, max_line=max_line)
        self._pending: str | None = None
        self._solicited: frozenset[str] = frozenset()
        self._info: list[str] = []
        self._clcc_seen: dict[int, str] = {}
        self._clcc_listed: set[int] = set()
        self._cid = CallerIdBlock()
        self._stats = {"bytes": 0, "lines": 0, "events": 0, "protocol_errors": 0, "overlong": 0,
                      "echoes": 0, "ignored": 0, "results": 0, "urcs": 0}

    @property
    def stats(self) -> dict[str, int]:
        """Counters: bytes, lines, events, protocol_errors, overlong, echoes, ignored, results,
        urcs, and the caller-ID block counters prefixed `cid_`."""
        merged = dict(self._stats)
        merged.update({f"cid_{key}": value for key, value in self._cid.stats.items()})
        return merged

    @property
    def pending(self) -> str | None:
        """The command awaiting its final result, if any."""
        return self._pending

    def command_sent(self, cmd: str) -> None:
        """The host wrote `cmd`: expect its echo, info lines and final result."""
        self._pending = cmd.strip()
        self._solicited = _solicited_prefixes(self._pending)
        self._info = []
        self._clcc_listed = set()

    def cancel_pending(self) -> None:
        """The host gave up on the pending command (timeout); later lines are not its."""
        self._pending = None
        self._solicited = frozenset()
        self._info = []

    def feed(self, data: bytes) -> list[Event]:
        self._stats["bytes"] += len(data)
        events: list[Event] = []
        for raw, problem in self._framer.feed(bytes(data)):
            if problem:
                self._stats["overlong"] += 1
                events.append(ProtocolError(f"line longer than {self._framer.max_line} bytes", raw))
            elif not raw:
                if self.kind == "voice-modem":
                    events.extend(self._cid.blank())
            else:
                events.extend(self._line(raw))
        for event in events:
            if isinstance(event, ProtocolError):
                self._stats["protocol_errors"] += 1
        self._stats["events"] += len(events)
        return events

    # ---- one line ------------------------------------------------------------------------

    def _line(self, raw: bytes) -> list[Event]:
        self._stats["lines"] += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return [ProtocolError("line is not text", raw)]
        if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in text):
            return [ProtocolError("control characters in line", raw)]
        line = text.strip()
        if not line:
            return self._cid.blank() if self.kind == "voice-modem" else []

        if self._pending is not None and _same_command(line, self._pending):
            self._stats["echoes"] += 1
            return []

        events: list[Event] = []
        if self.kind == "voice-modem":
            tag = TAG_LINE.match(line)
            if tag and (tag.group(1) in KNOWN_TAGS or self._pending is None):
                return list(self._cid.tag(tag.group(1), tag.group(2)))
            events.extend(self._cid.interrupt())
            line = NUMERIC_RESULTS.get(line, line)
        events.extend(self._classify(line, raw))
        return events

    def _classify(self, line: str, raw: bytes) -> list[Event]:
        upper = line.upper()
        if upper == "OK":
            return self._final(True, "", raw)
        if upper == "ERROR" or upper.startswith(("+CME ERROR:", "+CMS ERROR:")):
            return self._final(False, line, raw)
        if upper in _CALL_ENDINGS:
            ended: list[Event] = [CallEnded(_CALL_ENDINGS[upper])]
            if self._pending is not None and _is_call_command(self._pending):
                ended.extend(self._final(False, upper, raw))
            self._stats["urcs"] += 1
            return ended
        if upper in _DIAL_ONLY_RESULTS:
            if self._pending is not None and _is_call_command(self._pending):
                return self._final(False, "NO DIALTONE", raw)
            return [ProtocolError("dial result with no dial pending", raw)]
        if _CONNECT.match(line):
            connected: list[Event] = [CallConnected("connect")]
            if self._pending is not None and _is_call_command(self._pending):
                connected.extend(self._final(True, "", raw))
            self._stats["urcs"] += 1
            return connected
        if upper == "RING":
            self._stats["urcs"] += 1
            return [Ring()]
        if _VOICE_CALL_BEGIN.match(line):
            self._stats["urcs"] += 1
            return [CallConnected("voice_call_begin")]
        end = _VOICE_CALL_END.match(line)
        if end:
            self._stats["urcs"] += 1
            seconds = duration_seconds(end.group(1)) if end.group(1) else None
            return [CallEnded("voice_call_end", duration_s=seconds)]
        missed = _MISSED_CALL.match(line)
        if missed:
            self._stats["urcs"] += 1
            return [CallEnded("missed_call", number=_missed_call_number(missed.group(1)))]

        prefixed = _PREFIXED.match(line)
        if prefixed:
            return self._prefixed(prefixed.group(1).upper(), prefixed.group(2), line, raw)
        if upper in _BENIGN_LINES:
            self._stats["ignored"] += 1
            return []
        if self._pending is not None:
            self._info.append(line)
            return []
        return [ProtocolError("unrecognised line with no command pending", raw)]

    def _prefixed(self, name: str, rest: str, line: str, raw: bytes) -> list[Event]:
        solicited = name in self._solicited
        if name == "+CRING":
            self._stats["urcs"] += 1
            return [Ring(rest.strip() or "VOICE")]
        if name == "+CLIP":
            event = _parse_clip(rest, raw)
            if solicited and not isinstance(event, CallerId):
                self._info.append(line)          # AT+CLIP? -> "+CLIP: 1,1"
                return []
            self._stats["urcs"] += 1
            return [event]
        if name == "+CLCC":
            if solicited:
                self._info.append(line)
            return self._clcc(rest, raw, solicited)
        if solicited:
            self._info.append(line)
            return []
        if name in _BENIGN_PREFIXES:
            self._stats["ignored"] += 1
            return []
        if self._pending is not None:
            self._info.append(line)              # e.g. "+GCAP: +CGSM" inside an ATI answer
            return []
        return [ProtocolError(f"unhandled unsolicited {name}", raw)]

    def _final(self, ok: bool, error: str, raw: bytes) -> list[Event]:
        if self._pending is None:
            return [ProtocolError("final result with no command pending", raw)]
        result = CommandResult(command=self._pending, ok=ok, lines=tuple(self._info), error=error)
        if ok and "+CLCC" in self._solicited:
            # A solicited +CLCC list is complete: calls not in it are gone.
            for index in list(self._clcc_seen):
                if index not in self._clcc_listed:
                    del self._clcc_seen[index]
        self._stats["results"] += 1
        self.cancel_pending()
        return [result]

    def _clcc(self, rest: str, raw: bytes, solicited: bool) -> list[Event]:
        fields = split_fields(rest)
        try:
            if fields is None or len(fields) < 5:
                raise ValueError
            index, direction, state, mode = (int(fields[0]), int(fields[1]), int(fields[2]),
                                             int(fields[3]))
            int(fields[4])                      # mpty: validated, not carried
            status = CallStatus(index=index, direction=_CLCC_DIRECTION[direction],
                                state=_CLCC_STATE[state], mode=_CLCC_MODE.get(mode, "unknown"),
                                number=fields[5] if len(fields) > 5 else "")
        except (ValueError, KeyError):
            return [ProtocolError("malformed +CLCC", raw)]
        self._stats["urcs"] += 1
        if solicited:
            self._clcc_listed.add(index)
        events: list[Event] = [status]
        previous = self._clcc_seen.get(index)
        self._clcc_seen[index] = status.state
        if status.state != previous:
            if status.state == "active":
                events.append(CallConnected("clcc"))
            elif status.state == "disconnected":
                events.append(CallEnded("clcc_disconnect", number=status.number))
        return events


def _same_command(line: str, command: str) -> bool:
    return line.replace(" ", "").upper() == command.replace(" ", "").upper()


def _missed_call_number(rest: str) -> str:
    """`14:23 +15551234567` or `06:16AM 15021012496` -> the number; "" if none is given."""
    tokens = rest.split()
    if tokens and _TIME_TOKEN.match(tokens[0]):
        tokens = tokens[1:]
    return tokens[-1] if tokens else ""


def _parse_clip(rest: str, raw: bytes) -> CallerId | ProtocolError:
    """+CLIP: <number>,<type>[,<subaddr>,<satype>,<alpha>[,<CLI validity>]]; any may be missing."""
    fields = split_fields(rest)
    if fields is None:
        return ProtocolError("unbalanced quotes in +CLIP", raw)
    if len(fields) < 2 or not fields[1].isdigit():
        return ProtocolError("malformed +CLIP", raw)
    number, address_type = fields[0], int(fields[1])
    if address_type < TYPE_RESTRICTED:        # type-of-address always has bit 8 set
        return ProtocolError("malformed +CLIP", raw)
    name = fields[4] if len(fields) > 4 else ""
    validity = _CLIP_VALIDITY.get(fields[5], "") if len(fields) > 5 else ""
    if not number and validity in ("", "valid"):
        validity = "withheld" if address_type == TYPE_RESTRICTED else "unavailable"
    return CallerId(number=number, name=name, validity=validity or "valid")
