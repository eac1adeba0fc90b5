"""A call's recording timeline: caller and agent frames aligned into stereo, PCI-silenced, VAD-marked, trimmed."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from appliance.common.time import iso_utc
from appliance.calls.record import PciPause

from .vad import DEFAULT_MERGE_GAP_MS, ChannelVad, SpeechMap, overlap

CALLER, AGENT = 0, 1


@dataclass
class _Pause:
    start_t: int                    # timeline sample (before trimming)
    paused_by: str
    paused_at: str
    end_t: int | None = None
    resumed_by: str = ""
    resumed_at: str = ""
    start_w: int | None = None      # written sample (after trimming), known once it is written


class Timeline:
    """Pure logic, no threads or clocks: `add` mono frames per channel, `take` stereo to write.

    Positions: `t` counts aligned samples as they happened, `w` counts samples written. They differ
    only by trimmed silence; speech ranges and PCI pauses are reported in `w` (the file's own
    timeline). A channel more than `max_skew_s` behind the other (its device stalled or was lost)
    is padded with silence so the other keeps being written.
    """

    def __init__(self, sample_rate: int, *, vad_mode: int = 2, vad_frame_ms: int = 30,
                 trim_silence_s: float | None = None, max_skew_s: float = 0.5,
                 merge_gap_ms: int = DEFAULT_MERGE_GAP_MS):
        if trim_silence_s is not None and trim_silence_s < 0:
            raise ValueError(f"recording: trim_silence_s must be >= 0, not {trim_silence_s}")
        self.sample_rate = sample_rate
        self.vad_mode = vad_mode
        self._vads = (ChannelVad(sample_rate, vad_mode, vad_frame_ms), ChannelVad(sample_rate, vad_mode, vad_frame_ms))
        self.frame = self._vads[0].frame_samples
        self._trim = None if trim_silence_s is None else int(round(trim_silence_s * sample_rate))
        self._max_skew = int(max_skew_s * sample_rate)
        self._buffers = (bytearray(), bytearray())
        self.received = [0, 0]
        self.padded = [0, 0]
        self.t = 0
        self.w = 0
        self.trimmed = 0
        self._silent_run = 0
        self._speech = (SpeechMap(merge_gap_ms * sample_rate // 1000), SpeechMap(merge_gap_ms * sample_rate // 1000))
        self._pauses: list[_Pause] = []

    # ---- input ----
    def add(self, channel: int, pcm: bytes) -> None:
        self._buffers[channel].extend(pcm)
        self.received[channel] += len(pcm) // 2

    @property
    def paused(self) -> bool:
        return bool(self._pauses) and self._pauses[-1].end_t is None

    def pause(self, by: str, at: datetime) -> bool:
        """Silence from here (the furthest audio received on either channel); False if already paused."""
        if self.paused:
            return False
        self._pauses.append(_Pause(max(self.received), by, iso_utc(at)))
        return True

    def resume(self, by: str, at: datetime) -> bool:
        if not self.paused:
            return False
        last = self._pauses[-1]
        last.end_t, last.resumed_by, last.resumed_at = max(self.received), by, iso_utc(at)
        return True

    # ---- output ----
    def take(self, final: bool = False) -> bytes:
        """Interleaved S16LE stereo (caller left, agent right) that is ready; `final` flushes all."""
        left, right = self._buffers
        if final:
            for buf in (left, right):
                short = max(len(left), len(right)) - len(buf)
                buf.extend(bytes(short))
        else:
            self._pad_lagging()
        n = min(len(left), len(right)) // 2
        if not final:
            n -= n % self.frame
        if n <= 0:
            return b""
        channels = []
        for buf in (left, right):
            channels.append(np.frombuffer(bytes(buf[:2 * n]), dtype="<i2").copy())
            del buf[:2 * n]
        return self._process(channels[0], channels[1])

    def _pad_lagging(self) -> None:
        left, right = self._buffers
        lead = max(len(left), len(right)) // 2
        for channel, buf in enumerate((left, right)):
            behind = lead - len(buf) // 2 - self._max_skew
            if behind > 0:
                buf.extend(bytes(2 * behind))
                self.padded[channel] += behind

    def _process(self, left: np.ndarray, right: np.ndarray) -> bytes:
        n, t0, frame = len(left), self.t, self.frame
        frames = -(-n // frame)
        in_pci = np.zeros(frames, dtype=bool)
        for p in self._pauses:
            a, b = max(p.start_t, t0), min(t0 + n if p.end_t is None else p.end_t, t0 + n)
            if b > a:
                left[a - t0:b - t0] = 0
                right[a - t0:b - t0] = 0
                in_pci[(a - t0) // frame:-(-(b - t0) // frame)] = True
        keep = np.ones(frames, dtype=bool)
        lb, rb = left.tobytes(), right.tobytes()
        step = 2 * frame
        w = self.w
        frame_w = np.empty(frames, dtype=np.int64)     # where each frame starts in the file
        for i in range(frames):
            frame_w[i] = w
            size = min(frame, n - i * frame)
            speech = (False, False)
            if size == frame:
                speech = (self._vads[0].is_speech(lb[i * step:(i + 1) * step]),
                          self._vads[1].is_speech(rb[i * step:(i + 1) * step]))
            if self._trim is not None:
                if in_pci[i] or speech[0] or speech[1]:
                    self._silent_run = 0
                elif self._silent_run >= self._trim:
                    keep[i] = False
                    self.trimmed += size
                    continue
                else:
                    self._silent_run += size
            for channel in (CALLER, AGENT):
                if speech[channel]:
                    self._speech[channel].add(w, w + size)
            w += size
        for p in self._pauses:
            if p.start_w is None and t0 <= p.start_t < t0 + n:
                i = (p.start_t - t0) // frame
                p.start_w = int(frame_w[i]) + (p.start_t - t0 - i * frame if keep[i] else 0)
        self.t += n
        self.w = w
        stereo_left, stereo_right = left, right
        if not keep.all():
            mask = np.repeat(keep, frame)[:n]
            stereo_left, stereo_right = left[mask], right[mask]
        stereo = np.empty(2 * len(stereo_left), dtype="<i2")
        stereo[0::2], stereo[1::2] = stereo_left, stereo_right
        return stereo.tobytes()

    # ---- results (in written samples) ----
    def speech(self, channel: int, limit: int | None = None) -> tuple[tuple[int, int], ...]:
        """Speech ranges of a channel, cut at `limit` written samples (what reached the disk)."""
        limit = self.w if limit is None else limit
        return tuple((a, min(b, limit)) for a, b in self._speech[channel].ranges if a < limit)

    def talk_over(self, limit: int | None = None) -> int:
        return overlap(self.speech(CALLER, limit), self.speech(AGENT, limit))

    def pauses(self, limit: int | None = None) -> tuple[PciPause, ...]:
        """PCI pauses that began within the written audio; one still open ends at `limit`."""
        limit = self.w if limit is None else limit
        rate, out = self.sample_rate, []
        for p in self._pauses:
            start = p.start_w
            if start is None:             # began after the last written sample
                start = limit
            end = limit if p.end_t is None else min(limit, start + (p.end_t - p.start_t))
            out.append(PciPause(start / rate, max(start, end) / rate, p.paused_by, p.resumed_by,
                                p.paused_at, p.resumed_at))
        return tuple(out)
