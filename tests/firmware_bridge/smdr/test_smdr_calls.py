"""The call generator: deterministic, realistic, and always encodable by the codecs."""
from __future__ import annotations

import dataclasses
import re
from collections import Counter
from datetime import datetime

import pytest

from firmware_bridge.smdr.avaya import AvayaCodec, encode_record
from firmware_bridge.smdr.traffic import (avaya_call_end, generate_avaya_calls,
                                        generate_panasonic_calls, in_output_order)
from firmware_bridge.smdr.panasonic import (PanasonicCodec, PanasonicOptions, encode_record as
                                            encode_panasonic, panasonic_end_time)

START = datetime(2024, 3, 1, 23, 30)      # crosses midnight


def kind(call) -> str:
    first = call[0]
    if len(call) > 1:
        return "transfer"
    if first.is_internal:
        return "internal"
    if first.direction == "O":
        return "outbound"
    return "answered" if first.connected_s else "abandoned"


def test_same_seed_same_calls_other_seed_other_calls():
    one = generate_avaya_calls(300, start=START, seed=1)
    assert one == generate_avaya_calls(300, start=START, seed=1)
    assert one != generate_avaya_calls(300, start=START, seed=2)


def test_avaya_call_mix_looks_like_a_call_centre():
    calls = generate_avaya_calls(3000, start=START, seed=5)
    mix = Counter(kind(c) for c in calls)
    assert set(mix) == {"answered", "abandoned", "outbound", "internal", "transfer"}
    assert mix["answered"] > mix["outbound"] > mix["internal"]
    ids = [c[0].call_id for c in calls]
    assert len(set(ids)) == len(ids)
    starts = [c[0].call_start for c in calls]
    assert starts == sorted(starts) and starts[-1].startswith("2024/03/0")
    assert any(s.startswith("2024/03/02") for s in starts)           # the date rolled over
    for call in calls:
        for rec in call:
            assert re.fullmatch(r"[ETV]\d{4}", rec.party1_device)
            assert re.fullmatch(r"[ET]\d{4}", rec.party2_device)
        k = kind(call)
        if k in ("answered", "abandoned"):
            assert call[0].party2_device.startswith("T9") and call[0].direction == "I"
            assert re.fullmatch(r"(0\d{10})?", call[0].caller)           # UK number or withheld
        if k == "abandoned":
            assert call[0].ring_s > 0 and call[0].hold_s == 0
        if k == "internal":
            assert call[0].party2_device.startswith("E") and call[0].direction == "O"
        if k == "outbound":
            assert call[0].dialled_number == "9" + call[0].called_number


def test_transfers_share_a_call_id_and_continue_until_the_last_record():
    calls = [c for c in generate_avaya_calls(2000, start=START, seed=8) if len(c) > 1]
    assert {len(c) for c in calls} == {2, 3}
    assert any(c[-1].party1_device.startswith("V95") for c in calls)        # to voicemail
    assert any(c[-1].party1_device.startswith("E") for c in calls)          # to a colleague
    for call in calls:
        assert len({r.call_id for r in call}) == 1 and len({r.call_start for r in call}) == 1
        assert [r.continuation for r in call] == [True] * (len(call) - 1) + [False]


def test_every_generated_avaya_record_survives_the_wire():
    recs = [r for c in generate_avaya_calls(500, start=START, seed=4) for r in c]
    wire = b"".join(encode_record(r) for r in recs)
    events = AvayaCodec().feed(wire)
    assert [dataclasses.replace(e, raw=b"") for e in events] == recs


def test_output_order_follows_call_ends_keeping_legs_together():
    calls = generate_avaya_calls(200, start=START, seed=6)
    out = in_output_order(calls)
    assert len(out) == sum(map(len, calls))
    positions: dict[str, list[int]] = {}
    for i, rec in enumerate(out):
        positions.setdefault(rec.call_id, []).append(i)
    assert all(p == list(range(p[0], p[0] + len(p))) for p in positions.values())
    by_id = {c[0].call_id: c for c in calls}
    ends = [avaya_call_end(by_id[call_id]) for call_id in positions]
    assert ends == sorted(ends) and ends != [avaya_call_end(c) for c in calls]


@pytest.mark.parametrize("options", [
    PanasonicOptions(),
    PanasonicOptions(date_order="DMY", clock="24h", cost_column=True, line_width=80),
    PanasonicOptions(date_order="YMD", cost_column=True, line_width=120),
])
def test_panasonic_calls_encode_and_decode_in_every_pattern(options):
    calls = generate_panasonic_calls(400, start=START, seed=2, options=options)
    assert calls == generate_panasonic_calls(400, start=START, seed=2, options=options)
    recs = [r for c in calls for r in c]
    events = PanasonicCodec(options).feed(b"".join(encode_panasonic(r, options) for r in recs))
    assert [dataclasses.replace(e, raw=b"") for e in events] == recs
    intercom = [r for r in recs if r.dial_number.startswith("EXT")]
    assert intercom and all(r.co == "" and r.duration_s is None for r in intercom)
    assert any(r.condition == "TR" for r in recs)
    assert any(r.dial_number.startswith("<I>") and r.duration_s == 0 for r in recs)   # unanswered
    assert bool(any(r.cost for r in recs)) is (options.cost_column is True)
    ends = [panasonic_end_time(r, options) for r in recs]
    assert min(ends) >= START.replace(second=0) and max(ends).date() > START.date()
