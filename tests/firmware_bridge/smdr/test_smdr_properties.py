"""Property tests: no input makes an SMDR codec raise; valid records survive encode -> decode."""
from __future__ import annotations

import dataclasses
from datetime import datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_bridge.events import AvayaSmdrRecord, PanasonicSmdrRecord, ProtocolError
from firmware_bridge.smdr.avaya import AvayaCodec
from firmware_bridge.smdr.avaya import encode_record as encode_avaya
from firmware_bridge.smdr.panasonic import (PanasonicCodec, PanasonicOptions, format_end_time,
                                            layouts_for)
from firmware_bridge.smdr.panasonic import encode_record as encode_panasonic

PROPERTY = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

options_st = st.builds(PanasonicOptions, date_order=st.sampled_from(["MDY", "DMY", "YMD"]),
                       clock=st.sampled_from(["auto", "12h", "24h"]),
                       cost_column=st.sampled_from(["auto", True, False]),
                       line_width=st.sampled_from(["auto", 80, 120]))

# Byte soup biased towards what trips parsers: terminators, NULs, form feeds, commas, digits.
nasty_bytes = st.lists(st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\r", b"\n", b"\r\n", b"\x00", b"\x0c", b",", b"*", b"-", b"'", b":", b"/",
                     b"2008/06/28 09:28:41,00:00:00,9,", b"01/02/02 10:03AM 1200 01 ",
                     b"0'05 00:01'05", b"Date Time Ext", b" " * 30]),
), max_size=60).map(b"".join)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)])]


def drain(codec, chunks: list[bytes]) -> list:
    events = []
    for chunk in chunks:
        events += codec.feed(chunk)
    return events + codec.flush()


@PROPERTY
@given(data=nasty_bytes, cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_avaya_codec_never_raises(data, cuts):
    codec = AvayaCodec(max_line=64)
    events = drain(codec, split(data, cuts))
    assert all(isinstance(e, (AvayaSmdrRecord, ProtocolError)) for e in events)
    assert codec.stats["records"] + codec.stats["errors"] == len(events)
    assert all(e.raw for e in events)                  # nothing comes out without its bytes


@PROPERTY
@given(data=nasty_bytes, cuts=st.lists(st.integers(min_value=0), max_size=6), options=options_st)
def test_panasonic_codec_never_raises(data, cuts, options):
    codec = PanasonicCodec(options, max_line=64)
    events = drain(codec, split(data, cuts))
    assert all(isinstance(e, (PanasonicSmdrRecord, ProtocolError)) for e in events)
    assert all(e.raw for e in events)


# ---- Avaya round trip ----------------------------------------------------------------------

csv_text = st.text(st.characters(blacklist_characters=",\r\n\x00", blacklist_categories=["Cs"]),
                   max_size=12)
digits = st.text("0123456789", min_size=1, max_size=10)
seconds = st.integers(min_value=0, max_value=10 ** 6)

avaya_records = st.builds(
    AvayaSmdrRecord,
    call_start=st.datetimes(min_value=datetime(1000, 1, 1))
                 .map(lambda d: d.strftime("%Y/%m/%d %H:%M:%S")),
    connected_s=seconds, ring_s=seconds, caller=csv_text, direction=st.sampled_from("IO"),
    called_number=csv_text, dialled_number=csv_text, account=csv_text, is_internal=st.booleans(),
    call_id=digits, continuation=st.booleans(), party1_device=csv_text, party1_name=csv_text,
    party2_device=csv_text, party2_name=csv_text, hold_s=seconds, park_s=seconds,
    extra=st.lists(csv_text, max_size=18).map(tuple))


@PROPERTY
@given(recs=st.lists(avaya_records, max_size=8), cuts=st.lists(st.integers(min_value=0), max_size=8),
       nuls=st.integers(0, 3))
def test_avaya_records_round_trip(recs, cuts, nuls):
    lines = [encode_avaya(r) for r in recs]
    stream = b"".join(b"\x00" * nuls + line for line in lines)
    events = drain(AvayaCodec(), split(stream, cuts))
    assert events == [dataclasses.replace(r, raw=line[:-2]) for r, line in zip(recs, lines)]


# ---- Panasonic round trip ------------------------------------------------------------------

field = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e), min_size=1)
dial = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=50) \
    .map(str.strip)


@st.composite
def panasonic_case(draw):
    options = draw(options_st)
    layouts = layouts_for(options)
    layout = draw(st.sampled_from(layouts))
    width = {name: end - start for name, start, end in layout.columns}
    date, time = format_end_time(draw(st.datetimes()), options)
    has = width.__contains__
    duration = draw(st.none() | st.integers(0, 99 * 3600 + 3599))
    cost = ""
    if has("cost") and options.cost_column is not False and draw(st.booleans()):
        cost = f"{draw(st.integers(0, 99999999)) / 100:.2f}{draw(st.sampled_from(['', 'EU', 'EUR']))}"
        cost = cost if len(cost) <= width["cost"] else ""
    rec = PanasonicSmdrRecord(
        date=date, time=time, extension=draw(field.filter(lambda s: len(s) <= 5)),
        co=draw(st.text("0123456789", max_size=width["co"])),
        dial_number=draw(dial.filter(lambda s: len(s) <= width["dial"])),
        ring_s=draw(st.none() | st.integers(0, 599)) if has("ring") else None,
        duration_s=duration, account_code=draw(st.just("") | field.filter(lambda s: len(s) <= 10)),
        cost=cost, condition=draw(st.sampled_from(["", "TR", "FW", "D0", "RM"])))
    return options, rec


@PROPERTY
@given(cases=st.lists(panasonic_case(), min_size=1, max_size=6),
       cuts=st.lists(st.integers(min_value=0), max_size=6))
def test_panasonic_records_round_trip(cases, cuts):
    options = cases[0][0]
    recs = [rec for opts, rec in cases if opts == options] or [cases[0][1]]
    lines = [encode_panasonic(r, options) for r in recs]
    events = drain(PanasonicCodec(options), split(b"".join(lines), cuts))
    assert events == [dataclasses.replace(r, raw=line[:-2]) for r, line in zip(recs, lines)]
