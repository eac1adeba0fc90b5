"""audio:<name> self-test against file-backed ALSA PCMs through real PyAudio."""
from __future__ import annotations

import numpy as np
import pytest

from hw_tests.checks_audio import check_audio
from hw_tests.result import Status
from tests.appliance.audio.audio_support import CALLER_TEXT, padded, speak
from tests.helpers.alsa import FilePcm, use_alsa_config


@pytest.fixture
def pcm_file(monkeypatch, tmp_path):
    """Make a PCM `mic` that captures the given samples."""
    def make(samples: np.ndarray | None, outfile=None) -> None:
        infile = None
        if samples is not None:
            infile = tmp_path / "in.raw"
            infile.write_bytes(samples.astype("<i2").tobytes())
        use_alsa_config(monkeypatch, tmp_path, [FilePcm("mic", infile, outfile)])
    return make


@pytest.mark.parametrize("rate", [8000, 16000])
def test_speech_on_the_input_passes_with_its_level_and_voice_activity(pcm_file, tmp_path, rate):
    phrase = speak(CALLER_TEXT, rate, tmp_path, "caller")
    pcm_file(padded(phrase, 0.0, 0.0)[:2 * rate])
    result = check_audio("line1", "mic", rate, capture_s=1.5, paced=True)
    assert result.status is Status.PASS, result
    assert result.name == "audio:line1"
    assert f"open at {rate} Hz" in result.detail and "capture level" in result.detail
    assert "voice activity" in result.detail and "voice activity 0%" not in result.detail


def test_a_silent_input_warns_with_what_to_check(pcm_file):
    pcm_file(np.zeros(8000, dtype="<i2"))
    result = check_audio("headset3", "mic", 8000, capture_s=0.5, paced=True)
    assert result.status is Status.WARN
    assert "capture is silent (digital silence)" in result.detail
    assert "alsamixer" in result.hint


def test_a_loud_constant_noise_warns_that_it_will_be_taken_for_speech(pcm_file):
    noise = np.random.default_rng(5).normal(0, 6000, size=16000).clip(-32000, 32000)
    pcm_file(noise)
    result = check_audio("line1", "mic", 8000, capture_s=1.0, paced=True)
    assert result.status is Status.WARN
    assert "on a steady level" in result.detail and "hum or noise" in result.hint


def test_an_unknown_pcm_fails_naming_it_and_what_exists(pcm_file):
    pcm_file(None)
    result = check_audio("line1", "hw:EC25AUX", 8000)
    assert result.status is Status.FAIL
    assert "'hw:EC25AUX'" in result.detail and "mic" in result.detail
    assert "arecord -l" in result.hint


def test_an_unsupported_rate_fails_before_opening_anything(pcm_file):
    pcm_file(None)
    result = check_audio("line1", "mic", 44100)
    assert result.status is Status.FAIL and "44100 Hz is not supported" in result.detail


def test_a_device_that_dies_during_the_capture_fails(pcm_file, tmp_path):
    pcm_file(np.zeros(8000, dtype="<i2"), outfile=f"|head -c 1600 > {tmp_path / 'out.raw'}")
    result = check_audio("headset3", "mic", 8000, capture_s=2.0, paced=True)
    assert result.status is Status.FAIL
    assert "lost" in result.detail and "replug" in result.hint
