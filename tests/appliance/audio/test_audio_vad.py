"""Voice activity on real speech: where it is, how much of the channel it fills, and talk-over."""
from __future__ import annotations

import numpy as np
import pytest

from appliance.audio.vad import ChannelVad, SpeechMap, analyse, overlap
from tests.appliance.audio.audio_support import padded

SPAN_TOLERANCE_S = 0.3     # webrtcvad's frame grid and hangover vs. the phrase's own loud span


@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("mode", [0, 1, 2, 3])
@pytest.mark.parametrize("frame_ms", [10, 20, 30])
def test_speech_range_and_ratio_match_the_spoken_phrase(speech, rate, mode, frame_ms):
    phrase = speech[("caller", rate)]
    pcm = padded(phrase, 1.0, 2.0)
    activity = analyse(pcm.tobytes(), rate, mode=mode, frame_ms=frame_ms)
    start_s, end_s = 1.0 + phrase.start / rate, 1.0 + phrase.end / rate
    assert len(activity.speech) == 1                  # word gaps merge into one range
    (a, b), = activity.speech
    assert abs(a / rate - start_s) <= SPAN_TOLERANCE_S
    assert abs(b / rate - end_s) <= SPAN_TOLERANCE_S
    expected_ratio = phrase.span_s / (len(pcm) / rate)
    assert activity.ratio == pytest.approx(expected_ratio, abs=SPAN_TOLERANCE_S / (len(pcm) / rate))


def test_without_merging_the_pauses_between_words_are_not_speech(speech):
    phrase = speech[("caller", 8000)]
    pcm = padded(phrase, 0.5, 0.5).tobytes()
    merged = analyse(pcm, 8000, mode=3, frame_ms=10)
    words = analyse(pcm, 8000, mode=3, frame_ms=10, merge_gap_ms=0)
    assert len(words.speech) > 3
    assert words.ratio < merged.ratio


def test_silence_and_a_quiet_hum_are_not_speech():
    rate = 8000
    hum = np.rint(30 * np.sin(2 * np.pi * 50 * np.arange(3 * rate) / rate)).astype("<i2")
    for pcm in (bytes(2 * 3 * rate), hum.tobytes()):
        activity = analyse(pcm, rate, mode=2)
        assert activity.speech == () and activity.ratio == 0.0


def test_talk_over_is_the_time_both_phrases_sound(speech):
    caller, agent = speech[("caller", 8000)], speech[("agent", 8000)]
    agent_at = 3.0                                    # the agent starts talking 3 s into the call
    caller_pcm = padded(caller, 0.5, 6.0)
    agent_pcm = padded(agent, agent_at, 0.0)[:len(caller_pcm)]
    a = analyse(caller_pcm.tobytes(), 8000)
    b = analyse(agent_pcm.tobytes(), 8000)
    expected = min(0.5 + caller.end / 8000, agent_at + agent.end / 8000) - max(0.5 + caller.start / 8000,
                                                                                agent_at + agent.start / 8000)
    assert overlap(a.speech, b.speech) / 8000 == pytest.approx(expected, abs=SPAN_TOLERANCE_S)


def test_overlap_of_range_lists():
    assert overlap([(0, 10), (20, 30)], [(5, 25)]) == 10
    assert overlap([(0, 10)], [(10, 20)]) == 0
    assert overlap([], [(0, 5)]) == 0
    assert overlap([(0, 100)], [(10, 20), (30, 40), (90, 200)]) == 30


def test_speech_map_merges_ranges_closer_than_the_gap():
    m = SpeechMap(merge_gap=5)
    for a, b in [(0, 10), (12, 20), (40, 50), (50, 60), (70, 70)]:
        m.add(a, b)
    assert m.ranges == ((0, 20), (40, 60)) and m.total() == 40


@pytest.mark.parametrize("kw,message", [({"mode": 4}, "mode"), ({"frame_ms": 25}, "frame_ms"),
                                        ({"sample_rate": 44100}, "sample rate")])
def test_bad_vad_settings_are_refused_clearly(kw, message):
    args = {"sample_rate": 8000, "mode": 2, "frame_ms": 30} | kw
    with pytest.raises(ValueError, match=message):
        ChannelVad(**args)
