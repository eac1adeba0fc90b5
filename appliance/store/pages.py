"""Rows read straight from a damaged SQLite file's pages (and its WAL), by the file format, not by SQLite.

Written from https://www.sqlite.org/fileformat2.html: the 100-byte header, b-tree pages, cells with
overflow chains, the record format, the freelist, and WAL frames (salts and cumulative checksums;
only frames up to the last valid commit count). Every page and every cell is parsed on its own, so
damage costs the rows on the damaged page and nothing else. Nothing here writes.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

HEADER_MAGIC = b"SQLite format 3\x00"
WAL_MAGICS = (0x377F0682, 0x377F0683)
TABLE_LEAF, TABLE_INTERIOR, INDEX_LEAF, INDEX_INTERIOR = 13, 5, 10, 2
DEFAULT_PAGE_SIZE = 4096


class PageError(ValueError):
    """A page or cell that does not parse as the format says."""


def varint(buf: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the SQLite varint at pos (1 to 9 bytes, big-endian)."""
    value = 0
    for i in range(8):
        if pos + i >= len(buf):
            raise PageError("varint runs past the page")
        byte = buf[pos + i]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, pos + i + 1
    if pos + 8 >= len(buf):
        raise PageError("varint runs past the page")
    return (value << 8) | buf[pos + 8], pos + 9


_INT_SIZES = {1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8}


def decode_record(payload: bytes) -> list:
    """The column values of one record (NULL, int, float, text, blob)."""
    header_size, pos = varint(payload, 0)
    if header_size > len(payload) or header_size < pos:
        raise PageError("record header larger than the record")
    types = []
    while pos < header_size:
        t, pos = varint(payload, pos)
        types.append(t)
    body, values = header_size, []
    for t in types:
        if t == 0:
            values.append(None)
        elif t in _INT_SIZES:
            n = _INT_SIZES[t]
            values.append(int.from_bytes(payload[body:body + n], "big", signed=True))
            body += n
        elif t == 7:
            values.append(struct.unpack(">d", payload[body:body + 8])[0])
            body += 8
        elif t in (8, 9):
            values.append(t - 8)
        elif t >= 12:
            n = (t - 12) // 2
            chunk = payload[body:body + n]
            if len(chunk) != n:
                raise PageError("record body shorter than its header says")
            values.append(bytes(chunk) if t % 2 == 0 else chunk.decode("utf-8"))
            body += n
        else:
            raise PageError(f"reserved serial type {t}")
        if body > len(payload):
            raise PageError("record body shorter than its header says")
    return values


def _wal_checksum(data: bytes, big_endian: bool, s0: int, s1: int) -> tuple[int, int]:
    words = struct.unpack(f"{'>' if big_endian else '<'}{len(data) // 4}I", data)
    for i in range(0, len(words), 2):
        s0 = (s0 + words[i] + s1) & 0xFFFFFFFF
        s1 = (s1 + words[i + 1] + s0) & 0xFFFFFFFF
    return s0, s1


def read_wal(path: Path) -> tuple[int, dict[int, bytes]]:
    """(page size, {page number: newest committed image}) from a WAL file; (0, {}) if it has none."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return 0, {}
    if len(data) < 32:
        return 0, {}
    magic, _version, page_size, _seq, salt1, salt2, c0, c1 = struct.unpack(">8I", data[:32])
    if magic not in WAL_MAGICS or page_size < 512 or page_size & (page_size - 1):
        return 0, {}
    big = bool(magic & 1)
    s0, s1 = _wal_checksum(data[:24], big, 0, 0)
    if (s0, s1) != (c0, c1):
        return 0, {}
    committed: dict[int, bytes] = {}
    pending: dict[int, bytes] = {}
    pos, frame = 32, 24 + page_size
    while pos + frame <= len(data):
        pgno, commit, fs1, fs2, fc0, fc1 = struct.unpack(">6I", data[pos:pos + 24])
        if (fs1, fs2) != (salt1, salt2):
            break
        image = data[pos + 24:pos + frame]
        s0, s1 = _wal_checksum(data[pos:pos + 8] + image, big, s0, s1)
        if (s0, s1) != (fc0, fc1):
            break
        pending[pgno] = image
        if commit:
            committed.update(pending)
            pending.clear()
        pos += frame
    return page_size, committed


@dataclass
class Walk:
    """What walking one b-tree from its root found."""
    rows: dict[int, list] = field(default_factory=dict)       # rowid -> values (table b-trees)
    pages: set[int] = field(default_factory=set)              # every page reached, overflow included
    bad_pages: set[int] = field(default_factory=set)          # reached but unreadable
    bad_cells: int = 0


class PageReader:
    """Pages of a database file with its WAL applied; table rows by b-tree walk or page by page."""

    def __init__(self, db_path: Path, wal_path: Path | None = None):
        self.path = Path(db_path)
        self._file = self.path.read_bytes()
        wal_page_size, self._wal = read_wal(wal_path) if wal_path is not None else (0, {})
        self.wal_frames = len(self._wal)
        first = self._wal.get(1, self._file[:100])
        self.header_ok = first[:16] == HEADER_MAGIC
        size = DEFAULT_PAGE_SIZE
        if self.header_ok:
            raw = struct.unpack(">H", first[16:18])[0]
            size = 65536 if raw == 1 else raw
        elif wal_page_size:
            size = wal_page_size
        self.page_size = size
        self.usable = size - (first[20] if self.header_ok else 0)
        in_file = len(self._file) // size
        self.page_count = max([in_file, *self._wal.keys()]) if self._wal else in_file
        self.freelist_trunk = struct.unpack(">I", first[32:36])[0] if self.header_ok else 0

    def page(self, pgno: int) -> bytes:
        if pgno in self._wal:
            return self._wal[pgno]
        if not 1 <= pgno <= self.page_count:
            raise PageError(f"page {pgno} is beyond the end of the file")
        data = self._file[(pgno - 1) * self.page_size:pgno * self.page_size]
        if len(data) < self.page_size:
            raise PageError(f"page {pgno} is cut short")
        return data

    # ---- b-tree pages ---------------------------------------------------------------------

    def _header(self, pgno: int) -> tuple[bytes, int, int, list[int]]:
        """(page, type, right-most child or 0, cell offsets), checked for plausibility."""
        data = self.page(pgno)
        base = 100 if pgno == 1 else 0
        kind = data[base]
        if kind not in (TABLE_LEAF, TABLE_INTERIOR, INDEX_LEAF, INDEX_INTERIOR):
            raise PageError(f"page {pgno}: not a b-tree page (type {kind})")
        ncells = struct.unpack(">H", data[base + 3:base + 5])[0]
        interior = kind in (TABLE_INTERIOR, INDEX_INTERIOR)
        start = base + (12 if interior else 8)
        if start + 2 * ncells > self.usable:
            raise PageError(f"page {pgno}: {ncells} cells cannot fit")
        right = struct.unpack(">I", data[base + 8:base + 12])[0] if interior else 0
        offsets = list(struct.unpack(f">{ncells}H", data[start:start + 2 * ncells]))
        if any(not start + 2 * ncells <= off < self.usable for off in offsets):
            raise PageError(f"page {pgno}: a cell lies outside the page")
        return data, kind, right, offsets

    def _payload(self, data: bytes, pos: int, size: int, seen: set[int]) -> bytes:
        """A table-leaf cell's payload: the local part, then its overflow chain."""
        if size > 1 << 30:
            raise PageError("payload size out of range")
        u = self.usable
        x = u - 35
        if size <= x:
            local = size
        else:
            m = ((u - 12) * 32 // 255) - 23
            k = m + ((size - m) % (u - 4))
            local = k if k <= x else m
        out = bytearray(data[pos:pos + local])
        if len(out) != local:
            raise PageError("cell runs past the page")
        if local == size:
            return bytes(out)
        next_page = struct.unpack(">I", data[pos + local:pos + local + 4])[0]
        while len(out) < size:
            if next_page in seen or not 1 <= next_page <= self.page_count:
                raise PageError(f"bad overflow page {next_page}")
            seen.add(next_page)
            chunk = self.page(next_page)
            next_page = struct.unpack(">I", chunk[:4])[0]
            out += chunk[4:u][:size - len(out)]
        return bytes(out)

    def leaf_rows(self, pgno: int, walk: Walk) -> None:
        """Add the rows of one table-leaf page to `walk` (a cell that does not parse is counted)."""
        data, kind, _right, offsets = self._header(pgno)
        if kind != TABLE_LEAF:
            raise PageError(f"page {pgno}: not a table leaf")
        for off in offsets:
            try:
                size, pos = varint(data, off)
                rowid, pos = varint(data, pos)
                walk.rows[rowid] = decode_record(self._payload(data, pos, size, walk.pages))
            except (PageError, UnicodeDecodeError, struct.error):   # noqa: PERF203 - per cell on purpose
                walk.bad_cells += 1

    def walk(self, root: int) -> Walk:
        """Every row reachable from `root` (a table or index b-tree); damaged pages are skipped."""
        walk, todo = Walk(), [root]
        while todo:
            pgno = todo.pop()
            if pgno in walk.pages or not 1 <= pgno <= self.page_count:
                if pgno not in walk.pages:
                    walk.bad_pages.add(pgno)
                continue
            walk.pages.add(pgno)
            try:
                data, kind, right, offsets = self._header(pgno)
                if kind == TABLE_LEAF:
                    self.leaf_rows(pgno, walk)
                elif kind in (TABLE_INTERIOR, INDEX_INTERIOR):
                    todo.append(right)
                    todo.extend(struct.unpack(">I", data[off:off + 4])[0] for off in offsets)
            except (PageError, struct.error):
                walk.bad_pages.add(pgno)
        return walk

    def freelist(self) -> set[int]:
        """Pages on the freelist (trunks and leaves), as far as the trunk chain can be read."""
        free, trunk = set(), self.freelist_trunk
        while trunk and trunk not in free and 1 <= trunk <= self.page_count:
            free.add(trunk)
            try:
                data = self.page(trunk)
            except PageError:
                break
            nxt, count = struct.unpack(">II", data[:8])
            if count > (self.usable - 8) // 4:
                break
            free.update(struct.unpack(f">{count}I", data[8:8 + 4 * count]))
            trunk = nxt
        return free

    def schema(self) -> dict[str, tuple[str, int]]:
        """name -> (type, root page) from sqlite_schema (page 1's b-tree); {} if unreadable."""
        if not self.header_ok:
            return {}
        out = {}
        for values in self.walk(1).rows.values():
            if len(values) >= 4 and isinstance(values[1], str) and isinstance(values[3], int):
                out[values[1]] = (str(values[0]), values[3])
        return out
