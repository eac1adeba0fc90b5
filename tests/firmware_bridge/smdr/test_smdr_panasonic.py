"""Panasonic KX-TDA/NS SMDR codec: the manual's patterns A, B and C, page furniture, site options."""
from __future__ import annotations

from datetime import datetime

import pytest

from firmware_bridge.events import PanasonicSmdrRecord, ProtocolError
from firmware_bridge.smdr.panasonic import (PanasonicCodec, PanasonicOptions, encode_page_header,
                                            encode_record, panasonic_end_time)
from smdr_replay import assert_split_invariant, capture, errors, records, replay

MDY_12H = PanasonicOptions(date_order="MDY", clock="12h")
DMY_24H_COST = PanasonicOptions(date_order="DMY", clock="24h", cost_column=True, line_width=80)
YMD_120 = PanasonicOptions(date_order="YMD", line_width=120)


def fields(rec: PanasonicSmdrRecord) -> tuple:
    return (rec.date, rec.time, rec.extension, rec.co, rec.dial_number, rec.ring_s, rec.duration_s,
            rec.account_code, rec.cost, rec.condition)


# Pattern A rows: the KX-NS1000 Feature Guide examples laid out in 80 columns.
PATTERN_A = [
    ("01/02/02", "10:03AM", "1200", "01", "<I>12345678901234567890", 315, 0, "", "", ""),
    ("01/02/02", "10:07AM", "1200", "01", "<I>", 5, 65, "9876543210", "", ""),
    ("01/02/02", "10:15AM", "1200", "01", "1234567890123456", None, 65, "9876543210", "", ""),
    ("01/02/02", "10:30AM", "*123", "01", "1234567890123456", None, 65, "9876543210", "", ""),
    ("01/02/02", "01:07PM", "1234", "01", "<I>ABC COMPANY12345678", 5, 65, "9876543210", "", ""),
    ("01/02/02", "01:07PM", "1234", "01", "<D>CDE9876<I>Q COMPANY", 5, 65, "9876543210", "", ""),
    ("01/02/02", "01:07PM", "1234", "01", "ABC COMPANY12345678", None, 65, "", "", ""),
    ("01/02/02", "01:07PM", "1234", "01", "123..............", None, 65, "", "", ""),
    ("01/02/02", "01:07PM", "1234", "01", "123456XX", None, 725, "98765", "", ""),
    ("01/02/02", "08:33AM", "1234", "", "In the office", None, None, "", "", ""),
    ("01/02/02", "01:07PM", "1234", "", "LOG IN", None, None, "", "", ""),
    ("01/02/02", "03:35PM", "1234", "", "LOG OUT", None, None, "", "", ""),
    ("01/02/02", "03:45PM", "1234", "", "EXT1235", None, None, "", "", ""),
    ("01/02/02", "03:50PM", "1234", "", "Check in", None, None, "", "", ""),
    ("01/02/02", "03:55PM", "1234", "", "Check out", None, None, "", "", ""),
    ("01/02/02", "04:00PM", "1234", "", "Timed Reminder/Start", None, None, "", "", ""),
    ("01/02/02", "04:01PM", "1234", "", "Timed Reminder/No Answer", None, None, "", "", ""),
    ("01/02/02", "04:01PM", "1234", "", "Timed Reminder/Answer", None, None, "", "", ""),
    ("01/02/02", "04:05PM", "1234", "01", "<I>S003", None, None, "", "", ""),
    ("01/02/02", "04:10PM", "1201", "02", "<I>01707392200", 12, 200, "", "", "TR"),
    ("01/02/02", "12:00PM", "1202", "03", "901707392200", None, 3723, "", "", "FW"),
]
PATTERN_B = [
    ("28/06/08", "09:28", "1210", "01", "<I>", None, 5, "", "", ""),
    ("28/06/08", "09:31", "2005", "01", "1234567890123456789", None, 5, "9876543210", "00560.00EU", ""),
    ("28/06/08", "13:07", "2005", "02", "01707392200", None, 761, "", "00012.40EU", ""),
    ("28/06/08", "14:00", "2005", "", "EXT2006", None, None, "", "", ""),
    ("28/06/08", "23:59", "2006", "03", "<I>07700900123", None, 70, "", "", "TR"),
    ("29/06/08", "00:04", "2006", "03", "<I>07700900123", None, 250, "", "", ""),
]
PATTERN_C = [
    ("08/06/28", "10:03AM", "1230", "0001", "123456789012345678901234567890", None, 5,
     "9876543210", "00560.00EUR", ""),
    ("08/06/28", "10:07AM", "1230", "0001", "<I>ABC COMPANY123456789012345", 5, 65, "", "", ""),
    ("08/06/28", "12:15PM", "1231", "0101", "<D>4300<I>01707392200", 10, 3723, "", "", "TR"),
    ("08/06/28", "12:16PM", "1231", "", "EXT1230", None, None, "", "", ""),
]
LOOSE = [
    ("01/02/02", "*10:03AM", "1200", "01", "<I>0123456789", 5, 65, "", "", ""),
    ("01/02/02", "10:05AM", "1201", "01", "0161496000", None, 130, "1234", "", ""),
    ("01/02/02", "10:07AM", "1202", "02", "<I>ABC COMPANY", 20, 0, "", "", ""),
    ("01/02/02", "10:09AM", "1203", "03", "<D>123456789012<I>ABC COMPANY LIMITED", 3, 300, "", "", "TR"),
    ("01/02/02", "10:11AM", "1204", "04", "0161496001", 0, 60, "", "00001.20EU", ""),
    ("01/02/02", "10:13AM", "1205", "", "EXT1206", None, None, "", "", ""),
]

GOLDEN = [
    ("panasonic_a_mdy_12h.txt", MDY_12H, PATTERN_A),
    ("panasonic_b_dmy_24h_cost.txt", DMY_24H_COST, PATTERN_B),
    ("panasonic_c_ymd_120.txt", YMD_120, PATTERN_C),
    ("panasonic_loose_columns.txt", PanasonicOptions(), LOOSE),
]


@pytest.mark.parametrize("name, options, expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_capture_decodes_every_record_and_skips_page_furniture(name, options, expected):
    data = capture(name)
    events = replay(lambda: PanasonicCodec(options), data)
    assert not errors(events)
    assert [fields(e) for e in events] == expected
    lines = [line.lstrip(b"\x0c") for line in data.replace(b"\r\n", b"\r").split(b"\r")]
    assert all(e.raw in lines for e in events)          # raw is the printed line, unchanged


@pytest.mark.parametrize("name, options, expected", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_capture_does_not_depend_on_how_reads_split_it(name, options, expected):
    events = assert_split_invariant(lambda: PanasonicCodec(options), capture(name))
    assert [fields(e) for e in events] == expected


def test_auto_options_read_every_pattern():
    for name, _, expected in GOLDEN[:1] + GOLDEN[2:]:
        assert [fields(e) for e in replay(PanasonicCodec, capture(name))] == expected
    dmy = PanasonicOptions(date_order="DMY")           # the date order cannot be guessed
    assert [fields(e) for e in replay(lambda: PanasonicCodec(dmy), capture(GOLDEN[1][0]))] \
        == PATTERN_B


def test_noise_before_and_between_records_is_reported_and_kept():
    good = capture("panasonic_a_mdy_12h.txt").split(b"\r\n")
    noise = [b"\x15\xfe#@!line noise", b"NO CARRIER", b"\xff" * 500, b"01/02/02 garbage"]
    stream = b""
    for i, line in enumerate(good):
        if i % 7 == 3:
            stream += noise[(i // 7) % len(noise)] + b"\r\n"
        stream += line + b"\r\n"
    # A short line limit keeps this test fast; the over-long path is the same at 4096.
    events = assert_split_invariant(lambda: PanasonicCodec(MDY_12H, max_line=200), stream)
    assert [fields(e) for e in records(events)] == PATTERN_A
    raws = [e.raw for e in errors(events)]
    assert raws[0] == noise[0] and raws[1] == noise[1]
    assert b"".join(raws[2:-1]) == noise[2] and raws[-1] == noise[3]


def test_detects_clock_cost_and_width_from_what_is_printed():
    codec = PanasonicCodec()
    codec.feed(capture("panasonic_c_ymd_120.txt"))
    assert codec.detected == {"clock": "12h", "cost_column": True, "line_width": 120}
    codec = PanasonicCodec(PanasonicOptions(date_order="DMY"))
    codec.feed(capture("panasonic_b_dmy_24h_cost.txt"))
    assert codec.detected == {"clock": "24h", "cost_column": True, "line_width": 80}


def test_wrong_date_order_gives_errors_not_wrong_dates():
    events = replay(lambda: PanasonicCodec(PanasonicOptions(date_order="MDY")),
                    capture("panasonic_b_dmy_24h_cost.txt"))
    assert all(isinstance(e, ProtocolError) and "valid MDY date" in e.reason for e in events)
    assert len(events) == len(PATTERN_B)


def test_12h_clock_rejects_times_without_am_pm():
    [event] = replay(lambda: PanasonicCodec(PanasonicOptions(clock="12h")),
                     b"01/02/02 22:03 1200 01 0161496000 00:01'00\r\n")
    assert isinstance(event, ProtocolError) and "AM/PM" in event.reason


def test_clock_changed_records_are_errors_and_star_lines_are_skipped():
    codec = PanasonicCodec()
    events = codec.feed(b"*****\r\n**/**/** **:**** 1234 01 0161496000 *'** **:**'**\r\n")
    [event] = events
    assert isinstance(event, ProtocolError) and "clock was changed" in event.reason
    assert codec.stats["skipped"] == 1


@pytest.mark.parametrize("line, why", [
    (b"01/02/02", "expected date, time and extension"),
    (b"13/45/02 10:03AM 1200 01 <I> 0'05 00:01'05", "valid MDY date"),
    (b"01/02/02 25:03 1200 01 <I> 0'05 00:01'05", "valid time"),
    (b"01/02/02 10:03AM 1200 01 <I> 0'75 00:01'05", "60 or more"),
    (b"hello world how are you", "Date is not"),
])
def test_unparseable_lines_are_protocol_errors(line, why):
    [event] = replay(PanasonicCodec, line + b"\r\n")
    assert isinstance(event, ProtocolError) and why in event.reason and event.raw == line


def test_end_time_follows_the_options():
    a = replay(lambda: PanasonicCodec(MDY_12H), capture("panasonic_a_mdy_12h.txt"))
    assert panasonic_end_time(a[0], MDY_12H) == datetime(2002, 1, 2, 10, 3)
    assert panasonic_end_time(a[4], MDY_12H) == datetime(2002, 1, 2, 13, 7)
    assert panasonic_end_time(a[-1], MDY_12H) == datetime(2002, 1, 2, 12, 0)     # 12:00PM is noon
    b = replay(lambda: PanasonicCodec(DMY_24H_COST), capture("panasonic_b_dmy_24h_cost.txt"))
    assert panasonic_end_time(b[4], DMY_24H_COST) == datetime(2008, 6, 28, 23, 59)
    c = replay(lambda: PanasonicCodec(YMD_120), capture("panasonic_c_ymd_120.txt"))
    assert panasonic_end_time(c[2], YMD_120) == datetime(2008, 6, 28, 12, 15)
    loose = replay(PanasonicCodec, capture("panasonic_loose_columns.txt"))
    assert panasonic_end_time(loose[0], PanasonicOptions()) == datetime(2002, 1, 2, 10, 3)
    midnight = PanasonicSmdrRecord("01/02/02", "12:05AM", "1200", "01", "<I>", None, 5)
    assert panasonic_end_time(midnight, PanasonicOptions()) == datetime(2002, 1, 2, 0, 5)
    new_year = PanasonicSmdrRecord("12/31/02", "11:59PM", "1200", "01", "<I>", None, 5)
    assert panasonic_end_time(new_year, PanasonicOptions()) == datetime(2002, 12, 31, 23, 59)
    with pytest.raises(ValueError):
        panasonic_end_time(new_year, PanasonicOptions(date_order="YMD"))      # month 31


def test_encode_reproduces_the_golden_lines():
    for name, options, expected in GOLDEN[:3]:
        events = replay(lambda: PanasonicCodec(options), capture(name))
        for event in events:
            assert encode_record(event, options) == event.raw + b"\r\n"


def test_encode_picks_a_pattern_that_fits_or_refuses():
    rec = PanasonicSmdrRecord("01/02/02", "10:03AM", "1200", "01", "0161496000", 5, 65,
                              cost="00560.00EU")
    with pytest.raises(ValueError, match="does not fit"):
        encode_record(rec, PanasonicOptions(line_width=80))     # B has no ring column
    line = encode_record(rec, PanasonicOptions())
    assert len(line) > 82                                      # went to the 120-column pattern C
    assert [fields(e) for e in replay(PanasonicCodec, line)] == [fields(rec)]
    with pytest.raises(ValueError, match="does not fit"):
        encode_record(rec, PanasonicOptions(cost_column=False, line_width=80))
    with pytest.raises(ValueError, match="CR, LF"):
        encode_record(PanasonicSmdrRecord("01/02/02", "10:03AM", "1200", "01", "1\r2", None, 5))


def test_page_header_is_skipped_in_every_layout():
    for options in (MDY_12H, DMY_24H_COST, YMD_120):
        codec = PanasonicCodec(options)
        assert codec.feed(encode_page_header(options) * 3) == []
        assert codec.stats["errors"] == 0 and codec.stats["skipped"] == 6
    codec = PanasonicCodec()                                  # a header without the form feed
    assert codec.feed(b" DATE    TIME   EXT  CO  DIAL NUMBER     RING DURATION ACC CODE CD\r") == []
    assert codec.stats["skipped"] == 1


@pytest.mark.parametrize("bad", [dict(date_order="DDMMYY"), dict(clock="13h"),
                                 dict(cost_column="yes"), dict(line_width=132)])
def test_bad_options_are_refused_at_start(bad):
    with pytest.raises(ValueError):
        PanasonicOptions(**bad)
