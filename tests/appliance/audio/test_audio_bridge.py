"""A bridged call over real PyAudio + ALSA: each side hears the other, within the jitter bound."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from appliance.audio.bridge import MAX_JITTER_MS, Bridge
from appliance.audio.resample import Resampler
from tests.appliance.audio.audio_support import device, find, loud_windows, padded, to_rate
from tests.helpers.alsa import FilePcm
from tests.helpers.waiting import wait_for

CORRELATION_MIN = 0.9        # a window of the phrase vs. the same window as the far end heard it
FRAME_S = 0.02
# Capture callback -> playback callback: the jitter buffer plus the two devices' period phase.
DELAY_BOUND_S = (MAX_JITTER_MS / 1000 + FRAME_S) + Resampler(8000, 16000).delay_s


def played_at(out: np.ndarray, device) -> np.ndarray:
    """The playback file as the device played it: PortAudio's priming periods removed."""
    priming = len(out) - device.callbacks * device.frame_samples
    assert priming >= 0
    return out[priming:]


def heard(source: np.ndarray, source_dev, out: np.ndarray, out_dev, start: int, end: int):
    """For each loud 250 ms window of what `source_dev` captured: (correlation, delay in s) in `out`.

    Frame k of the capture file was captured at first_callback + k periods (the devices are
    paced); the out file's frame j was played at its device's first_callback + j periods.
    """
    rate = source_dev.rate
    frame = source_dev.frame_samples
    offset_s = out_dev.first_callback - source_dev.first_callback
    results = []
    for s, n in loud_windows(source, rate, start, end):
        if s < frame * 2:
            continue
        # where the window would sit with zero added delay, searched up to the bound (and a little before)
        zero = int(round(s - offset_s * rate))
        lo = max(0, zero - frame)
        score, lag = find(source[s:s + n], out[lo:], int(DELAY_BOUND_S * rate) + 2 * frame)
        results.append((score, (lo + lag - zero) / rate))
    return results


@pytest.mark.parametrize("headset_rate", [8000, 16000])   # frames handed on in the callbacks / resampled
def test_each_side_hears_the_other_with_bounded_delay(audio_host, tmp_path, speech, headset_rate):
    caller, agent = speech[("caller", 8000)], speech[("agent", headset_rate)]
    line_in, headset_in = padded(caller, 0.3, 1.0), padded(agent, 0.3, 1.0)
    (tmp_path / "line_in.raw").write_bytes(line_in.tobytes())
    (tmp_path / "headset_in.raw").write_bytes(headset_in.tobytes())
    host = audio_host(FilePcm("line", tmp_path / "line_in.raw", tmp_path / "line_out.raw"),
                      FilePcm("headset", tmp_path / "headset_in.raw", tmp_path / "headset_out.raw"))
    caller_tap, agent_tap = [], []
    line = host.open(device("line", 8000))
    headset = host.open(device("headset", headset_rate))
    bridge = Bridge("call-1", line, headset, caller_tap=caller_tap.append, agent_tap=agent_tap.append)
    bridge.start()
    need = max(len(line_in) / 8000, len(headset_in) / headset_rate) / FRAME_S + 5
    wait_for(lambda: min(bridge.stats().to_agent.frames, bridge.stats().to_caller.frames) >= need,
             timeout=30, message="both phrases across the bridge")
    stats = bridge.stop()
    line.close()
    headset.close()

    headset_out = played_at(np.fromfile(tmp_path / "headset_out.raw", dtype="<i2"), headset)
    line_out = played_at(np.fromfile(tmp_path / "line_out.raw", dtype="<i2"), line)
    # compare at the source's rate; the comparison's own filter delay is taken off
    to_agent = heard(line_in, line, to_rate(headset_out, headset_rate, 8000), line, 0, len(line_in))
    to_caller = heard(headset_in, headset, to_rate(line_out, 8000, headset_rate), headset, 0, len(headset_in))
    measured = {}
    for name, results, extra in (("caller->agent", to_agent, Resampler(headset_rate, 8000).delay_s),
                                 ("agent->caller", to_caller, Resampler(8000, headset_rate).delay_s)):
        assert len(results) >= 15, name
        good = [d - extra for score, d in results if score >= CORRELATION_MIN]
        # a busy box can stall a thread past the jitter buffer now and then: that window then
        # holds a counted underrun; nearly all must come through whole and in time
        assert len(good) >= 0.9 * len(results), (name, results)
        assert sum(-0.002 <= d <= DELAY_BOUND_S for d in good) >= 0.9 * len(results), (name, results)
        assert float(np.median(good)) <= DELAY_BOUND_S
        measured[name] = float(np.median(good))
    # the taps carry the caller as captured and the agent as sent to the line
    tapped = np.frombuffer(b"".join(caller_tap), dtype="<i2")
    assert find(line_in[caller.start:caller.end], tapped, len(tapped))[0] > 0.999
    # the delay the bridge reports is the one found in the files (to within a frame). The bridge times
    # frames by the wall clock, the files by sample position: the two agree while the stream runs
    # clean; after an underrun or a dropped frame (a box too busy to keep the pace) they part, by design.
    for name, direction in (("caller->agent", stats.to_agent), ("agent->caller", stats.to_caller)):
        assert direction.frames >= need - 5
        if direction.underruns == 0 and direction.dropped == 0:
            assert abs(direction.delay_median_ms / 1000 - measured[name]) <= FRAME_S, (name, direction, measured)
    assert stats.lost == ()


def test_a_device_lost_mid_call_is_reported_once_and_the_bridge_keeps_the_rest(audio_host, tmp_path, speech,
                                                                                caplog):
    caller = speech[("caller", 8000)]
    (tmp_path / "line_in.raw").write_bytes(padded(caller, 0.0, 0.0).tobytes())
    # the line's audio path takes 0.5 s, then its pipe exits: writes fail like a pulled USB card
    host = audio_host(FilePcm("line", tmp_path / "line_in.raw", f"|head -c 8000 > {tmp_path / 'line_out.raw'}"),
                      FilePcm("headset", None, tmp_path / "headset_out.raw"))
    lost = []
    caplog.set_level(logging.INFO)
    with host.open(device("line", 8000)) as line, host.open(device("headset", 8000)) as headset:
        bridge = Bridge("call-2", line, headset, on_lost=lambda name, why: lost.append((name, why)))
        bridge.start()
        wait_for(lambda: lost, timeout=10, message="the lost line reported")
        frames_then, headset_then = bridge.stats().to_agent.frames, headset.callbacks
        wait_for(lambda: headset.callbacks >= headset_then + 25, timeout=10, message="the headset still running")
        assert bridge.status()["running"]
        stats = bridge.stop()
    assert [name for name, _ in lost] == ["line"]
    assert "audio device line (pcm line) lost" in lost[0][1]
    assert stats.lost == (lost[0][1],)
    assert stats.to_agent.frames == frames_then          # nothing more came from the dead line
    assert not any(r.exc_info for r in caplog.records)
    assert sum(lost[0][1] in r.getMessage() for r in caplog.records) == 1     # one log line


def test_jitter_buffers_over_60_ms_and_mismatched_frames_are_refused(audio_host, tmp_path):
    host = audio_host(FilePcm("line"), FilePcm("headset"))
    with host.open(device("line", 8000, playback_buffer_ms=100)) as line, \
            host.open(device("headset", 16000, frame_ms=10)) as headset:
        with pytest.raises(ValueError, match="100 ms exceeds 60 ms"):
            Bridge("call-3", line, headset)
    with host.open(device("line", 8000)) as line, host.open(device("headset", 16000, frame_ms=10)) as headset:
        with pytest.raises(ValueError, match="frame lengths differ"):
            Bridge("call-3", line, headset)
