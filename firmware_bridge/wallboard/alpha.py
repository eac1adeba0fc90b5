"""Alpha sign protocol (M-Protocol) codec, sans-IO: packet builders (host -> sign) and a decoder (sign -> host).

Encoding: build commands, then one packet carrying one or more of them (nested, each with ETX and
its checksum):

    packet(memory_config([text_file("A", 0x40), string_file("1", 0x10)]))
    packet(write_text("A", message(colour("red"), "Queue: ", StringRef("1"))), address="01")
    packet(write_string("1", b"12"))
    packet(set_priority(message(colour("red"), "NO DATA")))  /  packet(cancel_priority())
    packet(read_memory_table())  /  packet(read_string("1"))

Decoding: `AlphaDecoder().feed(data) -> list[Event]` gives SignAck (ACK/NAK + status reasons),
SignMemoryTable (answer to F$), SignString (answer to H) and ProtocolError for anything else,
across any split of the stream. Packets that are not responses (type code other than "0", e.g. an
RS-485 adapter echoing our own writes) are counted in `ignored`, not reported.

Facts from hardware.md section 1 (implementations of spec 97088061; the PDF itself was not seen).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ..events import Event, ProtocolError, SignAck, SignFile, SignMemoryTable, SignString
from .framing import ETX, EOT, NUL, SOH, STX, Ack, Command, FrameError, Framer, Packet, checksum

ESC = 0x1B
BROADCAST = "00"
RESPONSE_TYPE = "0"
PRIORITY_LABEL = "0"
MAX_STRING = 125                     # bytes in one STRING file (BB_MAX_STRING_FILE_SIZE)
SYNC_NULS = 5

POSITIONS = {"middle": 0x20, "top": 0x22, "bottom": 0x26, "fill": 0x30, "left": 0x31, "right": 0x32}
MODES = {"rotate": "a", "hold": "b", "flash": "c", "roll_up": "e", "roll_down": "f",
         "roll_left": "g", "roll_right": "h", "wipe_up": "i", "wipe_down": "j", "wipe_left": "k",
         "wipe_right": "l", "scroll": "m", "automode": "o", "roll_in": "p", "roll_out": "q",
         "wipe_in": "r", "wipe_out": "s", "compressed_rotate": "t"}
COLOURS = {"red": "1", "green": "2", "amber": "3", "dim_red": "4", "dim_green": "5", "brown": "6",
           "orange": "7", "yellow": "8", "rainbow1": "9", "rainbow2": "A", "mix": "B", "auto": "C"}
COLOUR_NAMES = {code: name for name, code in COLOURS.items()}
COLOUR_CODE, CALL_STRING = 0x1C, 0x10

STATUS_BITS = ((0x20, "illegal command or label"), (0x10, "checksum error"),
               (0x08, "buffer overflow"), (0x04, "serial timeout"), (0x02, "framing error"),
               (0x01, "parity error"))
READ_CODES = frozenset("BFHJLN")     # commands the sign answers with a packet of its own
_ENTRY = re.compile(rb"([\x20-\x7F])([ABD])([UL])([0-9A-F]{4})([0-9A-F]{4})")
_FILE_KINDS = {"A": "text", "B": "string", "D": "dots"}
_FILE_TYPES = {kind: code for code, kind in _FILE_KINDS.items()}


# ---- commands (host -> sign) ---------------------------------------------------------------

def command(code: str, data: bytes = b"") -> Command:
    if len(code) != 1:
        raise ValueError(f"command code must be one character, not {code!r}")
    return Command(code, bytes(data))


def _label(label: str, *, priority_ok: bool = False) -> bytes:
    if len(label) != 1 or not 0x20 <= ord(label) <= 0x7E or label == "?" \
            or (label == PRIORITY_LABEL and not priority_ok):
        raise ValueError(f"file label must be one printable character other than '0' and '?', "
                         f"not {label!r}")
    return label.encode("ascii")


@dataclass(frozen=True, slots=True)
class FileSpec:
    """One entry of the memory configuration (E$): label, kind ("text" | "string"), size."""
    label: str
    kind: str
    size: int
    locked: bool = False
    times: str = "FF00"      # TEXT: start/stop time codes ("FF00": always); STRING: "0000"

    def encode(self) -> bytes:
        if self.kind not in ("text", "string") or not 0 < self.size <= 0xFFFF:
            raise ValueError(f"file {self.label!r}: kind text|string and size 1..65535")
        return (_label(self.label) + _FILE_TYPES[self.kind].encode() + (b"L" if self.locked else b"U")
                + b"%04X" % self.size + self.times.encode("ascii"))


def text_file(label: str, size: int) -> FileSpec:
    """A TEXT file entry: unlocked, run always (`label A U size FF00`)."""
    return FileSpec(label, "text", size, False, "FF00")


def string_file(label: str, size: int) -> FileSpec:
    """A STRING file entry: locked, as msparks and tastewar write them (`label B L size 0000`)."""
    if size > MAX_STRING:
        raise ValueError(f"STRING {label!r}: at most {MAX_STRING} bytes, not {size}")
    return FileSpec(label, "string", size, True, "0000")


def memory_config(files: Iterable[FileSpec]) -> Command:
    """E$: the whole file table in one command; it replaces the previous one (an empty table clears)."""
    return command("E", b"$" + b"".join(f.encode() for f in files))


@dataclass(frozen=True, slots=True)
class StringRef:
    """A place in a TEXT message where the sign shows STRING file `label`."""
    label: str


def colour(name: str) -> bytes:
    """The colour control code (0x1C + code) for a name of COLOURS."""
    try:
        return bytes([COLOUR_CODE]) + COLOURS[name].encode()
    except KeyError:
        raise ValueError(f"colour must be one of {sorted(COLOURS)}, not {name!r}") from None


def printable(text: str) -> bytes:
    """Text as the sign can show it: printable ASCII, anything else as '?' (no control codes sneak in)."""
    return bytes(c if 0x20 <= c <= 0x7E else 0x3F for c in text.encode("ascii", "replace"))


def message(*parts: bytes | str | StringRef) -> bytes:
    """A TEXT message: str parts as printable text, bytes as given (control codes), StringRefs as calls."""
    out = bytearray()
    for part in parts:
        if isinstance(part, StringRef):
            out += bytes([CALL_STRING]) + _label(part.label)
        elif isinstance(part, str):
            out += printable(part)
        else:
            out += part
    return bytes(out)


def write_text(label: str, text: bytes, *, position: str | None = "middle", mode: str = "hold",
               special: str = "") -> Command:
    """A: label, then ESC position mode [special] and the message; position=None sends bare text."""
    head = b""
    if position is not None:
        if position not in POSITIONS or mode not in MODES:
            raise ValueError(f"position in {sorted(POSITIONS)}, mode in {sorted(MODES)}")
        head = bytes([ESC, POSITIONS[position]]) + MODES[mode].encode()
        if special:
            head += b"n" + special.encode("ascii")[:1]
    return command("A", _label(label, priority_ok=True) + head + text)


def write_string(label: str, data: bytes | str) -> Command:
    """G: replace STRING file `label` (at most 125 bytes) without touching the TEXT layouts."""
    data = printable(data) if isinstance(data, str) else bytes(data)
    if len(data) > MAX_STRING:
        raise ValueError(f"STRING {label!r}: at most {MAX_STRING} bytes, not {len(data)}")
    return command("G", _label(label) + data)


def set_priority(text: bytes, *, position: str = "middle", mode: str = "hold") -> Command:
    """TEXT file '0': shown instead of everything else until cancelled; needs no memory."""
    return write_text(PRIORITY_LABEL, text, position=position, mode=mode)


def cancel_priority() -> Command:
    """An empty A0: the sign goes back to its run sequence."""
    return command("A", PRIORITY_LABEL.encode())


def ack_nak(enabled: bool = True) -> Command:
    """Es: ask an Alpha 2.0+ sign to answer every packet with ACK/NAK (payload per alphasignpy [S/U])."""
    return command("E", b"s" + (b"1" if enabled else b"0"))


def read_memory_table() -> Command:
    return command("F", b"$")


def read_string(label: str) -> Command:
    return command("H", _label(label))


def _check_address(address: str) -> bytes:
    if len(address) != 2 or not all(c in "0123456789ABCDEFabcdef?" for c in address):
        raise ValueError(f"address must be two hex digits (00 = broadcast), not {address!r}")
    return address.encode("ascii")


def packet(*commands: Command, address: str = BROADCAST, type_code: str = "Z",
           sync: int = SYNC_NULS, checksums: bool = True) -> bytes:
    """The bytes of one packet: NUL*sync SOH type address, each command, EOT."""
    if not commands:
        raise ValueError("a packet carries at least one command")
    if len(type_code) != 1 or not 0x20 <= ord(type_code) <= 0x7E:
        raise ValueError(f"type code must be one printable character, not {type_code!r}")
    out = bytearray(bytes([NUL]) * sync + bytes([SOH]) + type_code.encode() + _check_address(address))
    for cmd in commands:
        body = bytes([STX]) + cmd.code.encode("latin-1") + cmd.data
        out += body
        if checksums:
            out += bytes([ETX]) + checksum(body + bytes([ETX]))
    out.append(EOT)
    return bytes(out)


def packet_address(data: bytes) -> str:
    """The address of an encoded packet (the two bytes after the type code)."""
    start = data.index(SOH)
    while data[start] == SOH:
        start += 1
    return data[start + 1:start + 3].decode("ascii")


def is_read(data: bytes) -> bool:
    """Does this packet ask the sign for an answer (F$, H, B ...)?"""
    first = data.find(STX)
    return first >= 0 and first + 1 < len(data) and chr(data[first + 1]) in READ_CODES


# ---- responses (sign -> host) --------------------------------------------------------------

def status_reasons(status: int | None) -> tuple[str, ...]:
    """The named bits of an ACK/NAK status byte (0x40 alone: no error)."""
    if status is None:
        return ()
    return tuple(reason for bit, reason in STATUS_BITS if status & bit)


def parse_memory_table(table: bytes) -> tuple[SignFile, ...]:
    """The 11-character entries of an E$ table; ValueError on anything else."""
    if len(table) % 11:
        raise ValueError(f"memory table of {len(table)} bytes is not a run of 11-byte entries")
    files = []
    for i in range(0, len(table), 11):
        match = _ENTRY.fullmatch(table[i:i + 11])
        if match is None:
            raise ValueError(f"bad memory table entry {table[i:i + 11]!r}")
        label, kind, lock, size, times = (g.decode("ascii") for g in match.groups())
        files.append(SignFile(label, _FILE_KINDS[kind], lock == "L", int(size, 16), times))
    return tuple(files)


class AlphaDecoder:
    """Sign -> host stream decoder. `feed()` survives any split and garbage; `flush()` at the end."""

    def __init__(self) -> None:
        self._framer = Framer(acks=True)
        self.ignored = 0          # well-formed packets that are not responses (echoes)
        self.errors = 0

    def feed(self, data: bytes) -> list[Event]:
        return self._events(self._framer.feed(data))

    def flush(self) -> list[Event]:
        """End of stream: a half-received packet, pending noise, an ACK still waiting for its status."""
        return self._events(self._framer.flush())

    def flush_garbage(self) -> list[Event]:
        """Noise is reported when the next packet or ACK starts; this reports it now (quiet line)."""
        return self._events(self._framer.flush_garbage())

    def _events(self, items) -> list[Event]:
        out: list[Event] = []
        for item in items:
            if isinstance(item, Ack):
                out.append(SignAck(item.ok, item.status, status_reasons(item.status)))
            elif isinstance(item, FrameError):
                out.append(ProtocolError(f"{item.kind}: {item.reason}", item.raw))
            elif item.type_code != RESPONSE_TYPE:
                self.ignored += 1
            else:
                out.extend(self._response(item))
        self.errors += sum(type(e) is ProtocolError for e in out)
        return out

    @staticmethod
    def _response(pkt: Packet) -> list[Event]:
        out: list[Event] = []
        for cmd in pkt.commands:
            if cmd.code == "E" and cmd.data[:1] == b"$":
                try:
                    out.append(SignMemoryTable(parse_memory_table(cmd.data[1:])))
                except ValueError as exc:
                    out.append(ProtocolError(f"memory table: {exc}", pkt.raw))
            elif cmd.code == "G" and cmd.data:
                out.append(SignString(cmd.label, cmd.data[1:]))
            else:
                out.append(ProtocolError(f"unexpected response command {cmd.code!r}", pkt.raw))
        return out
