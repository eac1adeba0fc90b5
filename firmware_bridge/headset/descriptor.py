"""HID report-descriptor parser (HID 1.11 §6.2.2): items, global/local state, collections, report layout.

Pure and strict: any malformed input raises `DescriptorError` with the byte offset and what is
wrong; nothing else escapes. Limits follow the Linux HID core (the gateway's kernel must bind the
device before a hidraw node exists), so a descriptor accepted here is one Linux accepts too.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..exceptions import DescriptorError

MAX_USAGES = 12288              # Linux HID_MAX_USAGES: usages per main item, elements per field
MAX_PUSH_DEPTH = 4              # Linux HID_GLOBAL_STACK_SIZE
MAX_COLLECTION_DEPTH = 32       # bounds nesting (Linux grows its stack; real devices use < 6)
MAX_REPORT_BYTES = 16384        # Linux HID_MAX_BUFFER_SIZE, report ID byte included
MAX_REPORT_SIZE = 256           # bits per field element (Linux rejects larger)

COLLECTION_KINDS = {0: "physical", 1: "application", 2: "logical", 3: "report", 4: "named_array",
                    5: "usage_switch", 6: "usage_modifier"}

# Main item data bits (HID 1.11 §6.2.2.5); bit 7 means volatile on Output/Feature only.
CONSTANT, VARIABLE, RELATIVE, WRAP, NONLINEAR, NO_PREFERRED, NULL_STATE, VOLATILE = (
    1 << n for n in range(8))
BUFFERED_BYTES = 1 << 8


@dataclass(frozen=True, slots=True)
class Collection:
    """One Collection item: its type, its 32-bit usage (page << 16 | id), where it sits."""
    index: int
    kind: str
    usage: int
    parent: int | None          # index of the enclosing collection, None at top level
    depth: int

    @property
    def usage_page(self) -> int:
        return self.usage >> 16


@dataclass(frozen=True, slots=True)
class Field:
    """One Input/Output/Feature main item as laid out in its report.

    `bit_offset` counts from the first bit after the report ID byte (numbered reports) or from
    bit 0 (unnumbered). Element i occupies bits [bit_offset + i*size, +size). `usages` has one
    32-bit usage per element for variable fields, or the usage list an array indexes into.
    """
    kind: str                   # "input" | "output" | "feature"
    report_id: int              # 0 when the descriptor uses no report IDs
    bit_offset: int
    size: int
    count: int
    flags: int
    usages: tuple[int, ...]
    logical_min: int
    logical_max: int
    physical_min: int
    physical_max: int
    unit: int
    unit_exponent: int
    collections: tuple[int, ...]    # indexes of the enclosing collections, outermost first

    constant = property(lambda self: bool(self.flags & CONSTANT))
    variable = property(lambda self: bool(self.flags & VARIABLE))
    relative = property(lambda self: bool(self.flags & RELATIVE))
    wrap = property(lambda self: bool(self.flags & WRAP))
    nonlinear = property(lambda self: bool(self.flags & NONLINEAR))
    preferred_state = property(lambda self: not self.flags & NO_PREFERRED)
    null_state = property(lambda self: bool(self.flags & NULL_STATE))
    volatile = property(lambda self: self.kind != "input" and bool(self.flags & VOLATILE))
    buffered_bytes = property(lambda self: bool(self.flags & BUFFERED_BYTES))

    def element_offset(self, index: int) -> int:
        return self.bit_offset + index * self.size


@dataclass(frozen=True)
class ReportDescriptor:
    """Everything the descriptor says, plus report lengths in bytes (report ID byte excluded)."""
    raw: bytes
    numbered: bool
    collections: tuple[Collection, ...]
    fields: tuple[Field, ...]
    report_bits: dict[tuple[str, int], int]   # (kind, report id) -> data bits
    warnings: tuple[str, ...] = ()

    def report_length(self, kind: str, report_id: int) -> int:
        """Bytes of data in that report, without the report ID byte; 0 if there is no such report."""
        return (self.report_bits.get((kind, report_id), 0) + 7) // 8

    def report_ids(self, kind: str) -> list[int]:
        return sorted(rid for k, rid in self.report_bits if k == kind)

    def application_of(self, f: Field) -> Collection | None:
        for index in f.collections:
            if self.collections[index].kind == "application":
                return self.collections[index]
        return None


@dataclass(frozen=True, slots=True)
class _Globals:
    usage_page: int = 0
    logical_min: int = 0
    logical_max: int = 0
    logical_max_raw: tuple[int, int] = (0, 0)       # (unsigned value, size) to re-read unsigned
    physical_min: int = 0
    physical_max: int = 0
    unit_exponent: int = 0
    unit: int = 0
    report_size: int = 0
    report_id: int = 0
    report_count: int = 0


@dataclass
class _Locals:
    # (32-bit usage, written as an extended 32-bit item?); short usages carry the page in effect
    # where they were declared, re-paged at the main item by `_usages` the way Linux does.
    usages: list[tuple[int, bool]] = field(default_factory=list)
    usage_min: tuple[int, bool] | None = None
    delimiter_depth: int = 0
    delimiter_sets: int = 0
    alias_set: int = -1                 # the delimiter set whose first usage is already kept


def _signed(value: int, size: int) -> int:
    bits = size * 8
    return value - (1 << bits) if size and value & (1 << (bits - 1)) else value


def _items(data: bytes):
    """Yield (offset, type, tag, size, value) per item; long items as type 'long'."""
    i, n = 0, len(data)
    while i < n:
        prefix = data[i]
        if prefix == 0xFE:                                   # long item: size, tag, data
            if i + 3 > n:
                raise DescriptorError(f"offset {i}: long item header truncated")
            size = data[i + 1]
            if i + 3 + size > n:
                raise DescriptorError(f"offset {i}: long item of {size} data bytes runs past the end")
            yield i, "long", data[i + 2], size, 0
            i += 3 + size
            continue
        size = (0, 1, 2, 4)[prefix & 0x03]
        if i + 1 + size > n:
            raise DescriptorError(f"offset {i}: item 0x{prefix:02x} needs {size} data byte(s), "
                                  f"{n - i - 1} left")
        value = int.from_bytes(data[i + 1:i + 1 + size], "little")
        yield i, ("main", "global", "local", "reserved")[(prefix >> 2) & 0x03], prefix >> 4, size, value
        i += 1 + size


class _Parser:
    def __init__(self, data: bytes):
        self.data = data
        self.g = _Globals()
        self.stack: list[_Globals] = []
        self.loc = _Locals()
        self.collections: list[Collection] = []
        self.open: list[int] = []
        self.fields: list[Field] = []
        self.bits: dict[tuple[str, int], int] = {}
        self.numbered = False
        self.unnumbered_data_at: int | None = None
        self.warnings: list[str] = []

    def run(self) -> ReportDescriptor:
        if not self.data:
            raise DescriptorError("empty report descriptor")
        for offset, kind, tag, size, value in _items(self.data):
            if kind == "main":
                self.main(offset, tag, value)
            elif kind == "global":
                self.global_item(offset, tag, size, value)
            elif kind == "local":
                self.local_item(offset, tag, size, value)
            else:
                self.warnings.append(f"offset {offset}: {kind} item (tag {tag}) ignored")
        if self.open:
            raise DescriptorError(f"{len(self.open)} collection(s) never closed (End Collection missing)")
        if self.loc.delimiter_depth:
            raise DescriptorError("delimiter set never closed")
        if self.numbered and self.unnumbered_data_at is not None:
            raise DescriptorError(f"offset {self.unnumbered_data_at}: data item before any Report ID "
                                  "in a descriptor that uses report IDs")
        return ReportDescriptor(bytes(self.data), self.numbered, tuple(self.collections),
                                tuple(self.fields), dict(self.bits), tuple(self.warnings))

    # ---- global items ------------------------------------------------------------------

    def global_item(self, offset: int, tag: int, size: int, value: int) -> None:
        g = self.g
        if tag == 0:
            if value > 0xFFFF:
                raise DescriptorError(f"offset {offset}: Usage Page 0x{value:x} wider than 16 bits")
            self.g = replace(g, usage_page=value)
        elif tag == 1:
            self.g = replace(g, logical_min=_signed(value, size))
        elif tag == 2:
            self.g = replace(g, logical_max=_signed(value, size), logical_max_raw=(value, size))
        elif tag == 3:
            self.g = replace(g, physical_min=_signed(value, size))
        elif tag == 4:
            self.g = replace(g, physical_max=_signed(value, size))
        elif tag == 5:
            # Unit Exponent is a signed nibble in practice (0x0E = -2); wider values as written.
            self.g = replace(g, unit_exponent=(value - 16 if value >= 8 else value) if value < 16
                             else _signed(value, size))
        elif tag == 6:
            self.g = replace(g, unit=value)
        elif tag == 7:
            if value > MAX_REPORT_SIZE:
                raise DescriptorError(f"offset {offset}: Report Size {value} bits exceeds {MAX_REPORT_SIZE}")
            self.g = replace(g, report_size=value)
        elif tag == 8:
            if not 0 < value <= 255:
                raise DescriptorError(f"offset {offset}: Report ID {value} outside 1..255")
            self.numbered = True
            self.g = replace(g, report_id=value)
        elif tag == 9:
            if value > MAX_USAGES:
                raise DescriptorError(f"offset {offset}: Report Count {value} exceeds {MAX_USAGES}")
            self.g = replace(g, report_count=value)
        elif tag == 10:
            if len(self.stack) >= MAX_PUSH_DEPTH:
                raise DescriptorError(f"offset {offset}: Push deeper than {MAX_PUSH_DEPTH}")
            self.stack.append(g)
        elif tag == 11:
            if not self.stack:
                raise DescriptorError(f"offset {offset}: Pop without a matching Push")
            self.g = self.stack.pop()
        else:
            raise DescriptorError(f"offset {offset}: unknown global item tag {tag}")

    # ---- local items -------------------------------------------------------------------

    def local_item(self, offset: int, tag: int, size: int, value: int) -> None:
        loc = self.loc
        extended = size == 4
        if tag == 10:                                   # Delimiter: 1 opens a set, 0 closes it
            if value == 1:
                if loc.delimiter_depth:
                    raise DescriptorError(f"offset {offset}: nested delimiter set")
                loc.delimiter_depth, loc.delimiter_sets = 1, loc.delimiter_sets + 1
            elif value == 0:
                if not loc.delimiter_depth:
                    raise DescriptorError(f"offset {offset}: delimiter close without open")
                loc.delimiter_depth = 0
            else:
                raise DescriptorError(f"offset {offset}: delimiter value {value} is neither 0 nor 1")
            return
        if tag == 0:
            # Within a delimited set only the first usage counts (the others are aliases).
            if loc.delimiter_depth and loc.alias_set == loc.delimiter_sets:
                return
            loc.usages.append((value if extended else self.g.usage_page << 16 | value & 0xFFFF, extended))
            if loc.delimiter_depth:
                loc.alias_set = loc.delimiter_sets
        elif tag == 1:
            loc.usage_min = (value, extended)
        elif tag == 2:
            if loc.usage_min is None:
                raise DescriptorError(f"offset {offset}: Usage Maximum without Usage Minimum")
            (low, low_ext), loc.usage_min = loc.usage_min, None
            pages = {u >> 16 for u, ext in ((low, low_ext), (value, extended)) if ext}
            if len(pages) > 1:
                raise DescriptorError(f"offset {offset}: Usage Minimum and Maximum on different pages")
            page = pages.pop() if pages else None
            low_id, high_id = low & 0xFFFF, value & 0xFFFF
            if high_id < low_id:
                raise DescriptorError(f"offset {offset}: Usage Maximum 0x{high_id:x} below Minimum 0x{low_id:x}")
            if high_id - low_id + 1 + len(loc.usages) > MAX_USAGES:
                raise DescriptorError(f"offset {offset}: usage range of {high_id - low_id + 1} exceeds {MAX_USAGES}")
            for uid in range(low_id, high_id + 1):
                loc.usages.append((page << 16 | uid, True) if page is not None
                                  else (self.g.usage_page << 16 | uid, False))
        elif tag in (3, 4, 5, 7, 8, 9):
            pass                                        # designators and strings: no layout effect
        else:
            self.warnings.append(f"offset {offset}: unknown local item tag {tag} ignored")
        if len(loc.usages) > MAX_USAGES:
            raise DescriptorError(f"offset {offset}: more than {MAX_USAGES} usages before one main item")

    def _usages(self) -> list[int]:
        """The pending usages as 32-bit values at a main item (Linux hid_concatenate_last_usage_page).

        A short usage keeps the Usage Page in effect where it was declared, except the trailing
        ones declared before the last Usage Page change, which take that last page ("Usage
        (0x07), Usage Page (Button), Input" is Button 7, while "Usage Page (Telephony), Usage
        (Flash), Usage Page (Consumer), Usage (Volume Up), Input" keeps Flash on Telephony).
        """
        usages = [value for value, _ in self.loc.usages]
        page = self.g.usage_page
        for i in range(len(usages) - 1, -1, -1):
            if self.loc.usages[i][1]:
                continue
            if usages[i] >> 16 == page:
                break
            usages[i] = page << 16 | usages[i] & 0xFFFF
        return usages

    # ---- main items --------------------------------------------------------------------

    def main(self, offset: int, tag: int, value: int) -> None:
        if tag == 10:
            if len(self.open) >= MAX_COLLECTION_DEPTH:
                raise DescriptorError(f"offset {offset}: collections nested deeper than {MAX_COLLECTION_DEPTH}")
            usage = (self._usages() or [0])[0]
            kind = COLLECTION_KINDS.get(value & 0xFF, f"vendor_{value & 0xFF:02x}" if value >= 0x80 else f"reserved_{value & 0xFF:02x}")
            parent = self.open[-1] if self.open else None
            self.collections.append(Collection(len(self.collections), kind, usage, parent, len(self.open)))
            self.open.append(len(self.collections) - 1)
        elif tag == 12:
            if not self.open:
                raise DescriptorError(f"offset {offset}: End Collection without an open collection")
            self.open.pop()
        elif tag in (8, 9, 11):
            self.data_item(offset, {8: "input", 9: "output", 11: "feature"}[tag], value)
        else:
            self.warnings.append(f"offset {offset}: unknown main item tag {tag} ignored")
        self.loc = _Locals()

    def data_item(self, offset: int, kind: str, flags: int) -> None:
        g = self.g
        if g.report_count and g.report_size == 0 and not flags & CONSTANT:
            raise DescriptorError(f"offset {offset}: {kind} item with Report Count {g.report_count} "
                                  "but Report Size 0")
        logical_max = g.logical_max
        if g.logical_min >= 0 and logical_max < 0:      # unsigned range written with a high bit set
            logical_max = g.logical_max_raw[0]
        if g.logical_min > logical_max and not flags & CONSTANT:
            raise DescriptorError(f"offset {offset}: Logical Minimum {g.logical_min} above Maximum {logical_max}")
        key = (kind, g.report_id)
        start = self.bits.get(key, 0)
        end = start + g.report_size * g.report_count
        if (end + 7) // 8 + (1 if self.numbered else 0) > MAX_REPORT_BYTES:
            raise DescriptorError(f"offset {offset}: {kind} report {g.report_id} longer than {MAX_REPORT_BYTES} bytes")
        self.bits[key] = end
        if g.report_id == 0 and g.report_count and g.report_size and self.unnumbered_data_at is None:
            self.unnumbered_data_at = offset
        usages = tuple(self._usages())
        if flags & VARIABLE and g.report_count:
            # One usage per element; missing ones repeat the last (HID 1.11 §6.2.2.8).
            usages = (usages + (usages[-1:] or (0,)) * g.report_count)[:g.report_count] if usages else (0,) * g.report_count
        if g.report_count and g.report_size:
            self.fields.append(Field(kind, g.report_id, start, g.report_size, g.report_count, flags, usages,
                                     g.logical_min, logical_max, g.physical_min, g.physical_max, g.unit,
                                     g.unit_exponent, tuple(self.open)))


def parse_descriptor(data: bytes) -> ReportDescriptor:
    """Parse raw report-descriptor bytes (as read from sysfs or HIDIOCGRDESC)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DescriptorError(f"report descriptor must be bytes, not {type(data).__name__}")
    return _Parser(bytes(data)).run()
