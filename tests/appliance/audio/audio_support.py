"""Shared by the audio tests: real speech phrases, paced device configs, correlation helpers."""
from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.audio.devices import AudioDeviceConfig

CALLER_TEXT = "Hello, I am calling about my order. It has not arrived yet, and I would like to know why."
AGENT_TEXT = "Thank you for calling. Let me check that order for you, it will only take a moment."
SILENCE_DBFS = -45.0        # a 10 ms window quieter than this is silence in the source phrase


@dataclass(frozen=True)
class Phrase:
    """A spoken phrase as raw mono S16LE, with where its sound starts and ends (in samples)."""
    pcm: np.ndarray
    rate: int
    start: int
    end: int

    @property
    def span_s(self) -> float:
        return (self.end - self.start) / self.rate


def speak(text: str, rate: int, directory: Path, name: str) -> Phrase:
    wav, raw = directory / f"{name}.wav", directory / f"{name}-{rate}.raw"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(wav), text], check=True)
    subprocess.run(["sox", str(wav), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer",
                    "-t", "raw", str(raw)], check=True)
    pcm = np.fromfile(raw, dtype="<i2")
    window = rate // 100
    frames = pcm[:len(pcm) // window * window].reshape(-1, window).astype(np.float64)
    loud = np.nonzero(10 * np.log10(np.mean(frames ** 2, axis=1) / 32768.0 ** 2 + 1e-12) > SILENCE_DBFS)[0]
    return Phrase(pcm, rate, int(loud[0]) * window, (int(loud[-1]) + 1) * window)


def padded(phrase: Phrase, before_s: float, after_s: float) -> np.ndarray:
    """The phrase with silence around it, as the file a device captures from."""
    zeros = lambda s: np.zeros(int(s * phrase.rate), dtype="<i2")  # noqa: E731
    return np.concatenate((zeros(before_s), phrase.pcm, zeros(after_s)))


def device(name: str, rate: int, **kw) -> AudioDeviceConfig:
    """A paced file-backed device whose PCM has the same name."""
    return AudioDeviceConfig(name=name, pcm=name, rate=rate, paced=True, **kw)


def to_rate(pcm: np.ndarray, src: int, dst: int) -> np.ndarray:
    from appliance.audio.resample import Resampler
    return np.frombuffer(Resampler(src, dst).process(pcm.astype("<i2").tobytes()), dtype="<i2")


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(np.dot(a, b) / (np.sqrt(np.dot(a, a) * np.dot(b, b)) + 1e-9))


def find(reference: np.ndarray, haystack: np.ndarray, max_lag: int) -> tuple[float, int]:
    """(best normalised cross-correlation, lag) of `reference` in `haystack[lag:]`, 0 <= lag < max_lag."""
    ref = reference.astype(np.float64)
    n = len(ref)
    lags = min(max_lag, len(haystack) - n + 1)
    if lags <= 0:
        return 0.0, 0
    hay = haystack[:lags + n - 1].astype(np.float64)
    size = 1 << int(np.ceil(np.log2(len(hay) + n)))
    products = np.fft.irfft(np.fft.rfft(hay, size) * np.conj(np.fft.rfft(ref, size)), size)[:lags]
    energy = np.concatenate(([0.0], np.cumsum(hay ** 2)))
    window_energy = energy[n:n + lags] - energy[:lags]
    # FFT round-off leaves tiny products over digital silence: such windows score 0, not noise / 0
    audible = window_energy > 0.01 * n
    scores = np.where(audible, products / np.sqrt(np.where(audible, window_energy, 1.0) * np.dot(ref, ref)), 0.0)
    best = int(np.argmax(scores))
    return float(scores[best]), best


def loud_windows(pcm: np.ndarray, rate: int, start: int, end: int, window_s: float = 0.25):
    """Start offsets of the windows in [start, end) with enough sound to correlate."""
    size = int(window_s * rate)
    for offset in range(start, end - size + 1, size):
        piece = pcm[offset:offset + size].astype(np.float64)
        if np.sqrt(np.mean(piece ** 2)) > 300:
            yield offset, size
