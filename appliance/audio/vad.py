"""Voice activity per channel with webrtcvad: speech ranges in sample offsets, ratios, talk-over."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import webrtcvad

VAD_MODES = (0, 1, 2, 3)          # 0 = least aggressive (most audio called speech) ... 3 = most
VAD_FRAME_MS = (10, 20, 30)
DEFAULT_MERGE_GAP_MS = 300        # pauses between words shorter than this stay inside one range

Range = tuple[int, int]           # [start, end) in samples


class SpeechMap:
    """Speech ranges built in time order; a range starting within `merge_gap` of the last one joins it."""

    def __init__(self, merge_gap: int = 0):
        self.merge_gap = merge_gap
        self._ranges: list[list[int]] = []

    def add(self, start: int, end: int) -> None:
        if end <= start:
            return
        if self._ranges and start - self._ranges[-1][1] <= self.merge_gap:
            self._ranges[-1][1] = max(self._ranges[-1][1], end)
        else:
            self._ranges.append([start, end])

    @property
    def ranges(self) -> tuple[Range, ...]:
        return tuple((a, b) for a, b in self._ranges)

    def total(self) -> int:
        return sum(b - a for a, b in self._ranges)


class ChannelVad:
    """webrtcvad over one channel's frames of `frame_ms` (10, 20 or 30 ms) at 8 or 16 kHz."""

    def __init__(self, sample_rate: int, mode: int = 2, frame_ms: int = 30):
        if mode not in VAD_MODES:
            raise ValueError(f"vad: mode {mode} must be one of {VAD_MODES}")
        if frame_ms not in VAD_FRAME_MS:
            raise ValueError(f"vad: frame_ms {frame_ms} must be one of {VAD_FRAME_MS}")
        if sample_rate not in (8000, 16000):
            raise ValueError(f"vad: sample rate {sample_rate} must be 8000 or 16000")
        self.sample_rate, self.mode, self.frame_ms = sample_rate, mode, frame_ms
        self.frame_samples = sample_rate * frame_ms // 1000
        self.frame_bytes = 2 * self.frame_samples
        self._vad = webrtcvad.Vad(mode)

    def is_speech(self, frame: bytes) -> bool:
        """One frame of exactly `frame_bytes` mono S16LE."""
        return self._vad.is_speech(frame, self.sample_rate)


@dataclass(frozen=True)
class ChannelActivity:
    samples: int
    speech: tuple[Range, ...]

    @property
    def ratio(self) -> float:
        return sum(b - a for a, b in self.speech) / self.samples if self.samples else 0.0


def analyse(pcm: bytes, sample_rate: int, *, mode: int = 2, frame_ms: int = 30,
            merge_gap_ms: int = DEFAULT_MERGE_GAP_MS) -> ChannelActivity:
    """Speech ranges of a whole mono S16LE buffer (a trailing part-frame counts as silence)."""
    vad = ChannelVad(sample_rate, mode, frame_ms)
    speech = SpeechMap(merge_gap_ms * sample_rate // 1000)
    step = vad.frame_bytes
    for offset in range(0, len(pcm) - step + 1, step):
        if vad.is_speech(pcm[offset:offset + step]):
            start = offset // 2
            speech.add(start, start + vad.frame_samples)
    return ChannelActivity(len(pcm) // 2, speech.ranges)


def overlap(a: Sequence[Range], b: Sequence[Range]) -> int:
    """Samples covered by both sorted, non-overlapping range lists (talk-over)."""
    i = j = total = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            total += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total

