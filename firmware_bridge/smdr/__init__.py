"""PBX call-record (SMDR) codecs, drivers and emulators, and the line framing the codecs share."""
from __future__ import annotations

import importlib
import re

# Public names load lazily: `from firmware_bridge.smdr import AvayaCodec` imports only avaya.py.
_EXPORTS = {
    "AvayaCodec": "avaya", "parse_avaya_line": "avaya", "encode_avaya_record": "avaya",
    "PanasonicCodec": "panasonic", "PanasonicOptions": "panasonic",
    "panasonic_end_time": "panasonic", "encode_panasonic_record": "panasonic",
    "PanasonicSerialDriver": "driver", "AvayaTcpListener": "driver",
    "AvayaEmulator": "emulator", "PanasonicEmulator": "emulator",
    "generate_avaya_calls": "calls", "generate_panasonic_calls": "calls",
}
_ALIASES = {"encode_avaya_record": "encode_record", "encode_panasonic_record": "encode_record",
            "parse_avaya_line": "parse_line"}

__all__ = ["LineFramer", "LineCodec", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), _ALIASES.get(name, name))


class LineFramer:
    """Cut a byte stream into lines, the same way however the stream was split into reads.

    Any byte of `terminators` ends a line (so CR LF, bare CR and bare LF all work; the empty line
    between CR and LF is dropped). Bytes in `strip_leading` are dropped at the start of a line.
    A line longer than `max_line` is handed out in `max_line`-sized pieces flagged as over-long,
    then its tail when the terminator finally arrives: memory stays bounded and no byte is lost.
    """

    def __init__(self, terminators: bytes = b"\r\n", *, strip_leading: bytes = b"\x00",
                 max_line: int = 4096):
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        self._split = re.compile(b"[" + re.escape(terminators) + b"]").split
        self._strip = strip_leading
        self.max_line = max_line
        self._buf = b""
        self._overflowing = False

    @property
    def pending(self) -> int:
        """Bytes of an unterminated line held back (0 when the stream ended on a terminator)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[bytes, str]]:
        """Return (line, problem) pairs; problem is "" for a normal line, else why it is bad."""
        pieces = self._split(self._buf + data if self._buf else data)
        out: list[tuple[bytes, str]] = []
        tail = pieces.pop()
        for line in pieces:
            if not self._overflowing:
                line = line.lstrip(self._strip) if self._strip else line
                if not line:
                    continue
                if len(line) <= self.max_line:
                    out.append((line, ""))
                    continue
            out.append((self._cut(line, out), "tail of an over-long line"))
            self._overflowing = False
        if not self._overflowing and self._strip:
            tail = tail.lstrip(self._strip)
        if len(tail) > self.max_line:
            tail = self._cut(tail, out)
            self._overflowing = True
        self._buf = tail
        return out

    def flush(self) -> list[tuple[bytes, str]]:
        """End of stream (connection closed, port gone): hand out the unterminated rest, if any."""
        tail, self._buf = self._buf, b""
        was_long, self._overflowing = self._overflowing, False
        if not tail:
            return []
        return [(tail, "tail of an over-long line" if was_long
                 else "incomplete line at end of stream (no terminator)")]

    def _cut(self, line: bytes, out: list[tuple[bytes, str]]) -> bytes:
        """Emit whole max_line pieces while more bytes follow them; return what is left."""
        step = self.max_line
        start = 0
        while len(line) - start > step:
            out.append((line[start:start + step],
                        f"line longer than {step} bytes without a terminator"))
            start += step
        return line[start:]


class LineCodec:
    """What every line-based SMDR codec shares: framing, counters, feed() and flush().

    Subclasses turn framed lines into events in `_events(lines)`; `lines` holds
    (line, problem) pairs from LineFramer, where a non-empty problem means the line is garbage.
    """

    def __init__(self, terminators: bytes, *, max_line: int, counters: tuple[str, ...] = ()):
        self._framer = LineFramer(terminators, strip_leading=b"\x00", max_line=max_line)
        self.stats = {"records": 0, "errors": 0, **{name: 0 for name in counters}, "bytes": 0}

    @property
    def pending(self) -> int:
        """Bytes of an unterminated record held back."""
        return self._framer.pending

    def feed(self, data: bytes) -> list:
        self.stats["bytes"] += len(data)
        return self._events(self._framer.feed(data))

    def flush(self) -> list:
        """End of stream: an unterminated rest comes out as a ProtocolError (never guessed at)."""
        return self._events(self._framer.flush())

    def _events(self, lines: list[tuple[bytes, str]]) -> list:
        raise NotImplementedError

