"""Avaya IP Office SMDR: a sans-IO codec for the CSV call records IP Office sends over TCP."""
from __future__ import annotations

import re
from datetime import datetime

from ..events import AvayaSmdrRecord, Event, ProtocolError
from . import LineCodec

MIN_FIELDS = 17          # Call Start .. Park Time; releases add up to 35 and we keep the rest
MAX_FIELDS = 35          # IP Office R11 (SMDR Record Time is field 35): more is not an SMDR record
MAX_LINE = 4096          # longest line accepted before it is treated as garbage

_CALL_START = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})")
_HMS = re.compile(r"(\d{2,}):([0-5]\d):([0-5]\d)")
_F = r"([^,\x00]*)"          # a text field: anything but a comma or NUL
# A well-formed record in one C call (ASCII digits only; anything else takes the thorough path,
# which accepts it or names the problem): Call Start (its date checked once per day seen, below),
# Connected Time, Ring Time, Caller, Direction, Called, Dialled, Account, Is Internal, Call ID,
# Continuation, Party1/2 Device and Name, Hold Time, Park Time, then up to MAX_FIELDS - 17 more.
_WELL_FORMED = re.compile(
    r"([0-9]{4}/[0-9]{2}/[0-9]{2}) ((?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]),"
    r"([0-9]{2,}):([0-5][0-9]):([0-5][0-9]),([0-9]+),"
    + f"{_F},([IO]),{_F},{_F},{_F},([01]),([0-9]+),([01]),{_F},{_F},{_F},{_F},"
    + r"([0-9]+),([0-9]+)((?:,[^,\x00]*){0,%d})" % (MAX_FIELDS - MIN_FIELDS)).fullmatch
_DAYS: dict[str, bool] = {}     # "YYYY/MM/DD" -> a real date? (bounded: cleared when full)


class AvayaCodec(LineCodec):
    """Bytes from one IP Office SMDR connection -> AvayaSmdrRecord / ProtocolError events.

    Keeps a partial line across feed() calls; use one codec per TCP connection and call flush()
    when the connection closes, so a cut-off record is reported instead of glued to the next one.
    """

    def __init__(self, *, max_line: int = MAX_LINE):
        super().__init__(max_line=max_line)

    def _events(self, lines: list[tuple[bytes, str]]) -> list[Event]:
        out: list[Event] = []
        append, errors = out.append, 0
        for line, problem in lines:
            if problem:
                event: Event = ProtocolError(problem, line)
            elif line.isspace():
                continue
            else:
                event = parse_line(line)
            if type(event) is ProtocolError:
                errors += 1
            append(event)
        self.stats["errors"] += errors
        self.stats["records"] += len(out) - errors
        return out


def parse_line(line: bytes) -> AvayaSmdrRecord | ProtocolError:
    """One record line (no CR LF, no leading NULs) -> a record, or a ProtocolError naming the field.

    Reasons name the field, never its value: they end up in logs, values may be phone numbers.
    Text is UTF-8; a line that is not valid UTF-8 is read as Latin-1 so no byte is lost [U].
    A NUL inside the line (IP Office sends NULs only before a record) or more than MAX_FIELDS
    fields means two records ran together or the line is noise: rejected, never stored as a call.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        text = line.decode("latin-1")
    m = _WELL_FORMED(text)
    if m is not None and _real_day(m[1]):
        g = m.groups()
        # Positional (call_start, connected_s, ring_s, caller, direction, called_number, dialled_number,
        # account, is_internal, call_id, continuation, party1 device/name, party2 device/name, hold_s,
        # park_s, extra, raw): keywords cost a third of the call, once per record.
        return AvayaSmdrRecord(text[:19], int(g[2]) * 3600 + int(g[3]) * 60 + int(g[4]), int(g[5]), g[6], g[7],
                               g[8], g[9], g[10], g[11] == "1", g[12], g[13] == "1", g[14], g[15], g[16], g[17],
                               int(g[18]), int(g[19]), tuple(g[20][1:].split(",")) if g[20] else (), line)
    return _parse_thoroughly(line, text)


def _real_day(day: str) -> bool:
    """Is "YYYY/MM/DD" (ASCII digits) a real date? Remembered: a feed has few distinct days."""
    real = _DAYS.get(day)
    if real is None:
        if len(_DAYS) >= 4096:
            _DAYS.clear()
        try:
            datetime(int(day[:4]), int(day[5:7]), int(day[8:]))
            real = True
        except ValueError:
            real = False
        _DAYS[day] = real
    return real


def _parse_thoroughly(line: bytes, text: str) -> AvayaSmdrRecord | ProtocolError:
    """parse_line for whatever the one-regex path did not take: accepted as before, or the problem named."""
    f = text.split(",")
    for index, value in enumerate(f):
        if "\x00" in value:
            return ProtocolError(f"NUL byte inside field {index + 1} (IP Office sends NULs only "
                                 f"before a record)", line)
    if len(f) < MIN_FIELDS:
        return ProtocolError(f"only {len(f)} comma-separated fields (IP Office sends at least "
                             f"{MIN_FIELDS})", line)
    if len(f) > MAX_FIELDS:
        return ProtocolError(f"{len(f)} comma-separated fields (IP Office sends at most "
                             f"{MAX_FIELDS})", line)
    if not is_call_start(f[0]):
        m = _CALL_START.fullmatch(f[0])
        if m is None:
            return ProtocolError("field 1 (Call Start) is not YYYY/MM/DD HH:MM:SS", line)
        try:
            datetime(*map(int, m.groups()))
        except ValueError:
            return ProtocolError("field 1 (Call Start) is not a valid date and time", line)
    m = _HMS.fullmatch(f[1])
    if m is None:
        return ProtocolError("field 2 (Connected Time) is not HH:MM:SS", line)
    hours, minutes, seconds = m.groups()
    connected = int(hours) * 3600 + int(minutes) * 60 + int(seconds)
    for index, name in ((2, "Ring Time"), (15, "Hold Time"), (16, "Park Time")):
        value = f[index]
        if not (value.isdigit() and value.isascii()):
            return ProtocolError(f"field {index + 1} ({name}) is not a whole number of seconds", line)
    if not (f[9].isdigit() and f[9].isascii()):
        return ProtocolError("field 10 (Call ID) is not numeric", line)
    if f[4] not in ("I", "O"):
        return ProtocolError("field 5 (Direction) is not I or O", line)
    if f[8] not in ("0", "1"):
        return ProtocolError("field 9 (Is Internal) is not 0 or 1", line)
    if f[10] not in ("0", "1"):
        return ProtocolError("field 11 (Continuation) is not 0 or 1", line)
    return AvayaSmdrRecord(f[0], connected, int(f[2]), f[3], f[4], f[5], f[6], f[7], f[8] == "1", f[9],
                           f[10] == "1", f[11], f[12], f[13], f[14], int(f[15]), int(f[16]), tuple(f[17:]), line)


def is_call_start(text: str) -> bool:
    """A valid ASCII "YYYY/MM/DD HH:MM:SS", checked by datetime's C parser. False means "not sure":
    the caller checks again (and names the problem) the thorough way."""
    if (len(text) != 19 or text[4] != "/" or text[7] != "/" or text[10] != " " or text[13] != ":"
            or text[16] != ":" or not text.isascii()):
        return False
    try:
        datetime.fromisoformat(text.replace("/", "-"))
    except ValueError:
        return False
    return True


def encode_record(rec: AvayaSmdrRecord) -> bytes:
    """The CSV line IP Office would send for `rec`, with CR LF.

    Raises ValueError when a text field holds a comma, CR, LF or NUL (the format has no quoting,
    so such a record cannot be sent faithfully), or when it would have more than MAX_FIELDS fields.
    """
    c = rec.connected_s
    text = (f"{rec.call_start},{c // 3600:02d}:{c // 60 % 60:02d}:{c % 60:02d},{rec.ring_s},"
            f"{rec.caller},{rec.direction},{rec.called_number},{rec.dialled_number},{rec.account},"
            f"{'1' if rec.is_internal else '0'},{rec.call_id},{'1' if rec.continuation else '0'},"
            f"{rec.party1_device},{rec.party1_name},{rec.party2_device},{rec.party2_name},"
            f"{rec.hold_s},{rec.park_s}")
    commas = 16
    if rec.extra:
        text = text + "," + ",".join(rec.extra)
        commas += len(rec.extra)
    if text.count(",") != commas or "\r" in text or "\n" in text or "\x00" in text:
        raise ValueError("an SMDR field contains a comma, CR, LF or NUL (IP Office CSV has no quoting)")
    if commas + 1 > MAX_FIELDS:
        raise ValueError(f"{commas + 1} fields: IP Office sends at most {MAX_FIELDS}")
    return text.encode("utf-8") + b"\r\n"
