"""8 kHz <-> 16 kHz conversion keeps a tone's frequency and level and filters what does not fit."""
from __future__ import annotations

import numpy as np
import pytest

from appliance.audio.resample import Resampler


def tone(freq: float, rate: int, seconds: float = 1.0, amplitude: float = 10000.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2")


def run(resampler: Resampler, pcm: np.ndarray, frame: int) -> np.ndarray:
    """Frame by frame, as the bridge does."""
    out = b"".join(resampler.process(pcm[i:i + frame].tobytes()) for i in range(0, len(pcm), frame))
    return np.frombuffer(out, dtype="<i2")


def spectrum_peak(pcm: np.ndarray, rate: int) -> tuple[float, float]:
    steady = pcm[len(pcm) // 10:].astype(np.float64)          # past the filter's start-up
    magnitudes = np.abs(np.fft.rfft(steady * np.hanning(len(steady))))
    peak = int(np.argmax(magnitudes))
    return peak * rate / len(steady), float(np.sqrt(np.mean(steady ** 2)))


def db(ratio: float) -> float:
    return 20 * np.log10(max(ratio, 1e-12))


@pytest.mark.parametrize("src,dst,freq", [(8000, 16000, 1000.0), (8000, 16000, 3000.0),
                                          (16000, 8000, 1000.0), (16000, 8000, 3000.0)])
def test_a_tone_keeps_its_frequency_and_level(src, dst, freq):
    pcm = tone(freq, src)
    out = run(Resampler(src, dst), pcm, src // 50)
    assert len(out) == len(pcm) * dst // src
    out_freq, out_rms = spectrum_peak(out, dst)
    _, in_rms = spectrum_peak(pcm, src)
    assert abs(out_freq - freq) <= 2.0, f"tone moved from {freq} Hz to {out_freq:.1f} Hz"
    assert abs(db(out_rms / in_rms)) < 0.1, f"level changed by {db(out_rms / in_rms):.2f} dB"


def test_downsampling_filters_what_8khz_cannot_hold_instead_of_aliasing_it():
    # Dropping every other sample would fold a 6 kHz tone onto 2 kHz at full level.
    pcm = tone(6000.0, 16000)
    out = run(Resampler(16000, 8000), pcm, 320)
    _, in_rms = spectrum_peak(pcm, 16000)
    _, out_rms = spectrum_peak(out, 8000)
    assert db(out_rms / in_rms) < -60


def test_upsampling_leaves_no_image_above_the_telephone_band():
    pcm = tone(1000.0, 8000)
    out = run(Resampler(8000, 16000), pcm, 160).astype(np.float64)[1600:]
    power = np.abs(np.fft.rfft(out * np.hanning(len(out)))) ** 2
    freqs = np.fft.rfftfreq(len(out), 1 / 16000)
    image = power[freqs > 4500].sum() / power.sum()
    assert 10 * np.log10(image) < -60       # the 7 kHz image of zero-stuffing is gone


@pytest.mark.parametrize("src,dst", [(8000, 16000), (16000, 8000)])
def test_any_split_of_the_stream_gives_the_same_audio(src, dst):
    rng = np.random.default_rng(7)
    pcm = rng.integers(-20000, 20000, size=src // 2).astype("<i2")
    whole = run(Resampler(src, dst), pcm, len(pcm))
    resampler, pieces, i = Resampler(src, dst), [], 0
    for size in rng.integers(1, 400, size=1000):
        if i >= len(pcm):
            break
        pieces.append(resampler.process(pcm[i:i + size].tobytes()))
        i += int(size)
    assert np.array_equal(np.frombuffer(b"".join(pieces), dtype="<i2"), whole)


def test_equal_rates_pass_frames_through_and_other_rates_are_refused():
    frame = tone(440.0, 8000, 0.02).tobytes()
    assert Resampler(8000, 8000).process(frame) is frame
    with pytest.raises(ValueError, match="8000 <-> 16000"):
        Resampler(8000, 44100)
