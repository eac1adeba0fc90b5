"""The recording timeline: stereo alignment, PCI silence, silence trimming, a channel that stops."""
from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from appliance.audio.timeline import AGENT, CALLER, Timeline
from tests.appliance.audio.audio_support import padded

RATE = 8000
AT = datetime(2026, 3, 2, 9, 15, 0, tzinfo=timezone.utc)


def feed(timeline: Timeline, channel: int, pcm: np.ndarray, chunk: int) -> None:
    for i in range(0, len(pcm), chunk):
        timeline.add(channel, pcm[i:i + chunk].tobytes())


def stereo(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    s = np.frombuffer(data, dtype="<i2")
    return s[0::2], s[1::2]


def noise(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-8000, 8000, size=n).astype("<i2")


def test_channels_fed_in_different_chunks_come_out_interleaved_caller_left():
    tl = Timeline(RATE)
    caller, agent = noise(RATE, 1), noise(RATE, 2)
    feed(tl, CALLER, caller, 160)
    feed(tl, AGENT, agent, 333)
    out = tl.take() + tl.take(final=True)
    left, right = stereo(out)
    assert np.array_equal(left, caller) and np.array_equal(right, agent)
    assert tl.w == RATE and tl.trimmed == 0


def test_only_whole_vad_frames_leave_until_the_final_flush():
    tl = Timeline(RATE, vad_frame_ms=30)
    feed(tl, CALLER, noise(1000, 1), 1000)
    feed(tl, AGENT, noise(700, 2), 700)
    assert len(tl.take()) == 4 * 480            # two 240-sample frames of the 700 both channels have
    rest = tl.take(final=True)
    left, right = stereo(rest)
    assert len(left) == 1000 - 480 and not right[220:].any()   # the shorter channel is padded with silence


def test_pci_pause_is_exact_silence_in_both_channels_and_audited():
    tl = Timeline(RATE)
    caller, agent = noise(3 * RATE, 1), noise(3 * RATE, 2)
    out = []
    feed(tl, CALLER, caller[:RATE + 123], 160)
    feed(tl, AGENT, agent[:RATE + 123], 160)
    out.append(tl.take())
    assert tl.pause("agent-7", AT) is True
    assert tl.pause("agent-7", AT) is False           # already paused
    feed(tl, CALLER, caller[RATE + 123:2 * RATE], 160)
    feed(tl, AGENT, agent[RATE + 123:2 * RATE], 160)
    out.append(tl.take())
    assert tl.resume("crm", AT.replace(second=9)) is True
    assert tl.resume("crm", AT) is False              # not paused
    feed(tl, CALLER, caller[2 * RATE:], 160)
    feed(tl, AGENT, agent[2 * RATE:], 160)
    out.append(tl.take(final=True))
    left, right = stereo(b"".join(out))
    start, end = RATE + 123, 2 * RATE
    for channel, source in ((left, caller), (right, agent)):
        assert not channel[start:end].any()
        assert np.array_equal(channel[:start], source[:start])
        assert np.array_equal(channel[end:], source[end:])
    (pause,) = tl.pauses()
    assert (pause.start_s, pause.end_s) == (start / RATE, end / RATE)
    assert (pause.paused_by, pause.paused_at, pause.resumed_by, pause.resumed_at) == \
        ("agent-7", "2026-03-02T09:15:00Z", "crm", "2026-03-02T09:15:09Z")


def test_a_pause_still_open_at_the_end_runs_to_the_end():
    tl = Timeline(RATE)
    feed(tl, CALLER, noise(RATE, 1), 160)
    feed(tl, AGENT, noise(RATE, 2), 160)
    before = tl.take()                                 # whole 30 ms frames; the rest waits
    tl.pause("agent-7", AT)
    feed(tl, CALLER, noise(RATE, 3), 160)
    feed(tl, AGENT, noise(RATE, 4), 160)
    left, right = stereo(tl.take(final=True))
    waiting = RATE - len(before) // 4                  # received before the pause, written after
    assert left[:waiting].all() and not left[waiting:].any() and not right[waiting:].any()
    (pause,) = tl.pauses()
    assert (pause.start_s, pause.end_s, pause.resumed_by) == (1.0, 2.0, "")


def test_long_silences_are_cut_to_the_trim_length_but_never_inside_a_pci_window(speech):
    phrase = speech[("caller", RATE)]
    talk = padded(phrase, 0.0, 0.0)
    gap = np.zeros(5 * RATE, dtype="<i2")
    caller = np.concatenate((talk, gap, talk, gap, talk))
    agent = np.zeros(len(caller), dtype="<i2")
    tl = Timeline(RATE, trim_silence_s=1.0)
    second_gap = 2 * len(talk) + len(gap)
    feed(tl, CALLER, caller[:second_gap + RATE], 240)
    feed(tl, AGENT, agent[:second_gap + RATE], 240)
    out = [tl.take()]
    tl.pause("agent-7", AT)                            # 1 s into the second gap, for 2 s
    feed(tl, CALLER, caller[second_gap + RATE:second_gap + 3 * RATE], 240)
    feed(tl, AGENT, agent[second_gap + RATE:second_gap + 3 * RATE], 240)
    out.append(tl.take())
    tl.resume("agent-7", AT)
    feed(tl, CALLER, caller[second_gap + 3 * RATE:], 240)
    feed(tl, AGENT, agent[second_gap + 3 * RATE:], 240)
    out.append(tl.take(final=True))
    left, _ = stereo(b"".join(out))
    # each silence is the phrase's own tail + the gap + the next phrase's lead-in; the first is
    # cut to 1 s; the second keeps 1 s before the pause, the 2 s pause whole, 1 s after it
    tail_and_lead = (len(talk) - phrase.end + phrase.start) / RATE
    expected = (5.0 + tail_and_lead - 1.0) + (2.0 + phrase.start / RATE - 1.0)
    assert tl.trimmed / RATE == pytest.approx(expected, abs=0.35)
    assert len(left) == len(caller) - tl.trimmed
    (pause,) = tl.pauses()
    assert pause.end_s - pause.start_s == pytest.approx(2.0, abs=1 / RATE)
    a, b = int(pause.start_s * RATE), int(pause.end_s * RATE)
    assert not left[a:b].any()
    speech_ranges = tl.speech(CALLER)
    assert len(speech_ranges) == 3                      # the three phrases, at their new places
    assert all(abs((e - s) / RATE - phrase.span_s) < 0.3 for s, e in speech_ranges)


def test_a_channel_that_stops_is_padded_so_the_other_keeps_being_recorded():
    tl = Timeline(RATE, max_skew_s=0.5)
    feed(tl, CALLER, noise(30 * 240, 1), 160)         # whole 30 ms frames: nothing left waiting
    feed(tl, AGENT, noise(30 * 240, 2), 160)
    assert len(tl.take()) == 4 * 30 * 240
    feed(tl, CALLER, noise(3 * RATE, 3), 160)          # the headset went silent (lost)
    left, right = stereo(tl.take())
    assert len(left) >= int(2.5 * RATE) - tl.frame     # all but the last 0.5 s is written already
    assert not right.any()
    assert tl.padded[AGENT] >= int(2.5 * RATE) - tl.frame


def test_speech_results_are_cut_at_what_reached_the_disk(speech):
    phrase = speech[("agent", RATE)]
    tl = Timeline(RATE)
    agent = padded(phrase, 1.0, 1.0)
    feed(tl, AGENT, agent, 160)
    feed(tl, CALLER, np.zeros(len(agent), dtype="<i2"), 160)
    tl.take(final=True)
    full = tl.speech(AGENT)
    cut = tl.speech(AGENT, limit=2 * RATE)
    assert cut[-1][1] == 2 * RATE and full[-1][1] > 2 * RATE
    assert tl.speech(CALLER) == ()
