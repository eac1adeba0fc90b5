"""The recorder thread with the real age SegmentWriter: bit-exact stereo, voice marks, and every way a sink fails."""
from __future__ import annotations

import threading
from datetime import datetime, timezone
from functools import partial

import numpy as np
import pytest

from appliance.audio.recorder import CallRecorder
from appliance.audio.segments import SegmentWriter
from tests.appliance.audio.audio_support import padded
from tests.appliance.audio.recording_helpers import age_decrypt, keygen
from tests.helpers.waiting import wait_for

RATE = 8000
FRAME = 160
SPAN_TOLERANCE_S = 0.3
AT = datetime(2026, 3, 2, 9, 15, 0, tzinfo=timezone.utc)


def writer(directory, key, recipients, **kw):
    return partial(SegmentWriter, directory, key, recipients, RATE, **kw)


def feed(recorder: CallRecorder, caller: np.ndarray, agent: np.ndarray, chunk: int = FRAME) -> None:
    """Frames of both channels in turn, as the bridge's taps hand them over."""
    for i in range(0, max(len(caller), len(agent)), chunk):
        if i < len(caller):
            recorder.caller(caller[i:i + chunk].tobytes())
        if i < len(agent):
            recorder.agent(agent[i:i + chunk].tobytes())


def decrypt_all(keys, directory, recording) -> np.ndarray:
    data = b""
    for seg in recording.segments:
        out = age_decrypt(keys.identity_file, (directory / seg.name).read_bytes())
        assert out.returncode == 0, out.stderr
        data += out.stdout
    return np.frombuffer(data, dtype="<i2")


def interleave(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    n = max(len(left), len(right))
    out = np.zeros(2 * n, dtype="<i2")
    out[0:2 * len(left):2], out[1:2 * len(right):2] = left, right
    return out


def test_the_recording_decrypts_to_exactly_the_aligned_stereo_with_speech_marked(tmp_path, speech):
    keys = keygen(tmp_path)
    caller_phrase, agent_phrase = speech[("caller", RATE)], speech[("agent", RATE)]
    caller = padded(caller_phrase, 0.2, 0.5)
    agent = padded(agent_phrase, 3.0, 0.0)                   # starts while the caller still talks
    recorder = CallRecorder("site-a/line1/42", writer(tmp_path / "rec", "site-a/line1/42", [keys.recipient],
                                                      segment_s=2.0), RATE, vad_mode=3, block_s=0.02,
                             max_backlog_s=60)         # fed faster than real time
    recorder.start()
    assert any(t.name == "recorder-site-a/line1/42" for t in threading.enumerate())
    feed(recorder, caller, agent)
    recording = recorder.stop()

    n = max(len(caller), len(agent))
    assert (recording.status, recording.reason, recording.sample_rate, recording.samples) == ("recorded", "", RATE, n)
    assert np.array_equal(decrypt_all(keys, tmp_path / "rec", recording), interleave(caller, agent))
    assert len(recording.segments) == -(-n // (2 * RATE)) and all(s.complete for s in recording.segments)
    assert recording.vad_mode == 3 and recording.trimmed_s == 0.0 and recording.pci_pauses == ()
    # one speech range per phrase, where it sounds; talk-over where both sound
    caller_at = (0.2 + caller_phrase.start / RATE, 0.2 + caller_phrase.end / RATE)
    agent_at = (3.0 + agent_phrase.start / RATE, 3.0 + agent_phrase.end / RATE)
    for ranges, (start, end), ratio in ((recording.caller_speech, caller_at, recording.caller_speech_ratio),
                                        (recording.agent_speech, agent_at, recording.agent_speech_ratio)):
        assert len(ranges) == 1
        assert abs(ranges[0][0] / RATE - start) <= SPAN_TOLERANCE_S and abs(ranges[0][1] / RATE - end) <= SPAN_TOLERANCE_S
        assert ratio == pytest.approx((end - start) * RATE / n, abs=SPAN_TOLERANCE_S * RATE / n)
    both = min(caller_at[1], agent_at[1]) - max(caller_at[0], agent_at[0])
    assert recording.talk_over_s == pytest.approx(both, abs=SPAN_TOLERANCE_S)


def test_trimmed_silence_is_left_out_of_the_file_and_counted(tmp_path, speech):
    keys = keygen(tmp_path)
    phrase = speech[("caller", RATE)]
    caller = np.concatenate((padded(phrase, 0.0, 4.0), phrase.pcm))
    agent = np.zeros(len(caller), dtype="<i2")
    recorder = CallRecorder("call-trim", writer(tmp_path / "rec", "call-trim", [keys.recipient]), RATE,
                            trim_silence_s=0.5, block_s=0.02, max_backlog_s=60)   # fed faster than real time
    recorder.start()
    feed(recorder, caller, agent)
    recording = recorder.stop()
    gap_s = 4.0 + (len(phrase.pcm) - phrase.end + phrase.start) / RATE
    assert recording.trimmed_s == pytest.approx(gap_s - 0.5, abs=SPAN_TOLERANCE_S)
    assert recording.samples == len(caller) - round(recording.trimmed_s * RATE)
    assert len(decrypt_all(keys, tmp_path / "rec", recording)) == 2 * recording.samples
    assert len(recording.caller_speech) == 2


def test_a_full_disk_truncates_the_recording_and_the_handover_keeps_taking_audio(tmp_path, tmpfs):
    keys = keygen(tmp_path)
    rng = np.random.default_rng(3)
    caller, agent = (rng.integers(-9000, 9000, size=120 * RATE).astype("<i2") for _ in range(2))
    recorder = CallRecorder("call-full", writer(tmpfs / "rec", "call-full", [keys.recipient], segment_s=4.0),
                            RATE, block_s=0.02, max_backlog_s=240)
    recorder.start()
    feed(recorder, caller, agent, chunk=RATE // 2)          # 120 s: nearly twice what 2 MiB hold
    wait_for(lambda: recorder.status()["failed"], timeout=30, message="the disk filled up")
    feed(recorder, caller[:RATE], agent[:RATE])              # the call goes on: handovers never raise
    recording = recorder.stop()
    assert recording.status == "truncated"
    assert "No space left on device" in recording.reason
    complete, cut = recording.segments[:-1], recording.segments[-1]
    assert complete and all(s.complete for s in complete) and not cut.complete
    assert recording.samples == sum(s.samples for s in recording.segments)
    expected = interleave(caller, agent)
    for seg in complete:                                      # what was closed decrypts exactly
        out = age_decrypt(keys.identity_file, (tmpfs / "rec" / seg.name).read_bytes())
        assert np.array_equal(np.frombuffer(out.stdout, dtype="<i2"),
                              expected[2 * seg.first_sample:2 * (seg.first_sample + seg.samples)])


def test_no_valid_recipient_means_not_recorded_with_the_reason_and_the_pauses_still_audited(tmp_path):
    recorder = CallRecorder("call-nokey", writer(tmp_path / "rec", "call-nokey", []), RATE, block_s=0.02)
    recorder.start()
    recorder.caller(bytes(3200))
    recorder.pause("agent-7", AT)
    recorder.resume("agent-7", AT)
    recording = recorder.stop()
    assert recording.status == "not_recorded" and recording.samples == 0 and recording.segments == ()
    assert "no recording recipient configured" in recording.reason
    assert [(p.paused_by, p.paused_at) for p in recording.pci_pauses] == [("agent-7", "2026-03-02T09:15:00Z")]
    assert not (tmp_path / "rec").exists() or not any((tmp_path / "rec").iterdir())


class _WedgedDisk:
    """The real writer behind a disk that stops answering after the first write (cannot be made here)."""

    def __init__(self, inner: SegmentWriter):
        self.inner, self.writes, self.release = inner, 0, threading.Event()

    def write(self, pcm: bytes) -> None:
        self.writes += 1
        if self.writes == 2:
            self.release.wait(30)
        self.inner.write(pcm)

    def close(self):
        return self.inner.close()


def test_a_wedged_disk_ends_the_recording_instead_of_eating_memory(tmp_path):
    keys = keygen(tmp_path)
    sinks = []

    def open_sink():
        sinks.append(_WedgedDisk(SegmentWriter(tmp_path / "rec", "call-stuck", [keys.recipient], RATE)))
        return sinks[0]

    recorder = CallRecorder("call-stuck", open_sink, RATE, block_s=0.02, max_backlog_s=1.0)
    recorder.start()
    silence = np.zeros(RATE // 2, dtype="<i2")
    feed(recorder, silence, silence)
    wait_for(lambda: sinks and sinks[0].writes == 1, timeout=10, message="the first write")
    feed(recorder, silence, silence)
    wait_for(lambda: sinks[0].writes == 2, timeout=10, message="the disk wedged")
    for _ in range(10):
        feed(recorder, silence, silence)                      # 5 s more than the 1 s backlog allowed
    assert recorder.status()["backlog"] <= 2 * 1000 // 20 + 1
    sinks[0].release.set()
    recording = recorder.stop()
    assert recording.status == "truncated"
    assert "fell behind by more than 1 s" in recording.reason
    assert recording.samples == sinks[0].inner.samples < RATE     # the backlog was never written


def test_stop_without_start_is_not_recorded(tmp_path):
    recorder = CallRecorder("call-never", writer(tmp_path / "rec", "call-never", []), RATE)
    recording = recorder.stop()
    assert recording.status == "not_recorded" and "never started" in recording.reason
