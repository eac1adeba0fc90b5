"""Line framing, written once: bytes -> lines, the same however the stream was split into reads."""
from __future__ import annotations

import re

# One terminator: CR LF, a bare LF, or a bare CR; CR CR LF (some modems) counts once.
_TERMINATOR = rb"\r+\n?|\n"

LONG_PIECE = "line longer than {max} bytes without a terminator"
LONG_TAIL = "tail of an over-long line"
CUT_AT_END = "incomplete line at end of stream (no terminator)"


class LineFramer:
    """Cut a byte stream into (line, problem) pairs; problem is "" for a good line.

    * Every terminator ends a line; a terminator cut between two reads (CR | LF) counts once.
    * `also_ends` bytes end a line too (a printer's form feed).
    * `strip_leading` bytes are dropped at the start of a line (Avaya's leading NULs).
    * `blank_lines`: report empty lines as (b"", "") (V.253 caller-ID blocks end with one);
      otherwise they are skipped.
    * A line longer than `max_line` comes out in `max_line` pieces flagged LONG_PIECE, then its
      tail flagged LONG_TAIL when the terminator arrives: memory stays bounded, no byte is lost.
    * `flush()` at end of stream hands out an unterminated rest flagged CUT_AT_END.
    """

    def __init__(self, *, also_ends: bytes = b"", strip_leading: bytes = b"", blank_lines: bool = False,
                 max_line: int = 4096):
        if max_line < 1:
            raise ValueError("max_line must be at least 1")
        pattern = _TERMINATOR + (b"|[" + re.escape(also_ends) + b"]" if also_ends else b"")
        self._finditer = re.compile(pattern).finditer
        self._also = tuple(also_ends[i:i + 1] for i in range(len(also_ends)))
        self._strip = strip_leading
        self._blank = blank_lines
        self.max_line = max_line
        self._buf = b""
        self._long = False          # inside an over-long line: pieces already handed out
        self._after_cr = False      # the last read ended on CR: a leading LF belongs to it

    @property
    def pending(self) -> int:
        """Bytes of an unterminated line held back (0 when the stream ended on a terminator)."""
        return len(self._buf)

    def feed(self, data: bytes) -> list[tuple[bytes, str]]:
        out: list[tuple[bytes, str]] = []
        if self._after_cr and data:
            i = 0
            while i < len(data) and data[i] == 13:
                i += 1
            if i < len(data):
                self._after_cr = False
                if data[i] == 10:
                    i += 1
            data = data[i:]
        buf = self._buf + data if self._buf else data
        if self._plain(buf):
            # Every terminator is LF or CR LF (what PBXs send): split in C instead of scanning by regex.
            lines = (buf.replace(b"\r\n", b"\n") if 13 in buf else buf).split(b"\n")
            rest = lines.pop()
            line_out = self._line
            for line in lines:
                line_out(line, out)
        else:
            pos = 0
            for m in self._finditer(buf):
                self._line(buf[pos:m.start()], out)
                pos = m.end()
            if pos and pos == len(buf) and buf[-1] == 13:
                self._after_cr = True
            rest = buf[pos:]
        if not self._long and self._strip:
            rest = rest.lstrip(self._strip)
        if len(rest) > self.max_line:
            rest = self._cut(rest, out)
            self._long = True
        self._buf = rest
        return out

    def _plain(self, buf: bytes) -> bool:
        """No bare CR, no CR CR and no extra line ends in buf: LF and CR LF are its only terminators."""
        if self._also and any(b in buf for b in self._also):
            return False
        crs = buf.count(b"\r")
        return not crs or crs == buf.count(b"\r\n")      # every CR is part of a CR LF

    def flush(self) -> list[tuple[bytes, str]]:
        """End of stream (connection closed, port gone): the unterminated rest, if any."""
        tail, self._buf = self._buf, b""
        was_long, self._long = self._long, False
        self._after_cr = False
        if not tail:
            return []
        return [(tail, LONG_TAIL if was_long else CUT_AT_END)]

    def _line(self, line: bytes, out: list[tuple[bytes, str]]) -> None:
        if self._long:
            self._long = False
            if len(line) > self.max_line:
                line = self._cut(line, out)
            out.append((line, LONG_TAIL))
            return
        if self._strip:
            line = line.lstrip(self._strip)
        if not line:
            if self._blank:
                out.append((b"", ""))
            return
        if len(line) > self.max_line:
            out.append((self._cut(line, out), LONG_TAIL))
            return
        out.append((line, ""))

    def _cut(self, line: bytes, out: list[tuple[bytes, str]]) -> bytes:
        """Emit whole max_line pieces while more bytes follow them; return what is left."""
        step = self.max_line
        start = 0
        while len(line) - start > step:
            out.append((line[start:start + step], LONG_PIECE.format(max=step)))
            start += step
        return line[start:]
