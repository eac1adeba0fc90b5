"""Alpha packet framing, sans-IO: a byte stream in, whole packets (checksums verified) and errors out.

Shared by both ends of the wire: the host's decoder (`alpha.AlphaDecoder`, which also sees the
sign's ACK/NAK bytes between packets) and the sign emulator (which enforces the sign's rule that a
gap of more than about a second inside a packet aborts it). Nothing here knows what a command means.

    framer = Framer(acks=True)
    for item in framer.feed(data, now):      # Packet | Ack | FrameError, in wire order
        ...
    framer.expire(now)                        # a packet left unfinished for gap_s is aborted
    framer.flush_garbage()                    # noise so far, reported now (a quiet line)
    framer.flush()                            # end of stream: whatever is half-received

A packet is `NUL* SOH+ type addr(2) (STX code data [ETX cksum(4)])+ EOT`; runs of NUL and SOH are
sync filler. A new NUL or SOH inside a packet aborts it (the sender started over), so the parser
resynchronises on the next packet after any damage.
"""
from __future__ import annotations

from dataclasses import dataclass

NUL, SOH, STX, ETX, EOT = 0x00, 0x01, 0x02, 0x03, 0x04
ACK, NAK = 0x06, 0x15

MAX_PACKET = 65536          # bytes; a longer "packet" is noise and is dropped
MAX_GARBAGE = 256           # garbage is reported in pieces of at most this many bytes
_HEX = frozenset(b"0123456789ABCDEFabcdef")
_ADDRESS = frozenset(b"0123456789ABCDEFabcdef?")


def checksum(body: bytes) -> bytes:
    """The 4 upper-case hex digits of the 16-bit sum of `body` (STX through ETX inclusive)."""
    return b"%04X" % (sum(body) & 0xFFFF)


@dataclass(frozen=True, slots=True)
class Command:
    """One `STX code data` of a packet. `data` starts with the label where the command has one."""
    code: str                 # one character: "A" write TEXT, "G" write STRING, "E" special ...
    data: bytes
    checked: bool = False     # it carried ETX + checksum (and the checksum matched)

    @property
    def label(self) -> str:
        return chr(self.data[0]) if self.data else ""


@dataclass(frozen=True, slots=True)
class Packet:
    type_code: str            # "Z" all signs, "0" a response from a sign ...
    address: str              # two characters, "00" broadcast
    commands: tuple[Command, ...]
    raw: bytes


@dataclass(frozen=True, slots=True)
class Ack:
    """ACK (ok) or NAK from a sign, with the status byte that follows (None: none came)."""
    ok: bool
    status: int | None


@dataclass(frozen=True, slots=True)
class FrameError:
    """Bytes that did not make a packet.

    kind: "garbage" (outside any packet), "header", "checksum", "aborted" (a new packet began
    inside one), "gap" (silence inside a packet), "overflow", "truncated" (end of stream).
    `address` is known once the header was read (a sign NAKs only what was addressed to it).
    """
    kind: str
    reason: str
    raw: bytes
    address: str = ""


Item = Packet | Ack | FrameError

# parser states
_IDLE, _SYNC, _HEADER, _EXPECT_STX, _CODE, _DATA, _CKSUM, _AFTER_ACK = range(8)


class Framer:
    """Incremental packet parser; survives any split of the stream and any noise."""

    def __init__(self, *, acks: bool = False, gap_s: float | None = None):
        self.acks = acks            # host side: ACK/NAK + status byte between packets
        self.gap_s = gap_s          # sign side: silence longer than this inside a packet aborts it
        self._state = _IDLE
        self._raw = bytearray()     # the current packet from its first sync byte
        self._garbage = bytearray()
        self._header = bytearray()
        self._code = 0
        self._data = bytearray()
        self._cksum = bytearray()
        self._commands: list[Command] = []
        self._bad = ""              # first checksum complaint of the current packet
        self._ack_ok = False
        self._last_at: float | None = None

    @property
    def in_packet(self) -> bool:
        return self._state not in (_IDLE, _AFTER_ACK)

    def feed(self, data: bytes, now: float | None = None) -> list[Item]:
        out: list[Item] = []
        if now is not None:
            out += self.expire(now)
            self._last_at = now
        for byte in data:
            self._step(byte, out)
        return out

    def expire(self, now: float) -> list[Item]:
        """Abort a packet that has been silent for more than gap_s (the sign's serial timeout)."""
        if (self.gap_s is None or self._last_at is None or not self.in_packet
                or now - self._last_at <= self.gap_s):
            return []
        out: list[Item] = []
        self._abort(out, "gap", f"no byte for {now - self._last_at:.1f} s inside a packet")
        return out

    def flush(self) -> list[Item]:
        """End of the stream: report a half-received packet, pending garbage or a lone ACK."""
        out: list[Item] = []
        if self._state == _AFTER_ACK:
            out.append(Ack(self._ack_ok, None))
            self._state = _IDLE
        elif self.in_packet:
            self._abort(out, "truncated", "stream ended inside a packet")
        self._flush_garbage(out)
        return out

    def flush_garbage(self) -> list[Item]:
        """Report noise received so far now, rather than when the next packet starts."""
        out: list[Item] = []
        self._flush_garbage(out)
        return out

    # ---- the state machine -------------------------------------------------------------

    def _step(self, byte: int, out: list[Item]) -> None:
        state = self._state
        if state == _AFTER_ACK:
            self._state = _IDLE
            if byte & 0xC0 == 0x40:              # a status byte: bit 6 set, bit 7 clear
                out.append(Ack(self._ack_ok, byte))
                return
            out.append(Ack(self._ack_ok, None))
            state = _IDLE
        if state == _IDLE:
            self._idle(byte, out)
            return
        if byte in (NUL, SOH) and state != _SYNC:
            self._abort(out, "aborted", "a new packet began inside one")
            self._idle(byte, out)
            return
        self._raw.append(byte)
        if len(self._raw) > MAX_PACKET:
            self._raw = self._raw[:MAX_PACKET]
            self._abort(out, "overflow", f"packet longer than {MAX_PACKET} bytes")
            return
        if state == _SYNC:
            if byte not in (NUL, SOH):
                self._header = bytearray([byte])
                self._state = _HEADER
        elif state == _HEADER:
            self._header.append(byte)
            if len(self._header) == 3:
                self._check_header(out)
        elif state == _EXPECT_STX:
            if byte == STX:
                self._state = _CODE
            elif byte == EOT and self._commands:
                self._finish(out)
            else:
                self._abort(out, "header", f"expected STX, got 0x{byte:02X}")
        elif state == _CODE:
            if byte in (STX, ETX, EOT):
                self._abort(out, "header", "STX without a command code")
            else:
                self._code, self._data = byte, bytearray()
                self._state = _DATA
        elif state == _DATA:
            if byte == ETX:
                self._cksum = bytearray()
                self._state = _CKSUM
            elif byte in (STX, EOT):             # a command without checksum (allowed)
                self._commands.append(Command(chr(self._code), bytes(self._data)))
                self._state = _CODE if byte == STX else _EXPECT_STX
                if byte == EOT:
                    self._finish(out)
            else:
                self._data.append(byte)
        elif state == _CKSUM:
            if byte not in _HEX:
                self._abort(out, "header", f"checksum digit expected, got 0x{byte:02X}")
                return
            self._cksum.append(byte)
            if len(self._cksum) == 4:
                self._end_command()

    def _idle(self, byte: int, out: list[Item]) -> None:
        if byte in (NUL, SOH):                   # sync filler; SOH starts the packet
            self._flush_garbage(out)
            if byte == SOH:
                self._raw = bytearray([byte])
                self._commands, self._bad = [], ""
                self._state = _SYNC
            return
        if self.acks and byte in (ACK, NAK):
            self._flush_garbage(out)
            self._ack_ok = byte == ACK
            self._state = _AFTER_ACK
            return
        self._garbage.append(byte)
        if len(self._garbage) >= MAX_GARBAGE:
            self._flush_garbage(out)

    def _check_header(self, out: list[Item]) -> None:
        type_code, address = self._header[0], self._header[1:]
        if not 0x20 <= type_code <= 0x7E or not all(c in _ADDRESS for c in address):
            self._abort(out, "header", f"bad type code or address {bytes(self._header)!r}")
            return
        self._state = _EXPECT_STX

    def _end_command(self) -> None:
        body = bytes([STX, self._code]) + bytes(self._data) + bytes([ETX])
        expected = checksum(body)
        got = bytes(self._cksum).upper()
        if got != expected and not self._bad:
            self._bad = f"checksum {got.decode()} != {expected.decode()} on command {chr(self._code)!r}"
        self._commands.append(Command(chr(self._code), bytes(self._data), checked=got == expected))
        self._state = _EXPECT_STX

    def _address(self) -> str:
        return bytes(self._header[1:3]).decode("ascii", "replace") if len(self._header) == 3 else ""

    def _finish(self, out: list[Item]) -> None:
        raw = bytes(self._raw)
        if self._bad:
            out.append(FrameError("checksum", self._bad, raw, self._address()))
        else:
            out.append(Packet(chr(self._header[0]), self._address(), tuple(self._commands), raw))
        self._reset()

    def _abort(self, out: list[Item], kind: str, reason: str) -> None:
        out.append(FrameError(kind, reason, bytes(self._raw), self._address()))
        self._reset()

    def _reset(self) -> None:
        self._state = _IDLE
        self._raw = bytearray()
        self._header = bytearray()
        self._commands, self._bad = [], ""

    def _flush_garbage(self, out: list[Item]) -> None:
        if self._garbage:
            out.append(FrameError("garbage", f"{len(self._garbage)} byte(s) outside any packet",
                                  bytes(self._garbage)))
            self._garbage = bytearray()
