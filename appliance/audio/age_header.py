"""The age v1 text header (c2sp.org/age): stanzas, canonical unpadded base64, parsing and the header MAC."""
from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from hashlib import sha256
from typing import BinaryIO

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION_LINE = b"age-encryption.org/v1\n"
STANZA_PREFIX = b"-> "
MAC_PREFIX = b"---"
COLUMNS = 64                      # a stanza body is wrapped at 64 base64 characters
BYTES_PER_LINE = COLUMNS // 4 * 3
MAX_LINE = 16 * 1024              # a longer header line is garbage, not a header
MAX_HEADER = 1024 * 1024


class AgeError(Exception):
    """Any failure to read or decrypt an age file; the message says what and where."""


class HeaderError(AgeError):
    """The header is not a well-formed age v1 header."""


class HeaderMacMismatch(AgeError):
    """The header MAC does not verify: a stanza (recipient or metadata) was altered."""


def b64encode(data: bytes) -> str:
    """Standard base64 without '=' padding (the spec's only encoding)."""
    return base64.b64encode(data).decode("ascii").rstrip("=")


def b64decode(text: str) -> bytes:
    """Strict inverse of b64encode: rejects padding, newlines, other alphabets and non-canonical tails."""
    if text == "":
        return b""
    if "=" in text or len(text) % 4 == 1 or not text.isascii():
        raise ValueError(f"not canonical unpadded base64: {text[:80]!r}")
    try:
        data = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not canonical unpadded base64: {text[:80]!r}") from exc
    if b64encode(data) != text:    # non-zero padding bits: another string decodes to the same bytes
        raise ValueError(f"not canonical unpadded base64: {text[:80]!r}")
    return data


def _valid_arg(arg: str) -> bool:
    return bool(arg) and all(33 <= ord(ch) <= 126 for ch in arg)


@dataclass(frozen=True, slots=True)
class Stanza:
    """One header stanza: `-> TYPE ARG...` and a body (base64, wrapped at 64 columns)."""
    type: str
    args: tuple[str, ...]
    body: bytes

    def __post_init__(self) -> None:
        for arg in (self.type, *self.args):
            if not _valid_arg(arg):
                raise ValueError(f"stanza argument {arg!r} is empty or not printable ASCII")

    def marshal(self) -> bytes:
        text = b64encode(self.body)
        lines = [text[i:i + COLUMNS] for i in range(0, len(text), COLUMNS)]
        if not lines or len(lines[-1]) == COLUMNS:
            lines.append("")      # the body always ends with a line shorter than 64 columns
        head = " ".join(("->", self.type, *self.args))
        return (head + "\n" + "\n".join(lines) + "\n").encode("ascii")


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed header: its stanzas, its MAC and its exact length in the file."""
    stanzas: tuple[Stanza, ...]
    mac: bytes
    length: int

    def of_type(self, type_: str) -> list[Stanza]:
        return [s for s in self.stanzas if s.type == type_]


def header_key(file_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"header").derive(file_key)


def unsigned_header(stanzas: tuple[Stanza, ...] | list[Stanza]) -> bytes:
    """The bytes the MAC covers: version line, stanzas, and `---` (without the space after it)."""
    return VERSION_LINE + b"".join(s.marshal() for s in stanzas) + MAC_PREFIX


def header_mac(file_key: bytes, stanzas: tuple[Stanza, ...] | list[Stanza]) -> bytes:
    return hmac.new(header_key(file_key), unsigned_header(stanzas), sha256).digest()


def marshal_header(file_key: bytes, stanzas: tuple[Stanza, ...] | list[Stanza]) -> bytes:
    return unsigned_header(stanzas) + b" " + b64encode(header_mac(file_key, stanzas)).encode() + b"\n"


def verify_mac(file_key: bytes, header: Header) -> None:
    if not hmac.compare_digest(header_mac(file_key, header.stanzas), header.mac):
        raise HeaderMacMismatch("header MAC mismatch: the header (a recipient or metadata stanza) "
                                "was altered after the file was written")


class _Lines:
    """Reads header lines from a binary stream without reading past the header."""

    def __init__(self, src: BinaryIO):
        self.src = src
        self.used = 0

    def next(self, what: str) -> bytes:
        line = self.src.readline(MAX_LINE + 1)
        self.used += len(line)
        if not line or (not line.endswith(b"\n") and len(line) <= MAX_LINE):
            raise HeaderError(f"file ends inside the header (expected {what}): cut or not an age file")
        if not line.endswith(b"\n"):
            raise HeaderError(f"header line longer than {MAX_LINE} bytes: not an age file")
        if self.used > MAX_HEADER:
            raise HeaderError("header larger than 1 MiB: not an age file")
        return line[:-1]


def _text(line: bytes, what: str) -> str:
    try:
        return line.decode("ascii")
    except UnicodeDecodeError:
        raise HeaderError(f"non-ASCII byte in the header ({what})") from None


def read_header(src: BinaryIO) -> Header:
    """Parse the header from the start of `src`, leaving `src` at the first byte of the payload."""
    lines = _Lines(src)
    first = lines.src.readline(len(VERSION_LINE))
    lines.used = len(first)
    if first != VERSION_LINE:
        raise HeaderError("not an age v1 file (the first line is not 'age-encryption.org/v1')")
    stanzas: list[Stanza] = []
    line = lines.next("a stanza or the MAC line")
    while True:
        if line.startswith(MAC_PREFIX):
            parts = _text(line, "MAC line").split(" ")
            if parts[0] != "---" or len(parts) != 2:
                raise HeaderError(f"malformed MAC line {line[:80]!r}")
            try:
                mac = b64decode(parts[1])
            except ValueError as exc:
                raise HeaderError(f"malformed MAC line: {exc}") from None
            if len(mac) != 32:
                raise HeaderError("malformed MAC line: the MAC is not 32 bytes")
            if not stanzas:
                raise HeaderError("header has no recipient stanza")
            return Header(tuple(stanzas), mac, lines.used)
        if not line.startswith(STANZA_PREFIX):
            raise HeaderError(f"malformed header line {line[:80]!r} (expected '-> ' or '---')")
        args = _text(line, "stanza line").split(" ")[1:]
        if not args or not all(_valid_arg(a) for a in args):
            raise HeaderError(f"malformed stanza line {line[:80]!r}")
        body = bytearray()
        while True:
            text = _text(lines.next("a stanza body line"), "stanza body")
            if len(text) > COLUMNS:
                raise HeaderError("stanza body line longer than 64 columns")
            try:
                body += b64decode(text)
            except ValueError as exc:
                raise HeaderError(f"malformed stanza body: {exc}") from None
            if len(text) < COLUMNS:
                break
        stanzas.append(Stanza(args[0], tuple(args[1:]), bytes(body)))
        line = lines.next("a stanza or the MAC line")
