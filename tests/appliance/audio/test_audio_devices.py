"""ALSA PCMs through real PyAudio: capture and playback in order, clear errors, a device that dies."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from appliance.audio.devices import AudioDeviceConfig
from firmware_bridge.exceptions import DeviceGone, DeviceNotFound
from tests.appliance.audio.audio_support import device
from tests.helpers.alsa import FilePcm
from tests.helpers.waiting import wait_for


def noise(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-12000, 12000, size=n).astype("<i2")


@pytest.mark.parametrize("rate", [8000, 16000])
def test_capture_delivers_the_pcm_audio_in_order_in_whole_frames(audio_host, tmp_path, rate):
    source = noise(rate)                                   # 1 s
    (tmp_path / "in.raw").write_bytes(source.tobytes())
    host = audio_host(FilePcm("mic", tmp_path / "in.raw"))
    frames = []
    with host.open(device("mic", rate, playback=False)) as mic:
        def collected():
            while (item := mic.capture.get()) is not None:
                frames.append(item[1])
            return len(frames) >= 25
        wait_for(collected, timeout=5, message="half a second of capture")
    assert {len(f) for f in frames} == {2 * rate // 50}   # 20 ms frames
    got = np.frombuffer(b"".join(frames), dtype="<i2")
    assert np.array_equal(got[:len(source)], source[:len(got)])


def test_playback_writes_queued_frames_in_order_and_silence_when_there_are_none(audio_host, tmp_path):
    out = tmp_path / "out.raw"
    host = audio_host(FilePcm("speaker", outfile=out))
    sent = noise(8000)
    with host.open(device("speaker", 8000, capture=False, playback_buffer_ms=60)) as speaker:
        speaker.attach()
        for i in range(0, len(sent), 160):
            wait_for(lambda: len(speaker.playback) < speaker.playback.capacity, timeout=5,
                     message="room in the jitter buffer")
            speaker.playback.put(0.0, sent[i:i + 160].tobytes())
        wait_for(lambda: len(speaker.playback) == 0, timeout=5, message="the last frame played")
        underruns_while_fed = speaker.underruns
        wait_for(lambda: speaker.underruns >= underruns_while_fed + 3, timeout=5,
                 message="silence counted once the feed stops")
        speaker.detach()
    played = np.fromfile(out, dtype="<i2")
    start = int(np.flatnonzero(played)[0])
    assert not played[:start].any()                        # silence until the first frame
    assert np.array_equal(played[start:start + len(sent)], sent)   # no gap while fed
    assert not played[start + len(sent):].any()            # and silence after the last
    assert speaker.playback.dropped == 0


def test_a_full_jitter_buffer_drops_the_oldest_frame_and_counts_it(audio_host, tmp_path):
    host = audio_host(FilePcm("speaker", outfile=tmp_path / "out.raw"))
    with host.open(device("speaker", 8000, capture=False)) as speaker:
        frames = [bytes([i]) * 320 for i in range(1, 10)]
        for f in frames:                   # far faster than 20 ms each: the buffer overflows
            speaker.playback.put(0.0, f)
        assert speaker.playback.dropped >= len(frames) - speaker.playback.capacity - 1
        assert len(speaker.playback) <= speaker.playback.capacity


def test_an_unknown_pcm_is_a_clear_error_naming_what_exists(audio_host, tmp_path):
    host = audio_host(FilePcm("line1", tmp_path / "in.raw"))
    with pytest.raises(DeviceNotFound) as err:
        host.open(AudioDeviceConfig(name="line2", pcm="hw:EC25AUX", rate=8000))
    message = str(err.value)
    assert "line2" in message and "'hw:EC25AUX'" in message and "line1" in message


@pytest.mark.parametrize("kw,message", [({"rate": 44100}, "44100 Hz is not supported"),
                                        ({"frame_ms": 25}, "frame_ms 25"),
                                        ({"capture": False, "playback": False}, "neither capture"),
                                        ({"playback_buffer_ms": 10}, "shorter than one frame"),
                                        ({"playback_prefill_ms": 60}, "playback_prefill_ms")])
def test_bad_device_settings_are_refused_clearly(kw, message):
    with pytest.raises(ValueError, match=message):
        AudioDeviceConfig(name="line1", pcm="line1", **kw)


def test_a_device_that_dies_mid_stream_is_reported_without_a_traceback(audio_host, tmp_path, caplog):
    # The playback pipe takes 0.2 s of audio and exits: the next write fails (EPIPE), as when a
    # USB card is pulled, and PortAudio stops the stream.
    out = tmp_path / "out.raw"
    host = audio_host(FilePcm("headset", outfile=f"|head -c 3200 > {out}"))
    caplog.set_level(logging.DEBUG)
    with host.open(device("headset", 8000, capture=False)) as headset:
        def lost():
            try:
                headset.check()
            except DeviceGone as exc:
                return str(exc)
            return ""
        message = wait_for(lost, timeout=10, message="the device reported lost")
        with pytest.raises(DeviceGone):
            headset.check()                                # stays lost
        assert headset.status()["lost"] == message
    assert "headset" in message and "pcm headset" in message and "lost" in message
    assert not any(r.exc_info for r in caplog.records)


def test_close_is_idempotent_and_a_closed_device_reports_nothing(audio_host, tmp_path):
    host = audio_host(FilePcm("line1", outfile=tmp_path / "out.raw"))
    line = host.open(device("line1", 8000))
    wait_for(lambda: line.callbacks > 2, timeout=5, message="the stream running")
    line.close()
    line.close()
    line.check()                                           # closed on purpose: not lost
    assert line.status()["open"] is False


def test_virtual_pcm_paths_with_spaces_and_quotes_are_kept_whole(audio_host, tmp_path):
    odd = tmp_path / 'a "quoted" dir' / "in file.raw"
    odd.parent.mkdir()
    source = noise(1600, seed=4)
    odd.write_bytes(source.tobytes())
    host = audio_host(FilePcm("mic", odd))
    frames = []
    with host.open(device("mic", 8000, playback=False)) as mic:
        def collected():
            while (item := mic.capture.get()) is not None:
                frames.append(item[1])
            return len(frames) >= 10
        wait_for(collected, timeout=5, message="capture from the oddly named file")
    assert np.array_equal(np.frombuffer(b"".join(frames), dtype="<i2")[:1600], source)
