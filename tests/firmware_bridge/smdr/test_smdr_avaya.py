"""Avaya IP Office SMDR codec against the KB examples and a constructed R11 stream."""
from __future__ import annotations

import dataclasses

import pytest

from firmware_bridge.events import AvayaSmdrRecord, ProtocolError
from firmware_bridge.smdr.avaya import AvayaCodec, encode_record
from smdr_replay import assert_split_invariant, capture, errors, records, replay

KB_LINES = capture("avaya_kb_examples.txt").split(b"\r\n")[:4]

# What the Avaya KB says each example line means (hardware.md 4.1).
KB_EXPECTED = [
    AvayaSmdrRecord("2008/06/28 09:28:41", 0, 9, "8004206", "I", "4324", "4324", "", False,
                    "1000014155", False, "E4324", "Joe Bloggs", "T9161", "LINE 5.1", 0, 0,
                    raw=KB_LINES[0]),                                   # lost incoming call
    AvayaSmdrRecord("2008/06/28 09:30:57", 13, 7, "01707392200", "I", "299999", "299999", "",
                    False, "1000014160", True, "E4750", "John Smith", "T9002", "LINE 1.2", 11, 0,
                    raw=KB_LINES[1]),                                   # part 1, more follows
    AvayaSmdrRecord("2008/06/28 09:30:57", 21, 0, "01707392200", "I", "299999", "299999", "",
                    False, "1000014160", False, "V9502", "VM Channel 2", "T9002", "LINE 1.2", 0,
                    0, raw=KB_LINES[2]),                                # transferred to voicemail
    AvayaSmdrRecord("2008/06/26 10:27:44", 44, 4, "4688", "O", "4207", "4207", "", True,
                    "1000013898", False, "E4688", "Joe Bloggs", "E4207", "John Smith", 0, 0,
                    raw=KB_LINES[3]),                                   # internal call
]


def test_kb_examples_decode_to_what_the_kb_says():
    assert replay(AvayaCodec, capture("avaya_kb_examples.txt")) == KB_EXPECTED


def test_kb_examples_do_not_depend_on_how_reads_split_the_stream():
    assert assert_split_invariant(AvayaCodec, capture("avaya_kb_examples.txt")) == KB_EXPECTED


def test_r11_stream_with_nuls_extra_fields_and_bare_terminators():
    events = assert_split_invariant(AvayaCodec, capture("avaya_r11_stream.txt"))
    assert not errors(events)
    thirty, thirty_five, internal = events
    assert len(thirty.extra) == 13 and thirty.extra[:2] == ("0", "n/a")
    assert thirty.extra[-3:] == ("HG fnr", "Sales", "4300")             # external targeting
    assert len(thirty_five.extra) == 18
    assert thirty_five.extra[-1] == "2024/03/01 08:28:37"              # SMDR Record Time
    assert (thirty_five.account, thirty_five.hold_s, thirty_five.park_s) == ("7001", 35, 12)
    assert thirty_five.connected_s == 605
    assert not thirty.raw.startswith(b"\x00") and not thirty_five.raw.startswith(b"\x00")
    assert internal == KB_EXPECTED[3]


def test_noise_before_and_between_records_is_reported_and_kept():
    noise = [b"\x15\xfe#@!line noise", b"NOT,A,RECORD", b"x" * 5000, b"\xff\xfe\xfd"]
    stream = b""
    for line, junk in zip(KB_LINES, noise):
        stream += junk + b"\r\n" + line + b"\r\n"
    events = assert_split_invariant(AvayaCodec, stream)
    assert records(events) == KB_EXPECTED
    raws = [e.raw for e in errors(events)]
    assert raws[:2] == noise[:2]
    assert b"".join(raws[2:-1]) == noise[2]                           # over-long, in pieces
    assert all(len(r) <= 4096 for r in raws)
    assert raws[-1] == noise[3]


def test_over_long_line_resynchronises_at_the_next_terminator():
    codec = AvayaCodec()
    events = codec.feed(b"9" * 4097)
    assert [type(e) for e in events] == [ProtocolError] and len(events[0].raw) == 4096
    assert "longer than 4096" in events[0].reason
    events = codec.feed(b"99\r\n" + KB_LINES[0] + b"\r\n")
    assert events[0] == ProtocolError("tail of an over-long line", b"999")
    assert events[1] == KB_EXPECTED[0]


def test_a_line_of_exactly_the_limit_is_still_parsed():
    line = KB_LINES[0] + b"," + b"x" * (4096 - len(KB_LINES[0]) - 1)
    [event] = replay(AvayaCodec, line + b"\r\n")
    assert isinstance(event, AvayaSmdrRecord) and event.raw == line


@pytest.mark.parametrize("mutate, field", [
    (lambda f: f[:16], "16 comma-separated fields"),
    (lambda f: [b"2008/13/28 09:28:41"] + f[1:], "field 1 (Call Start)"),
    (lambda f: [b"28/06/2008 09:28:41"] + f[1:], "field 1 (Call Start)"),
    (lambda f: f[:1] + [b"0:0"] + f[2:], "field 2 (Connected Time)"),
    (lambda f: f[:2] + [b"nine"] + f[3:], "field 3 (Ring Time)"),
    (lambda f: f[:9] + [b"10000x4155"] + f[10:], "field 10 (Call ID)"),
    (lambda f: f[:15] + [b"-1"] + f[16:], "field 16 (Hold Time)"),
    (lambda f: f[:16] + [b""], "field 17 (Park Time)"),
    (lambda f: f[:4] + [b"X"] + f[5:], "field 5 (Direction)"),
])
def test_malformed_records_are_protocol_errors_naming_the_field(mutate, field):
    line = b",".join(mutate(KB_LINES[0].split(b",")))
    codec = AvayaCodec()
    [event] = codec.feed(line + b"\r\n" + b"\r\n")
    assert isinstance(event, ProtocolError)
    assert field in event.reason and event.raw == line
    assert b"8004206" not in event.reason.encode()          # reasons are logged: no numbers
    assert codec.stats == {"records": 0, "errors": 1, "bytes": len(line) + 4}


def test_stats_count_records_errors_and_bytes():
    codec = AvayaCodec()
    data = capture("avaya_kb_examples.txt") + b"garbage\r\n"
    codec.feed(data)
    assert codec.stats == {"records": 4, "errors": 1, "bytes": len(data)}


def test_partial_line_is_kept_and_flush_reports_it_without_guessing():
    codec = AvayaCodec()
    assert codec.feed(KB_LINES[0][:30]) == []
    assert codec.pending == 30
    assert codec.feed(KB_LINES[0][30:] + b"\r") == [KB_EXPECTED[0]]
    assert codec.feed(b"\n" + KB_LINES[1]) == []       # LF of CR LF split off: no empty record
    [cut] = codec.flush()
    assert isinstance(cut, ProtocolError) and cut.raw == KB_LINES[1]
    assert codec.pending == 0 and codec.flush() == []


def test_blank_and_nul_only_lines_are_ignored():
    assert replay(AvayaCodec, b"\r\n\x00\x00\r\n   \r\n" + KB_LINES[0] + b"\r\n") == KB_EXPECTED[:1]


def test_invalid_utf8_keeps_every_byte():
    line = KB_LINES[0].replace(b"Joe Bloggs", b"Jos\xe9 Garc\xeda")
    [event] = replay(AvayaCodec, line + b"\r\n")
    assert event.party1_name == "José García" and event.raw == line


def test_encode_gives_the_kb_line_back():
    for expected, line in zip(KB_EXPECTED, KB_LINES):
        assert encode_record(expected) == line + b"\r\n"


def test_encode_keeps_extra_fields_and_long_connected_times():
    rec = dataclasses.replace(KB_EXPECTED[0], connected_s=100 * 3600 + 61, extra=("0", "n/a", ""))
    line = encode_record(rec)
    assert line.endswith(b",0,n/a,\r\n") and b",100:01:01," in line
    assert replay(AvayaCodec, line) == [dataclasses.replace(rec, raw=line[:-2])]


@pytest.mark.parametrize("bad", ["Smith, John", "John\r\nSmith", "x\ny"])
def test_encode_refuses_fields_the_csv_cannot_carry(bad):
    with pytest.raises(ValueError, match="no quoting"):
        encode_record(dataclasses.replace(KB_EXPECTED[0], party1_name=bad))


# ---- NULs inside a record and too many fields: rejected with the raw bytes, never a call --------

R11_LINES = [line.lstrip(b"\x00") for line in
             capture("avaya_r11_stream.txt").replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
             if line.strip(b"\x00")]


@pytest.mark.parametrize("where", [0, 3, 12, 16, 34])
def test_a_nul_inside_any_field_is_rejected_naming_the_field(where):
    fields = R11_LINES[1].split(b",")                   # 35 fields, the longest IP Office sends
    assert len(fields) == 35
    fields[where] = fields[where][:1] + b"\x00" + fields[where][1:]
    line = b",".join(fields)
    codec = AvayaCodec()
    [event] = codec.feed(b"\x00\x00" + line + b"\r\n")      # leading NULs are still fine
    assert isinstance(event, ProtocolError)
    assert event.raw == line                                # every byte kept, the inner NUL too
    assert f"NUL byte inside field {where + 1}" in event.reason
    assert codec.stats["records"] == 0 and codec.stats["errors"] == 1


def test_two_records_run_together_through_nuls_are_one_rejected_line():
    """A record cut short, IP Office's NUL keepalives, then the next record: not a call."""
    glued = KB_LINES[0][:50] + b"\x00\x00\x00" + KB_LINES[1]
    events = replay(AvayaCodec, glued + b"\r\n" + KB_LINES[2] + b"\r\n")
    assert [type(e) for e in events] == [ProtocolError, AvayaSmdrRecord]
    assert events[0].raw == glued and events[1] == KB_EXPECTED[2]


def test_more_than_35_fields_is_rejected_and_35_is_not():
    line35 = R11_LINES[1]
    [ok] = replay(AvayaCodec, line35 + b"\r\n")
    assert isinstance(ok, AvayaSmdrRecord) and len(ok.extra) == 18
    line36 = line35 + b",extra"
    [event] = replay(AvayaCodec, line36 + b"\r\n")
    assert isinstance(event, ProtocolError) and event.raw == line36
    assert "36 comma-separated fields" in event.reason and "at most 35" in event.reason


def test_encode_refuses_what_the_codec_would_reject():
    with pytest.raises(ValueError, match="NUL"):
        encode_record(dataclasses.replace(KB_EXPECTED[0], party1_name="Jo\x00e"))
    with pytest.raises(ValueError, match="at most 35"):
        encode_record(dataclasses.replace(KB_EXPECTED[0], extra=("x",) * 19))
    assert encode_record(dataclasses.replace(KB_EXPECTED[0], extra=("x",) * 18)).count(b",") == 34
