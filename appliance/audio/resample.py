"""Streaming 8 kHz <-> 16 kHz conversion of mono S16LE through a windowed-sinc low-pass (polyphase)."""
from __future__ import annotations

import numpy as np

TAPS = 97                 # odd: linear phase, a whole-sample delay of 48 samples at 16 kHz (3 ms)
CUTOFF_HZ = 3600.0        # keeps the telephone band (300-3400 Hz), stops above 4 kHz (the 8 kHz Nyquist)
KAISER_BETA = 8.0         # about 80 dB stop-band attenuation


def _lowpass(rate: int) -> np.ndarray:
    n = np.arange(TAPS) - (TAPS - 1) / 2
    taps = 2 * CUTOFF_HZ / rate * np.sinc(2 * CUTOFF_HZ / rate * n) * np.kaiser(TAPS, KAISER_BETA)
    return taps / taps.sum()          # unity gain at DC


_FILTER_16K = _lowpass(16000)


def _to_pcm(samples: np.ndarray) -> bytes:
    np.rint(samples, out=samples)
    np.clip(samples, -32768, 32767, out=samples)
    return samples.astype("<i2").tobytes()


class Resampler:
    """Converts a stream frame by frame; keeps the filter's history between calls.

    `process` takes and returns mono S16LE bytes; output length is exactly twice (up) or half
    (down) the input over the stream. Equal rates pass frames through untouched.
    """

    def __init__(self, from_rate: int, to_rate: int):
        if {from_rate, to_rate} - {8000, 16000}:
            raise ValueError(f"resample: only 8000 <-> 16000 Hz is supported, not {from_rate} -> {to_rate}")
        self.from_rate, self.to_rate = from_rate, to_rate
        if from_rate < to_rate:                # up: two polyphase branches, gain 2 for the zeros
            self._branches = (2 * _FILTER_16K[0::2], 2 * _FILTER_16K[1::2])
            self._history = np.zeros(len(self._branches[0]) - 1)
        else:
            self._history = np.zeros(TAPS - 1)
        self._position = 0                     # input samples consumed (the decimation phase)

    @property
    def delay_s(self) -> float:
        """Group delay the filter adds."""
        return 0.0 if self.from_rate == self.to_rate else (TAPS - 1) / 2 / 16000

    def process(self, pcm: bytes) -> bytes:
        if self.from_rate == self.to_rate:
            return pcm
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if not len(x):
            return b""
        ext = np.concatenate((self._history, x))
        self._history = ext[len(ext) - len(self._history):]
        if self.from_rate < self.to_rate:
            even = np.convolve(ext, self._branches[0], mode="valid")
            odd = np.convolve(ext, self._branches[1], mode="valid")[1:]
            out = np.empty(2 * len(x))
            out[0::2], out[1::2] = even, odd
        else:
            filtered = np.convolve(ext, _FILTER_16K, mode="valid")
            out = filtered[(-self._position) % 2::2]
            self._position += len(x)
        return _to_pcm(out)
