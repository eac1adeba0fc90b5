"""Panasonic KX-TDA/TDE/NS SMDR: a sans-IO codec for the fixed-width printer lines on RS-232C."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ..events import Event, PanasonicSmdrRecord, ProtocolError
from . import LineCodec

MAX_LINE = 4096

DATE_ORDERS = ("MDY", "DMY", "YMD")
CLOCKS = ("auto", "12h", "24h")


@dataclass(frozen=True, slots=True)
class PanasonicOptions:
    """How one site's PBX prints SMDR; "auto" means: decide per line from what is printed.

    date_order: the PBX's locale (cannot be detected: 01/02/02 reads both ways).
    clock: "12h" rejects times without AM/PM (ambiguous); "auto" reads the suffix; encoding
      with "auto" prints 12h, the factory format.
    cost_column / line_width: which of the manual's patterns the PBX prints (A: 80 columns,
      no charge; B: 80 with charge; C: 120 with charge). Decoding with "auto" tries every pattern
      and, failing fixed columns, splits on whitespace; a cost such as 00560.00EU is recognised
      wherever it appears.
    """
    date_order: str = "MDY"
    clock: str = "auto"
    cost_column: str | bool = "auto"
    line_width: str | int = "auto"

    def __post_init__(self) -> None:
        if self.date_order not in DATE_ORDERS:
            raise ValueError(f"date_order must be one of {DATE_ORDERS}, not {self.date_order!r}")
        if self.clock not in CLOCKS:
            raise ValueError(f"clock must be one of {CLOCKS}, not {self.clock!r}")
        if self.cost_column not in ("auto", True, False):
            raise ValueError(f"cost_column must be 'auto', True or False, not {self.cost_column!r}")
        if self.line_width not in ("auto", 80, 120):
            raise ValueError(f"line_width must be 'auto', 80 or 120, not {self.line_width!r}")


# ---- the three printed patterns (KX-NS1000 Feature Guide, "Record Log Features") ---------------
# Widths are from the manual; the single blank between columns is our reading of its examples [U].

@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    width: int
    columns: tuple[tuple[str, int, int], ...]      # (field, start, end)
    separators: tuple[int, ...]


def _layout(name: str, width: int, spec: tuple[tuple[str, int], ...]) -> Layout:
    columns, separators, pos = [], [], 0
    for field, size in spec:
        if pos:
            separators.append(pos)
            pos += 1
        columns.append((field, pos, pos + size))
        pos += size
    assert pos <= width, name
    return Layout(name, width, tuple(columns), tuple(separators))


LAYOUT_A = _layout("A", 80, (("date", 8), ("time", 7), ("ext", 5), ("co", 2), ("dial", 25),
                             ("ring", 4), ("duration", 8), ("acc", 10), ("cd", 2)))
LAYOUT_B = _layout("B", 80, (("date", 8), ("time", 7), ("ext", 5), ("co", 2), ("dial", 20),
                             ("duration", 8), ("cost", 10), ("acc", 10), ("cd", 2)))
LAYOUT_C = _layout("C", 120, (("date", 8), ("time", 7), ("ext", 5), ("co", 4), ("dial", 50),
                              ("ring", 4), ("duration", 8), ("cost", 11), ("acc", 10), ("cd", 2)))


def layouts_for(options: PanasonicOptions) -> tuple[Layout, ...]:
    """The patterns a PBX configured like `options` may print, most common first."""
    found = []
    for layout in (LAYOUT_A, LAYOUT_B, LAYOUT_C):
        has_cost = any(name == "cost" for name, _, _ in layout.columns)
        if options.line_width != "auto" and layout.width != options.line_width:
            continue
        if options.cost_column is True and not has_cost:
            continue
        if options.cost_column is False and has_cost and layout.width == 80:
            continue
        found.append(layout)
    return tuple(found)


# ---- shapes of the printed fields --------------------------------------------------------------

_DATE = re.compile(r"(\d{2,4})[/.-](\d{1,2})[/.-](\d{2,4})")
_TIME = re.compile(r"\*?(\d{1,2}):(\d{2})([AaPp][Mm])?")
_RING = re.compile(r"(\d{1,2})'(\d{2})")
_DURATION = re.compile(r"(\d{2}):(\d{2})'(\d{2})")
_COST = re.compile(r"\d+\.\d+[A-Z]{0,3}")
_CD = re.compile(r"[A-Z][A-Z0-9]")
_SHAPES = {"date": _DATE, "time": _TIME, "ext": re.compile(r"\S+"), "co": re.compile(r"\d*"),
           "ring": re.compile(f"(?:{_RING.pattern})?"),
           "duration": re.compile(f"(?:{_DURATION.pattern})?"),
           "cost": re.compile(f"(?:{_COST.pattern})?"), "acc": re.compile(r"\S{0,10}"),
           "cd": re.compile(r"\S{0,3}")}

_TOKEN = re.compile(r"\S+")
_CO = re.compile(r"\d{1,4}")

_HEADER = re.compile(r"\s*date\s+time\b", re.IGNORECASE)
_SEPARATOR = re.compile(r"[\s=-]*-[\s=-]*|[\s=]*=[\s=]*")
_STARS = re.compile(r"[\s*]*\*[\s*]*")


class PanasonicCodec(LineCodec):
    """Bytes from a Panasonic SMDR port -> PanasonicSmdrRecord / ProtocolError events.

    Page headers (form feed, "Date Time Ext CO ..."), separator lines, blank lines and lines of
    '*' are skipped, not errors. `detected` reports what the lines so far show about the format.
    """

    def __init__(self, options: PanasonicOptions | None = None, *, max_line: int = MAX_LINE):
        self.options = options or PanasonicOptions()
        self._layouts = layouts_for(self.options)
        # Form feed ends a line too: a page break then starts a fresh (header) line.
        super().__init__(max_line=max_line, also_ends=b"\x0c", counters=("skipped",))
        self.detected: dict[str, object] = {"clock": None, "cost_column": None, "line_width": None}

    def _events(self, lines: list[tuple[bytes, str]]) -> list[Event]:
        out: list[Event] = []
        for line, problem in lines:
            event = ProtocolError(problem, line) if problem else self._parse(line)
            if event is None:
                self.stats["skipped"] += 1
                continue
            if type(event) is ProtocolError:
                self.stats["errors"] += 1
            else:
                self.stats["records"] += 1
                self._learn(event)
            out.append(event)
        return out

    def _parse(self, line: bytes) -> PanasonicSmdrRecord | ProtocolError | None:
        # The PBX prints IBM ASCII or ISO-8859-1 (program setting); Latin-1 keeps every byte.
        text = line.decode("latin-1").rstrip()
        if not text or _HEADER.match(text) or _SEPARATOR.fullmatch(text) or _STARS.fullmatch(text):
            return None
        return parse_line(line, self.options, self._layouts)

    def _learn(self, rec: PanasonicSmdrRecord) -> None:
        if rec.time[-2:].upper() in ("AM", "PM"):
            self.detected["clock"] = "12h"
        elif self.detected["clock"] is None:
            self.detected["clock"] = "24h"
        if rec.cost:
            self.detected["cost_column"] = True
        width = len(rec.raw.rstrip())
        if width > 80:
            self.detected["line_width"] = 120
        elif self.detected["line_width"] is None:
            self.detected["line_width"] = 80


def parse_line(line: bytes, options: PanasonicOptions,
               layouts: tuple[Layout, ...] | None = None) -> PanasonicSmdrRecord | ProtocolError:
    """One printed line -> record or ProtocolError. Header/blank lines are the codec's business.

    Reasons name the field, never its value (values may be phone numbers and reasons get logged).
    """
    text = line.decode("latin-1").rstrip()
    if layouts is None:
        layouts = layouts_for(options)
    fields = None
    for layout in layouts:
        fields = _fixed_columns(text, layout)
        if fields is not None:
            break
    else:
        fields = _whitespace_fields(text)
    if fields is None:
        return ProtocolError("not an SMDR line: expected date, time and extension", line)
    date, time = fields["date"], fields["time"]
    if "*" in date or "*" in time.lstrip("*"):
        return ProtocolError("date/time printed as '*' (the PBX clock was changed during the call)",
                             line)
    reason = _check_date(date, options.date_order) or _check_time(time, options.clock)
    if reason:
        return ProtocolError(reason, line)
    ring = _seconds(_RING, fields["ring"])
    duration = _seconds(_DURATION, fields["duration"])
    if ring == -1 or duration == -1:
        return ProtocolError("ring or duration has minutes/seconds of 60 or more", line)
    return PanasonicSmdrRecord(
        date=date, time=time, extension=fields["ext"], co=fields["co"], dial_number=fields["dial"],
        ring_s=ring, duration_s=duration, account_code=fields["acc"], cost=fields.get("cost", ""),
        condition=fields["cd"], raw=line)


def _fixed_columns(text: str, layout: Layout) -> dict[str, str] | None:
    if len(text) > layout.width:
        return None
    padded = text.ljust(layout.width)
    for pos in layout.separators:
        if padded[pos] != " ":
            return None
    fields = {"ring": "", "cost": ""}
    for name, start, end in layout.columns:
        value = padded[start:end].strip()
        shape = _SHAPES.get(name)
        if shape is not None and not shape.fullmatch(value):
            return None
        fields[name] = value
    return fields


def _whitespace_fields(text: str) -> dict[str, str] | None:
    """Fallback when no fixed pattern fits: date, time, ext and a numeric CO from the left;
    [ring] duration [cost] [acc] [cd] from the right, anchored on the duration; what lies
    between is the dial number, spaces and all ("<I>ABC COMPANY", "LOG IN")."""
    tokens = list(_TOKEN.finditer(text))
    if len(tokens) < 3:
        return None
    fields = {"date": tokens[0].group(), "time": tokens[1].group(), "ext": tokens[2].group(),
              "co": "", "dial": "", "ring": "", "duration": "", "cost": "", "acc": "", "cd": ""}
    rest = tokens[3:]
    if rest and _CO.fullmatch(rest[0].group()):
        fields["co"] = rest.pop(0).group()
    for anchor in range(len(rest) - 1, max(len(rest) - 5, -1), -1):
        if not _DURATION.fullmatch(rest[anchor].group()):
            continue
        right = _right_of_duration([t.group() for t in rest[anchor + 1:]])
        if right is None:
            continue
        fields.update(right, duration=rest[anchor].group())
        if anchor and _RING.fullmatch(rest[anchor - 1].group()):
            fields["ring"] = rest[anchor - 1].group()
            anchor -= 1
        rest = rest[:anchor]
        break
    if rest:
        fields["dial"] = text[rest[0].start():rest[-1].end()]
    return fields


def _right_of_duration(words: list[str]) -> dict[str, str] | None:
    """[cost] [acc] [cd] after the duration; a lone two-letter code is a condition code (TR)."""
    out = {"cost": "", "acc": "", "cd": ""}
    if words and _COST.fullmatch(words[0]):
        out["cost"] = words.pop(0)
    if len(words) == 1 and _CD.fullmatch(words[0]):
        out["cd"] = words[0]
    elif len(words) == 1 and len(words[0]) <= 10:
        out["acc"] = words[0]
    elif len(words) == 2 and len(words[0]) <= 10 and _CD.fullmatch(words[1]):
        out["acc"], out["cd"] = words
    elif words:
        return None
    return out


def _check_date(date: str, order: str) -> str:
    m = _DATE.fullmatch(date)
    if m is None:
        return "Date is not nn/nn/nn"
    try:
        _date_parts(m, order)
    except ValueError:
        return f"Date is not a valid {order} date"
    return ""


def _check_time(time: str, clock: str) -> str:
    m = _TIME.fullmatch(time)
    if m is None:
        return "Time is not HH:MM with optional AM/PM"
    hour, minute, suffix = int(m.group(1)), int(m.group(2)), m.group(3)
    if minute > 59 or (suffix and not 1 <= hour <= 12) or (not suffix and hour > 23):
        return "Time is not a valid time of day"
    if clock == "12h" and not suffix:
        return "Time has no AM/PM but the PBX is configured for a 12-hour clock"
    return ""


def _date_parts(m: re.Match, order: str) -> tuple[int, int, int]:
    a, b, c = m.groups()
    year, month, day = {"MDY": (c, a, b), "DMY": (c, b, a), "YMD": (a, b, c)}[order]
    y = int(year)
    if len(year) == 2:
        y += 2000
    elif len(year) != 4:
        raise ValueError("year")
    datetime(y, int(month), int(day))
    return y, int(month), int(day)


def _seconds(shape: re.Pattern, value: str) -> int | None:
    """"0'05" -> 5, "00:01'05" -> 65, "" -> None, out-of-range minutes/seconds -> -1."""
    if not value:
        return None
    parts = [int(p) for p in shape.fullmatch(value).groups()]
    if any(p > 59 for p in parts[1:]):
        return -1
    total = 0
    for p in parts:
        total = total * 60 + p
    return total


def panasonic_end_time(rec: PanasonicSmdrRecord, options: PanasonicOptions) -> datetime:
    """When the call ended, as a naive datetime in the PBX's local time (minute resolution).

    Raises ValueError for a date or time the codec would not have produced.
    """
    m = _DATE.fullmatch(rec.date)
    if m is None:
        raise ValueError("date is not nn/nn/nn")
    reason = _check_time(rec.time, options.clock)
    if reason:
        raise ValueError(reason)
    year, month, day = _date_parts(m, options.date_order)
    t = _TIME.fullmatch(rec.time)
    hour, minute, suffix = int(t.group(1)), int(t.group(2)), (t.group(3) or "").upper()
    if suffix:
        hour = hour % 12 + (12 if suffix == "PM" else 0)
    return datetime(year, month, day, hour, minute)


def format_end_time(when: datetime, options: PanasonicOptions) -> tuple[str, str]:
    """(date, time) as the PBX prints them; "auto" clock prints 12h like the factory setting."""
    yy = when.year % 100
    date = {"MDY": f"{when.month:02d}/{when.day:02d}/{yy:02d}",
            "DMY": f"{when.day:02d}/{when.month:02d}/{yy:02d}",
            "YMD": f"{yy:02d}/{when.month:02d}/{when.day:02d}"}[options.date_order]
    if options.clock == "24h":
        return date, f"{when.hour:02d}:{when.minute:02d}"
    hour = when.hour % 12 or 12
    return date, f"{hour:02d}:{when.minute:02d}{'PM' if when.hour >= 12 else 'AM'}"


def format_ring(seconds: int | None) -> str:
    return "" if seconds is None else f"{seconds // 60}'{seconds % 60:02d}"


def format_duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}'{seconds % 60:02d}"


def encode_record(rec: PanasonicSmdrRecord, options: PanasonicOptions | None = None) -> bytes:
    """The fixed-width line (with CR LF) in the first pattern `options` allow that fits `rec`.

    Raises ValueError when no allowed pattern fits (a field too wide, a cost with no cost column,
    a ring time on pattern B which has no ring column) or a field holds CR, LF or form feed.
    """
    values = {"date": rec.date, "time": rec.time, "ext": rec.extension, "co": rec.co,
              "dial": rec.dial_number, "ring": format_ring(rec.ring_s),
              "duration": format_duration(rec.duration_s), "cost": rec.cost,
              "acc": rec.account_code, "cd": rec.condition}
    if any(ch in v for v in values.values() for ch in "\r\n\x0c"):
        raise ValueError("a field contains CR, LF or form feed")
    for layout in layouts_for(options or PanasonicOptions()):
        line = _fill(layout, values)
        if line is not None:
            return line.encode("latin-1") + b"\r\n"
    raise ValueError("record does not fit any SMDR pattern allowed by the options")


def _fill(layout: Layout, values: dict[str, str]) -> str | None:
    names = {name for name, _, _ in layout.columns}
    if any(values[name] for name in values if name not in names):
        return None                     # e.g. a cost on pattern A, a ring time on pattern B
    out = []
    for name, start, end in layout.columns:
        value = values[name]
        if len(value) > end - start:
            return None
        out.append(value.ljust(end - start))
    return " ".join(out).rstrip()


def encode_page_header(options: PanasonicOptions | None = None) -> bytes:
    """Form feed, the column titles and a rule, as the PBX prints at the top of each page."""
    layout = layouts_for(options or PanasonicOptions())[0]
    titles = {"date": "Date", "time": "Time", "ext": "Ext", "co": "CO", "dial": "Dial Number",
              "ring": "Ring", "duration": "Duration", "cost": "Cost", "acc": "Acc code",
              "cd": "CD"}
    head = " ".join(titles[name].ljust(end - start) for name, start, end in layout.columns)
    return b"\x0c" + head.rstrip().encode() + b"\r\n" + b"-" * layout.width + b"\r\n"
