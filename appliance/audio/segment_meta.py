"""The recording metadata stanza bound into each segment's age header, and header-only inspection of a file.

`-> appliance-recording/v1 <b64 call key> <segment> <rate> <channels> <first sample> <recipient fp>...`
with an empty body. age identities ignore stanzas of unknown type, and the header MAC covers it,
so it is readable without the key and cannot be edited without breaking the file
(docs/recording-format.md).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .age import CHUNK_SIZE, NONCE_SIZE, SEALED_CHUNK_SIZE, TAG_SIZE
from .age_header import AgeError, Header, Stanza, b64decode, b64encode, read_header

STANZA_TYPE = "appliance-recording/v1"
PART_SUFFIX = ".part"          # a segment still being written (or cut by a crash) carries this suffix
SAMPLE_BYTES = 2               # S16LE
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,17}")
_FP = re.compile(r"[0-9a-f]{16}")


class MetadataError(AgeError):
    """The file has no (or a malformed) recording metadata stanza: not one of our segments."""


@dataclass(frozen=True, slots=True)
class SegmentMeta:
    """What anyone may read from a segment without the key (and nobody may change)."""
    call_key: str
    index: int
    sample_rate: int
    channels: int
    first_sample: int
    recipients: tuple[str, ...]      # fingerprints of the recipients it was encrypted to

    @property
    def frame_bytes(self) -> int:
        return self.channels * SAMPLE_BYTES

    def to_stanza(self) -> Stanza:
        numbers = (self.index, self.sample_rate, self.channels, self.first_sample)
        return Stanza(STANZA_TYPE, (b64encode(self.call_key.encode("utf-8")), *map(str, numbers),
                                    *self.recipients), b"")

    @classmethod
    def from_header(cls, header: Header) -> "SegmentMeta":
        found = header.of_type(STANZA_TYPE)
        if len(found) != 1:
            raise MetadataError(f"{'no' if not found else 'more than one'} {STANZA_TYPE} stanza in the header: "
                                f"not a recording segment of this appliance")
        stanza = found[0]
        args = stanza.args
        if len(args) < 6 or stanza.body or not all(_DECIMAL.fullmatch(a) for a in args[1:5]) \
                or not all(_FP.fullmatch(a) for a in args[5:]):
            raise MetadataError(f"malformed {STANZA_TYPE} stanza: {' '.join(args)[:200]}")
        try:
            call_key = b64decode(args[0]).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise MetadataError(f"malformed call key in the {STANZA_TYPE} stanza") from None
        index, rate, channels, first = (int(a) for a in args[1:5])
        if not rate or not channels:
            raise MetadataError(f"{STANZA_TYPE} stanza with a zero sample rate or channel count")
        return cls(call_key, index, rate, channels, first, tuple(args[5:]))


@dataclass(frozen=True, slots=True)
class SegmentFileInfo:
    """A segment file as seen without the key: metadata, sizes, ciphertext hash, whether it looks complete."""
    path: Path
    meta: SegmentMeta
    size: int
    header_bytes: int
    sha256: str
    complete: bool           # closed by the writer and ends where a final chunk can end
    state: str               # human-readable: why complete or not
    whole_chunks: int        # full-size sealed chunks: what salvage can at least try to recover

    @property
    def recoverable_samples(self) -> int:
        """Samples per channel in whole chunks (a lower bound of what an authentic decrypt yields)."""
        return self.whole_chunks * CHUNK_SIZE // self.meta.frame_bytes

    @property
    def samples(self) -> int:
        """Samples per channel in the payload if it is complete, else the recoverable lower bound."""
        payload = self.size - self.header_bytes - NONCE_SIZE
        chunks = max(1, -(-payload // SEALED_CHUNK_SIZE))
        if not self.complete:
            return self.recoverable_samples
        return (payload - chunks * TAG_SIZE) // self.meta.frame_bytes


def _structure(payload: int) -> tuple[bool, int, str]:
    """(could end with a final chunk, whole chunks, explanation) from the payload length alone."""
    if payload < 0:
        return False, 0, "cut inside the payload nonce"
    whole, rest = divmod(payload, SEALED_CHUNK_SIZE)
    if rest > TAG_SIZE or (rest == 0 and whole) or (rest == TAG_SIZE and not whole):
        return True, whole, "ends where a final chunk can end"
    if rest == 0:
        return False, 0, "no payload chunk at all"
    return False, whole, f"ends with {rest} bytes, too short for a chunk"


def inspect(path: str | Path) -> SegmentFileInfo:
    """Read the header and hash the file; never needs the key. Raises AgeError for non-segments."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            header = read_header(f)
            f.seek(0)
            while block := f.read(1 << 20):
                digest.update(block)
            size = f.tell()
    except OSError as exc:
        raise AgeError(f"cannot read {path}: {exc}") from None
    meta = SegmentMeta.from_header(header)
    plausible, whole, why = _structure(size - header.length - NONCE_SIZE)
    if path.name.endswith(PART_SUFFIX):
        complete, state = False, f"not closed by the writer (still open, or cut by a crash); {why}"
    else:
        complete, state = plausible, ("closed; " if plausible else "cut: ") + why
    return SegmentFileInfo(path, meta, size, header.length, digest.hexdigest(), complete, state, whole)
