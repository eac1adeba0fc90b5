"""Central side: decrypt a call's segment files, check they belong together, join them into one WAV."""
from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from appliance.common.files import replace_durably

from .age import AgeError, AgeReader, Identity
from .segment_meta import SAMPLE_BYTES, SegmentMeta


class JoinError(AgeError):
    """The segments given do not form one recording (another call, a gap, a duplicate, a splice)."""


@dataclass
class JoinResult:
    """What was written: the call, how much audio, and (salvage) what was lost at a cut."""
    out: Path
    call_key: str
    sample_rate: int
    channels: int
    segments: int
    samples: int = 0                    # per channel
    truncated: bool = False
    cut_segment: int | None = None      # index of the segment cut by a crash
    cut_recovered_samples: int = 0      # what its authentic chunks held
    dropped_bytes: int = 0              # ciphertext of an incomplete chunk left out
    notes: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.samples / self.sample_rate


def _check_set(metas: list[SegmentMeta], paths: Sequence[Path]) -> None:
    first = metas[0]
    for meta, path in zip(metas, paths):
        if meta.call_key != first.call_key:
            raise JoinError(f"{path.name} is segment {meta.index} of call {meta.call_key!r}, not of call "
                            f"{first.call_key!r}: segments of different calls given together (swapped?)")
        if (meta.sample_rate, meta.channels) != (first.sample_rate, first.channels):
            raise JoinError(f"{path.name}: {meta.sample_rate} Hz / {meta.channels} ch differs from "
                            f"{first.sample_rate} Hz / {first.channels} ch of the other segments")
    indexes = sorted(m.index for m in metas)
    for expected, got in enumerate(indexes):
        if got != expected:
            what = "given twice" if got < expected else "missing"
            raise JoinError(f"segment {min(got, expected)} of call {first.call_key!r} is {what} "
                            f"(segments given: {', '.join(map(str, indexes))})")


def _mark_truncated(f, text: str) -> None:
    """Append a RIFF LIST/INFO comment (ICMT) saying the audio is truncated, and fix the RIFF size."""
    note = text.encode("ascii", "replace") + b"\0"
    note += b"\0" * (len(note) % 2)
    body = b"INFO" + b"ICMT" + struct.pack("<I", len(note)) + note
    f.seek(0, os.SEEK_END)
    f.write(b"LIST" + struct.pack("<I", len(body)) + body)
    size = f.tell()
    f.seek(4)
    f.write(struct.pack("<I", size - 8))


def decrypt_segments(paths: Sequence[Path], identities: Sequence[Identity], out: Path, *,
                     salvage: bool = False) -> JoinResult:
    """Decrypt and join `paths` (any order) into the WAV `out` (0600), atomically.

    Every segment must be authentic (header MAC, every chunk), of one call, with consecutive
    indexes from 0 and contiguous samples. Without `salvage` each must end with its final chunk;
    with it, the last segment may be cut and its authentic chunks are kept. On any error nothing
    is left at `out` (AgeError / JoinError / OSError propagate).
    """
    if not paths:
        raise JoinError("no segment given")
    out = Path(out)
    paths = [Path(p) for p in paths]
    with contextlib.ExitStack() as stack:
        readers = []
        for path in paths:
            reader = AgeReader(stack.enter_context(open(path, "rb")), identities, salvage=salvage)
            try:
                meta = SegmentMeta.from_header(reader.header)
            except AgeError as exc:
                raise AgeError(f"{path.name}: {exc}") from None
            readers.append((meta, path, reader))
        _check_set([m for m, _, _ in readers], paths)
        readers.sort(key=lambda item: item[0].index)
        first = readers[0][0]
        result = JoinResult(out, first.call_key, first.sample_rate, first.channels, len(readers))
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
        try:
            with os.fdopen(fd, "w+b") as f:
                _write_wav(f, readers, result)
                f.flush()
                os.fsync(f.fileno())
            replace_durably(tmp, out)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
    return result


def _write_wav(f, readers, result: JoinResult) -> None:
    frame = result.channels * SAMPLE_BYTES
    with wave.open(f, "wb") as wav:
        wav.setnchannels(result.channels)
        wav.setsampwidth(SAMPLE_BYTES)
        wav.setframerate(result.sample_rate)
        for meta, path, reader in readers:
            if result.truncated:
                raise JoinError(f"segment {result.cut_segment} is cut but segment {meta.index} follows it: "
                                f"only the last segment of a recording can be cut by a crash")
            if meta.first_sample != result.samples:
                raise JoinError(f"{path.name} (segment {meta.index}) starts at sample {meta.first_sample} but "
                                f"the segments before it end at sample {result.samples}")
            got = 0
            try:
                for chunk in reader.chunks():
                    wav.writeframesraw(chunk)
                    got += len(chunk)
            except AgeError as exc:
                raise type(exc)(f"{path.name} (segment {meta.index}): {exc}") from None
            if got % frame:
                raise JoinError(f"{path.name}: {got} bytes of audio is not a whole number of frames")
            result.samples += got // frame
            if reader.truncated:
                result.truncated, result.cut_segment = True, meta.index
                result.cut_recovered_samples, result.dropped_bytes = got // frame, reader.dropped_bytes
    if result.truncated:
        _mark_truncated(f, f"TRUNCATED recording of call {result.call_key}: segment {result.cut_segment} "
                           f"was cut by a crash; {result.seconds:.3f} s recovered")
