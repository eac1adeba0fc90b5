"""The AT codec on golden transcripts (whole, split at every byte, with noise), and fuzzed."""
from __future__ import annotations

import copy
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from at_transcripts import load, names, run_step, states_before_each_step
from firmware_bridge.at.protocol import MAX_LINE, AtCodec, encode_command, split_fields
from firmware_bridge.events import (CallEnded, CallerId, CommandResult, ProtocolError, Ring)

TRANSCRIPTS = names()
NOISE = b"\x00\xff\x1b[2J\xfe"      # not text: never mistaken for an information line


def test_every_transcript_is_found():
    assert {"at_27007_session", "at_clip_variants", "at_clcc", "at_call_endings", "at_identity",
            "at_v253_cid", "at_numeric_results"} <= set(TRANSCRIPTS)


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript_replayed_whole(name):
    transcript = load(name)
    codec = AtCodec(transcript.kind)
    for step in transcript.steps:
        assert run_step(codec, step) == list(step.expected), step


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript_fed_one_byte_at_a_time(name):
    transcript = load(name)
    codec = AtCodec(transcript.kind)
    for step in transcript.steps:
        chunks = [step.data[i:i + 1] for i in range(len(step.data))]
        assert run_step(codec, step, chunks) == list(step.expected), step


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript_split_at_every_byte_boundary(name):
    transcript = load(name)
    for step, before in zip(transcript.steps, states_before_each_step(transcript)):
        for cut in range(1, len(step.data)):
            codec = _clone(before)
            got = run_step(codec, step, [step.data[:cut], step.data[cut:]])
            assert got == list(step.expected), (step, cut)


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript_with_a_noise_line_at_every_line_start(name):
    """Noise costs one ProtocolError carrying its bytes; every real event still comes out."""
    transcript = load(name)
    for step, before in zip(transcript.steps, states_before_each_step(transcript)):
        starts = [i + 1 for i, byte in enumerate(step.data) if byte == 0x0A]
        for at in starts:
            codec = _clone(before)
            data = step.data[:at] + NOISE + b"\r\n" + step.data[at:]
            got = run_step(codec, step, [data])
            expected_errors = Counter(e for e in step.expected if e.startswith("ProtocolError"))
            got_errors = Counter(e for e in got if e.startswith("ProtocolError"))
            assert got_errors - expected_errors == Counter(
                [repr(ProtocolError("line is not text", NOISE))]), (step, at)
            assert [e for e in got if not e.startswith("ProtocolError")] == [
                e for e in step.expected if not e.startswith("ProtocolError")], (step, at)


def _clone(codec: AtCodec) -> AtCodec:
    return copy.deepcopy(codec)


# ---- line framing -----------------------------------------------------------------------

@pytest.mark.parametrize("ending", [b"\r\n", b"\r\r\n", b"\r", b"\n"])
def test_every_line_ending_gives_the_same_events(ending):
    codec = AtCodec()
    codec.command_sent("AT+CSQ")
    data = ending.join([b"", b"+CSQ: 23,99", b"", b"RING", b"OK", b""])
    assert codec.feed(data) == [Ring(), CommandResult("AT+CSQ", True, ("+CSQ: 23,99",))]


def test_over_long_line_is_reported_in_pieces_that_keep_every_byte_and_resyncs():
    codec = AtCodec()
    codec.command_sent("AT")
    line = bytes(range(0x41, 0x5B)) * 100           # 2600 printable bytes, no terminator
    events = codec.feed(line + b"\r\nOK\r\n")
    errors = [e for e in events if isinstance(e, ProtocolError)]
    assert [len(e.raw) for e in errors] == [MAX_LINE, MAX_LINE, len(line) - 2 * MAX_LINE]
    assert b"".join(e.raw for e in errors) == line
    assert events[-1] == CommandResult("AT", True)
    assert codec.stats["overlong"] == 3


def test_echo_is_dropped_even_when_a_urc_comes_first():
    codec = AtCodec()
    codec.command_sent("AT+CGMI")
    events = codec.feed(b"\r\nRING\r\nAT+CGMI\r\r\nSIMCOM INCORPORATED\r\n\r\nOK\r\n")
    assert events == [Ring(), CommandResult("AT+CGMI", True, ("SIMCOM INCORPORATED",))]
    assert codec.stats["echoes"] == 1


def test_cancelled_command_does_not_collect_late_lines():
    codec = AtCodec()
    codec.command_sent("AT+CGSN")
    codec.cancel_pending()
    events = codec.feed(b"\r\n862636051234567\r\n\r\nOK\r\n")
    assert [e.reason for e in events] == ["unrecognised line with no command pending",
                                         "final result with no command pending"]


def test_stats_count_what_happened():
    codec = AtCodec("voice-modem")
    data = b"RING\r\nNMBR = 5551234\r\nNAME = A\r\n\x00\r\n"
    codec.feed(data)
    stats = codec.stats
    assert (stats["lines"], stats["protocol_errors"], stats["cid_blocks"]) == (4, 1, 1)
    assert stats["bytes"] == len(data)


def test_gsm_codec_does_not_read_digits_as_numeric_results():
    codec = AtCodec("gsm")
    assert codec.feed(b"2\r") == [ProtocolError("unrecognised line with no command pending", b"2")]


def test_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        AtCodec("isdn")


# ---- helpers ------------------------------------------------------------------------------

def test_split_fields_respects_quotes_and_keeps_missing_fields():
    assert split_fields('"",128,,,,1') == ["", "128", "", "", "", "1"]
    assert split_fields('"a,b", c ,"x"') == ["a,b", "c", "x"]
    assert split_fields('"open') is None


def test_encode_command():
    assert encode_command("AT+CLIP=1") == b"AT+CLIP=1\r"
    with pytest.raises(ValueError):
        encode_command("ATH\rATD123;")
    with pytest.raises(ValueError):
        encode_command("AT+CPBW=1,\"Zoë\"")


def test_missed_call_without_number():
    assert AtCodec().feed(b"\r\nMISSED_CALL: 14:23\r\n") == [CallEnded("missed_call")]


def test_caller_id_block_with_repeated_tag_starts_a_new_block():
    codec = AtCodec("voice-modem")
    events = codec.feed(b"DATE = 0101\r\nNMBR = 111\r\nDATE = 0102\r\nNMBR = 222\r\nRING\r\n")
    assert events == [CallerId("111", date="0101"), CallerId("222", date="0102"), Ring()]


# ---- fuzzing ------------------------------------------------------------------------------

_PIECES = [b"\r", b"\n", b"\r\n", b"OK", b"ERROR", b"RING", b"+CLIP: ", b"+CLCC: ", b"+CRING: ",
           b'"', b",", b"128", b"1", b"6", b"+CME ERROR: ", b"VOICE CALL: END: ", b"000017",
           b"MISSED_CALL: ", b"NMBR = ", b"NAME = ", b"DATE = ", b" = ", b"NO CARRIER", b"\x00",
           b"\xff", b"\xc3", b"AT", b"0", b"2", b"x" * 700]
_stream = st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=8)), max_size=40).map(
    b"".join)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["gsm", "voice-modem"]),
       actions=st.lists(st.one_of(_stream, st.sampled_from(["AT", "ATA", "AT+CLCC", "AT+CLIP?",
                                                           "ATD123;", "AT+CSQ"])), max_size=12))
def test_no_input_makes_the_codec_raise(kind, actions):
    codec = AtCodec(kind)
    for action in actions:
        if isinstance(action, str):
            codec.command_sent(action)
        else:
            for event in codec.feed(action):
                assert not isinstance(event, ProtocolError) or isinstance(event.raw, bytes)


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["gsm", "voice-modem"]), data=_stream,
       cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=6))
def test_chunking_never_changes_the_events(kind, data, cuts):
    whole = AtCodec(kind)
    expected = whole.feed(data)
    chunked = AtCodec(kind)
    got = []
    previous = 0
    for cut in sorted(c % (len(data) + 1) for c in cuts) + [len(data)]:
        got.extend(chunked.feed(data[previous:cut]))
        previous = cut
    assert got == expected
