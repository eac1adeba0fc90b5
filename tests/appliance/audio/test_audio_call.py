"""Whole calls over real PyAudio + ALSA: devices, bridge, recorder and the age SegmentWriter together."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path

import numpy as np
import pytest

from appliance.audio.bridge import Bridge
from appliance.audio.recorder import CallRecorder
from appliance.audio.segments import SegmentWriter
from tests.appliance.audio.audio_support import device, find, loud_windows, padded, to_rate
from tests.appliance.audio.recording_helpers import age_decrypt, keygen
from tests.helpers.alsa import FilePcm
from tests.helpers.waiting import wait_for

RATE = 8000                 # the line's rate, and so the recording's
CORRELATION_MIN = 0.9
SPAN_TOLERANCE_S = 0.3


class Call:
    """A line (8 kHz) and a headset (16 kHz) playing the given phrases, bridged and recorded."""

    def __init__(self, host_factory, directory: Path, caller: np.ndarray, agent: np.ndarray, key: str):
        (directory / "line_in.raw").write_bytes(caller.tobytes())
        (directory / "headset_in.raw").write_bytes(agent.tobytes())
        self.directory = directory
        host = host_factory(FilePcm("line", directory / "line_in.raw", directory / "line_out.raw"),
                            FilePcm("headset", directory / "headset_in.raw", directory / "headset_out.raw"))
        self.keys = keygen(directory)
        self.recorder = CallRecorder(key, partial(SegmentWriter, directory / "rec", key, [self.keys.recipient], RATE,
                                                  segment_s=3.0), RATE)
        self.caller_taps, self.agent_taps = [], []
        self.line = host.open(device("line", RATE))
        self.headset = host.open(device("headset", 16000))
        self.bridge = Bridge(key, self.line, self.headset, caller_tap=self._caller, agent_tap=self._agent)

    def _caller(self, pcm: bytes) -> None:
        self.caller_taps.append(pcm)
        self.recorder.caller(pcm)

    def _agent(self, pcm: bytes) -> None:
        self.agent_taps.append(pcm)
        self.recorder.agent(pcm)

    def start(self) -> None:
        self.recorder.start()
        self.bridge.start()

    def tapped_s(self) -> float:
        return len(self.caller_taps) * 0.02

    def hang_up(self):
        assert self.recorder.status()["padded_s"] == [0.0, 0.0]    # both channels kept up
        stats = self.bridge.stop()
        recording = self.recorder.stop()
        self.line.close()
        self.headset.close()
        return stats, recording

    def decrypted(self, recording) -> np.ndarray:
        data = b""
        for seg in recording.segments:
            out = age_decrypt(self.keys.identity_file, (self.directory / "rec" / seg.name).read_bytes())
            assert out.returncode == 0, out.stderr
            data += out.stdout
        return np.frombuffer(data, dtype="<i2")

    def taps(self) -> tuple[np.ndarray, np.ndarray]:
        return (np.frombuffer(b"".join(self.caller_taps), dtype="<i2"),
                np.frombuffer(b"".join(self.agent_taps), dtype="<i2"))


def test_a_6_s_call_records_6_s_with_the_pci_pause_silent_and_the_bridge_untouched(audio_host, tmp_path, speech):
    call = Call(audio_host, tmp_path, padded(speech[("caller", RATE)], 0.2, 1.0),
                padded(speech[("agent", 16000)], 3.0, 1.0), "site-a/line1/pci")
    paused_at = datetime(2026, 3, 2, 9, 15, 2, tzinfo=timezone.utc)
    resumed_at = datetime(2026, 3, 2, 9, 15, 4, tzinfo=timezone.utc)
    started = time.monotonic()
    call.start()
    wait_for(lambda: call.tapped_s() >= 1.5, timeout=10, message="1.5 s of call")
    call.recorder.pause("agent-7", paused_at)              # the caller reads out a card number
    wait_for(lambda: call.tapped_s() >= 3.0, timeout=10, message="3 s of call")
    call.recorder.resume("crm", resumed_at)
    wait_for(lambda: time.monotonic() - started >= 6.0, timeout=10, message="a 6 s call")
    stats, recording = call.hang_up()

    # paced devices: a 6 s call is about 6 s of audio, not as much as the files could give
    assert recording.status == "recorded"
    assert recording.samples / RATE == pytest.approx(6.0, abs=0.5)   # unpaced, it would be minutes
    stereo = call.decrypted(recording)
    assert len(stereo) == 2 * recording.samples

    (pause,) = recording.pci_pauses
    assert (pause.paused_by, pause.paused_at, pause.resumed_by, pause.resumed_at) == \
        ("agent-7", "2026-03-02T09:15:02Z", "crm", "2026-03-02T09:15:04Z")
    assert pause.start_s == pytest.approx(1.5, abs=0.1) and pause.end_s == pytest.approx(3.0, abs=0.1)
    a, b = round(pause.start_s * RATE), round(pause.end_s * RATE)
    assert not stereo[2 * a:2 * b].any()                    # exact silence, both channels
    caller, _ = call.taps()
    assert np.sqrt(np.mean(caller[a:b].astype(float) ** 2)) > 500    # ... over real speech
    left = np.zeros(recording.samples, dtype="<i2")                 # the caller, its end padded
    left[:len(caller)] = caller[:recording.samples]
    assert np.array_equal(stereo[0:2 * a:2], left[:a])              # the timeline around it intact
    assert np.array_equal(stereo[2 * b::2], left[b:])
    # the agent heard the caller all through the pause
    heard = to_rate(np.fromfile(tmp_path / "headset_out.raw", dtype="<i2"), 16000, RATE)
    scores = [find(caller[s:s + n], heard, len(heard))[0] for s, n in loud_windows(caller, RATE, a, b)]
    assert len(scores) >= 4 and float(np.median(scores)) >= CORRELATION_MIN
    assert stats.to_agent.frames >= 290


def test_a_live_call_is_recorded_bit_exact_with_speech_and_talk_over_marked(audio_host, tmp_path, speech):
    caller_phrase, agent_phrase = speech[("caller", RATE)], speech[("agent", 16000)]
    # a second of silence first: on a busy box the bridge may start a little after the devices
    caller_in = padded(caller_phrase, 1.0, 1.0)
    call = Call(audio_host, tmp_path, caller_in, padded(agent_phrase, 3.0, 1.0), "site-a/line1/talk")
    call.start()
    wait_for(lambda: call.tapped_s() >= 3.0 + len(agent_phrase.pcm) / 16000 + 0.5, timeout=20,
             message="both phrases said")
    _, recording = call.hang_up()

    caller, agent = call.taps()
    n = max(len(caller), len(agent))
    expected = np.zeros(2 * n, dtype="<i2")
    expected[0:2 * len(caller):2], expected[1:2 * len(agent):2] = caller, agent
    assert recording.status == "recorded" and recording.samples == n
    assert np.array_equal(call.decrypted(recording), expected)

    # where each phrase sits in the recording, found from its audio; VAD must agree with it
    spans = {}
    agent_8k = to_rate(agent_phrase.pcm, 16000, RATE)
    edge = RATE // 2           # the phrase's first and last half second, found on their own
    # the line's capture file starts over after its end: look only before that
    for name, first, pcm, start, end in (
            ("caller", caller[:len(caller_in) - edge], caller_phrase.pcm, caller_phrase.start, caller_phrase.end),
            ("agent", agent, agent_8k, agent_phrase.start // 2, agent_phrase.end // 2)):
        head_score, head = find(pcm[start:start + edge], first, len(first))
        tail_score, tail = find(pcm[end - edge:end], first, len(first))
        assert min(head_score, tail_score) >= CORRELATION_MIN, name
        spans[name] = (head / RATE, (tail + edge) / RATE)
    for name, ranges, ratio in (("caller", recording.caller_speech, recording.caller_speech_ratio),
                                ("agent", recording.agent_speech, recording.agent_speech_ratio)):
        (s, e), = ranges
        assert abs(s / RATE - spans[name][0]) <= SPAN_TOLERANCE_S and abs(e / RATE - spans[name][1]) <= SPAN_TOLERANCE_S
        assert ratio == pytest.approx((spans[name][1] - spans[name][0]) * RATE / n, abs=SPAN_TOLERANCE_S * RATE / n)
    both = min(spans["caller"][1], spans["agent"][1]) - max(spans["caller"][0], spans["agent"][0])
    assert both > 2.0
    assert recording.talk_over_s == pytest.approx(both, abs=SPAN_TOLERANCE_S)
