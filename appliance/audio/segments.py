"""SegmentWriter: one call's audio as age-encrypted segment files, encrypted as it is captured."""
from __future__ import annotations

import hashlib
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from appliance.calls.record import RecordingSegment
from appliance.common.files import fsync_dir
from .age import AgeError, AgeKeyError, AgeWriter, Recipient
from .segment_meta import PART_SUFFIX, SAMPLE_BYTES, SegmentMeta, inspect

SUFFIX = ".age"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_PART_NAME = re.compile(r"\.(\d+)\.age\.part$")


class RecordingRefused(Exception):
    """The recording cannot start (no usable recipient, segment file already there): nothing is recorded."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class RecordingFailed(Exception):
    """Writing failed mid-call (disk full, I/O error); `segments` is what is on disk (the last one cut)."""

    def __init__(self, reason: str, segments: list[RecordingSegment]):
        super().__init__(reason)
        self.reason = reason
        self.segments = segments


def segment_name(call_key: str, index: int) -> str:
    """File name of a closed segment: safe characters of the call key, a short hash of it, the index."""
    safe = _UNSAFE.sub("_", call_key).strip("_")[:64] or "call"
    return f"{safe}-{hashlib.sha256(call_key.encode('utf-8')).hexdigest()[:8]}.{index:04d}{SUFFIX}"


@dataclass
class _Open:
    index: int
    path: Path                # the .part file being written
    file: io.FileIO
    writer: AgeWriter
    first_sample: int
    frames: int = 0


class SegmentWriter:
    """One call's recording as age-encrypted segment files in `directory` (0600 files, 0700 dir).

    `write` takes interleaved S16LE frames (caller left, agent right), any length; each segment
    holds `segment_s` of audio and becomes a complete age file (renamed from `.part`) the moment
    its last frame arrives. Plaintext exists only in memory, at most one 64 KiB chunk of it.
    """

    def __init__(self, directory: Path, call_key: str, recipients: Sequence[str], sample_rate: int, *,
                 segment_s: float = 300.0, channels: int = 2, fsync: bool = True):
        if not call_key or sample_rate <= 0 or channels <= 0 or segment_s <= 0:
            raise ValueError("call_key, sample_rate, channels and segment_s must be non-empty / positive")
        self.directory, self.call_key = Path(directory), call_key
        self.sample_rate, self.channels, self._fsync = sample_rate, channels, fsync
        self._recipients = _usable_recipients(recipients)
        self._frame = channels * SAMPLE_BYTES
        self._segment_frames = max(1, round(segment_s * sample_rate))
        self._done: list[RecordingSegment] = []
        self._open: _Open | None = None
        self._pending = b""            # an incomplete frame waiting for its other bytes
        self._frames = 0               # samples per channel handed to segments so far
        self._failed: RecordingFailed | None = None
        self._closed = False
        self.dropped_bytes = 0         # an incomplete frame at close
        for name in (segment_name(call_key, 0), segment_name(call_key, 0) + PART_SUFFIX):
            if (self.directory / name).exists():
                raise RecordingRefused(f"segment file {name} already exists: not overwriting a recording")
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            self._start()
        except OSError as exc:
            self._fail(exc)

    # -- public --------------------------------------------------------------------------------------

    def write(self, pcm: bytes) -> None:
        if self._failed:
            raise self._failed
        if self._closed:
            raise ValueError("write after close")
        data = memoryview(self._pending + bytes(pcm)) if self._pending else memoryview(pcm).cast("B")
        usable = len(data) - len(data) % self._frame
        self._pending = bytes(data[usable:])
        pos = 0
        try:
            while pos < usable:
                if self._open is None:
                    self._start()
                seg = self._open
                take = min((self._segment_frames - seg.frames) * self._frame, usable - pos)
                seg.writer.write(data[pos:pos + take])
                seg.frames += take // self._frame
                self._frames += take // self._frame
                pos += take
                if seg.frames == self._segment_frames:
                    self._finish()
        except OSError as exc:
            self._fail(exc)

    def close(self) -> list[RecordingSegment]:
        """Finish the open segment; returns every segment (all complete unless a write failed)."""
        if self._failed:
            return list(self._failed.segments)
        if not self._closed:
            self.dropped_bytes = len(self._pending)
            self._pending = b""
            try:
                if self._open is not None:
                    self._finish()
            except OSError as exc:
                self._fail(exc)
            self._closed = True
        return list(self._done)

    @property
    def segments(self) -> list[RecordingSegment]:
        """Segments closed so far, plus the open one (complete=False)."""
        if self._failed:
            return list(self._failed.segments)
        seg = self._open
        if seg is None:
            return list(self._done)
        return [*self._done, RecordingSegment(seg.index, seg.path.name, seg.writer.sha256,
                                              seg.writer.ciphertext_bytes, seg.first_sample, seg.frames, False)]

    @property
    def samples(self) -> int:
        return self._frames

    # -- internals -----------------------------------------------------------------------------------

    def _start(self) -> None:
        index = len(self._done)
        path = self.directory / (segment_name(self.call_key, index) + PART_SUFFIX)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        file = io.FileIO(fd, "wb", closefd=True)
        try:
            os.fchmod(fd, 0o600)
            meta = SegmentMeta(self.call_key, index, self.sample_rate, self.channels, self._frames,
                               tuple(r.fingerprint for r in self._recipients))
            writer = AgeWriter(file, self._recipients, extra_stanzas=[meta.to_stanza()], fsync=self._fsync)
        except OSError as exc:          # disk full while writing the header: report the cut file
            file.close()
            self._fail(exc, _on_disk(path, index, self._frames))
        self._open = _Open(index, path, file, writer, self._frames)
        if self._fsync:
            fsync_dir(self.directory)

    def _finish(self) -> None:
        seg = self._open
        seg.writer.close()
        seg.file.close()
        name = segment_name(self.call_key, seg.index)
        if (self.directory / name).exists():
            raise FileExistsError(f"{name} already exists")
        os.rename(seg.path, self.directory / name)
        if self._fsync:
            fsync_dir(self.directory)
        self._done.append(RecordingSegment(seg.index, name, seg.writer.sha256, seg.writer.ciphertext_bytes,
                                           seg.first_sample, seg.frames, True))
        self._open = None

    def _fail(self, exc: OSError, cut: RecordingSegment | None = None) -> None:
        seg, self._open = self._open, None
        if seg is not None:
            seg.file.close()
            cut = _on_disk(seg.path, seg.index, seg.first_sample)
        where = f"{self._frames / self.sample_rate:.1f} s"
        self._failed = RecordingFailed(f"recording stopped at {where}: {exc.strerror or exc}",
                                       [*self._done, *([cut] if cut else [])])
        raise self._failed from exc


def _usable_recipients(recipients: Sequence[str]) -> list[Recipient]:
    """Parse every configured recipient; any malformed one refuses the recording (fail closed)."""
    if isinstance(recipients, str):
        recipients = [recipients]
    if not recipients:
        raise RecordingRefused("no recording recipient configured: refusing to record (fail closed)")
    parsed = []
    for number, text in enumerate(recipients, 1):
        try:
            recipient = Recipient.parse(str(text))
            recipient.wrap(bytes(16))        # rejects keys no one could decrypt for (low-order points)
        except AgeKeyError as exc:
            raise RecordingRefused(f"recording recipient {number} unusable: {exc}") from None
        parsed.append(recipient)
    return parsed


def _on_disk(path: Path, index: int, first_sample: int) -> RecordingSegment:
    """A cut segment as it is on disk: size and hash of the ciphertext, samples in its whole chunks."""
    try:
        info = inspect(path)
        return RecordingSegment(index, path.name, info.sha256, info.size, info.meta.first_sample,
                                info.recoverable_samples, False)
    except (AgeError, OSError):      # cut inside the header (or unreadable): no audio in it
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        return RecordingSegment(index, path.name, hashlib.sha256(data).hexdigest(), len(data), first_sample, 0, False)


def open_segments_after_crash(directory: Path, call_key: str | None = None) -> list[RecordingSegment]:
    """Segments a crash left unfinished (`.part` files) in `directory`, optionally of one call only.

    Nothing is changed on disk; sizes and SHA-256 are of the ciphertext as it is, complete=False.
    """
    directory = Path(directory)
    prefix = None if call_key is None else segment_name(call_key, 0).rsplit(".", 2)[0] + "."
    found = []
    for path in sorted(directory.glob("*" + SUFFIX + PART_SUFFIX)):
        match = _PART_NAME.search(path.name)
        if match is None or (prefix is not None and not path.name.startswith(prefix)):
            continue
        found.append(_on_disk(path, int(match.group(1)), 0))
    return found
