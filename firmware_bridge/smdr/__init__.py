"""PBX call-record (SMDR) codecs, drivers and emulators, and the line framing the codecs share."""
from __future__ import annotations

import importlib

from firmware_bridge.framing import LineFramer

# Public names load lazily: `from firmware_bridge.smdr import AvayaCodec` imports only avaya.py.
_EXPORTS = {
    "AvayaCodec": "avaya", "parse_avaya_line": "avaya", "encode_avaya_record": "avaya",
    "PanasonicCodec": "panasonic", "PanasonicOptions": "panasonic",
    "panasonic_end_time": "panasonic", "encode_panasonic_record": "panasonic",
    "PanasonicSerialDriver": "driver", "AvayaReceiver": "receiver",
    "AvayaEmulator": "emulator", "PanasonicEmulator": "emulator",
    "generate_avaya_calls": "traffic", "generate_panasonic_calls": "traffic",
}
_ALIASES = {"encode_avaya_record": "encode_record", "encode_panasonic_record": "encode_record",
            "parse_avaya_line": "parse_line"}

__all__ = ["LineCodec", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), _ALIASES.get(name, name))


class LineCodec:
    """What every line-based SMDR codec shares: framing, counters, feed() and flush().

    Subclasses turn framed lines into events in `_events(lines)`; `lines` holds
    (line, problem) pairs from LineFramer, where a non-empty problem means the line is garbage.
    """

    def __init__(self, *, max_line: int, also_ends: bytes = b"", counters: tuple[str, ...] = ()):
        self._framer = LineFramer(also_ends=also_ends, strip_leading=b"\x00", max_line=max_line)
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

