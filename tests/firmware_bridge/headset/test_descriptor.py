"""The report-descriptor parser: layout of real descriptors, every item kind, and only DescriptorError on bad input."""
from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from firmware_bridge.exceptions import DescriptorError
from firmware_bridge.headset.descriptor import parse_descriptor

from headset_layouts import TWO_COLLECTIONS, UNNUMBERED
from headset_support import DATA, descriptor

REAL = sorted(p.name for p in DATA.glob("*.bin"))


def test_there_are_real_descriptors_to_test():
    assert len(REAL) >= 11


@pytest.mark.parametrize("name", REAL)
def test_every_real_descriptor_parses_with_closed_collections(name):
    desc = parse_descriptor(descriptor(name))
    assert desc.collections and desc.fields
    for f in desc.fields:                     # every field lies inside its report
        assert f.bit_offset + f.size * f.count <= desc.report_bits[(f.kind, f.report_id)]


def test_jabra_link380c_layout_report_2():
    desc = parse_descriptor(descriptor("jabra-link380c.bin"))
    assert desc.numbered
    # Input report 2: 3 hook bits, 4 button bits, a 4-bit keypad array, Button page bit, 4 padding.
    assert desc.report_length("input", 2) == 2 and desc.report_length("output", 2) == 2
    assert desc.report_ids("input") == [1, 2, 4, 5] and desc.report_ids("output") == [2, 4, 5]
    keypad = next(f for f in desc.fields if f.usages and f.usages[0] == 0x000B00B0)
    assert (keypad.report_id, keypad.bit_offset, keypad.size, keypad.variable, keypad.null_state) == (2, 7, 4, False, True)
    assert len(keypad.usages) == 12                              # Usage Minimum 0xB0 .. Maximum 0xBB
    assert desc.collections[keypad.collections[-1]].kind == "logical"
    # "Usage (Programmable Button)" followed by "Usage Page (Button)": the page at the Main item wins.
    button = next(f for f in desc.fields if f.kind == "input" and f.report_id == 2 and f.bit_offset == 11)
    assert button.usages == (0x00090007,)
    # Extended (32-bit) usages on vendor pages, and 3-byte "buffered bytes" main items.
    assert 0xFF30FFFB in next(f for f in desc.fields if f.report_id == 4 and f.kind == "input").usages
    big = next(f for f in desc.fields if f.report_id == 5 and f.kind == "output")
    assert big.buffered_bytes and big.size == 8 and big.count == 62


def test_short_usages_keep_the_page_they_were_declared_on():
    """Linux semantics: Flash stays Telephony, Volume stays Consumer, though a vendor page follows."""
    desc = parse_descriptor(descriptor("apple-lightning-earpods.bin"))
    buttons = next(f for f in desc.fields if not f.constant)
    assert buttons.usages == (0x000B0021, 0x000C00EA, 0x000C00E9, 0xFF070001)
    # A usage written before its Usage Page (last in the list) takes that later page.
    late = parse_descriptor(bytes.fromhex("050c 0901 a101 0920 050b 1500 2501 7501 9501 8102 c0"))
    assert late.fields[0].usages == (0x000B0020,)


def test_flags_are_decoded():
    desc = parse_descriptor(descriptor("jabra-link380c.bin"))
    hook = next(f for f in desc.fields if 0x000B0020 in f.usages)
    assert (hook.constant, hook.variable, hook.relative, hook.preferred_state) == (True, True, False, False)
    mute = next(f for f in desc.fields if 0x000B002F in f.usages)
    assert (mute.relative, mute.preferred_state) == (True, True)


def test_unnumbered_descriptor():
    desc = parse_descriptor(UNNUMBERED)
    assert not desc.numbered
    assert desc.report_ids("input") == [0] and desc.report_length("input", 0) == 1
    game_voice = parse_descriptor(descriptor("microsoft-sidewinder-game-voice.bin"))
    assert not game_voice.numbered and game_voice.report_length("feature", 0) == 1


def test_per_report_id_bit_offsets():
    desc = parse_descriptor(TWO_COLLECTIONS)
    outputs = {(f.report_id, f.bit_offset): f.usages for f in desc.fields if f.kind == "output" and not f.constant}
    assert outputs == {(2, 0): (0x00080017,), (3, 0): (0x00080009,), (5, 0): (0x00080018,), (5, 1): (0x00080020,)}
    apps = [c for c in desc.collections if c.kind == "application"]
    assert [c.usage for c in apps] == [0x000B0005, 0x000B0001]


def test_signed_logical_range_and_unsigned_maximum():
    mouse = parse_descriptor(descriptor("belkin-nostromo-speedpad-mouse.bin"))
    xy = next(f for f in mouse.fields if 0x00010030 in f.usages)
    assert (xy.logical_min, xy.logical_max, xy.relative) == (-127, 127, True)
    receiver = parse_descriptor(descriptor("logitech-unifying-receiver.bin"))
    assert all(f.logical_max == 255 for f in receiver.fields)   # 26 FF 00: 255, not -1


def test_push_pop_and_long_items():
    data = bytes.fromhex(
        "0601ff 0901 a101 8501 7508 9502 1500 26ff00"
        " a4 8502 9501 0902 8102 b4"           # Push, a field in report 2, Pop: report 1 again
        " 0903 8102"
        " fe0210aabb"                          # a long item: skipped whole
        " c0")
    desc = parse_descriptor(data)
    layout = [(f.report_id, f.count, f.bit_offset) for f in desc.fields]
    assert layout == [(2, 1, 0), (1, 2, 0)]


def test_extended_usage_range_and_delimiters():
    data = bytes.fromhex(
        "0501 0902 a101"
        " 1b01000900 2b03000900"               # Usage Min/Max as extended usages on the Button page
        " 1500 2501 7501 9503 8102"
        " a901 0930 0931 a900 0938"            # a delimited set (X, alias Y), then Wheel
        " 9502 8102 9503 8101 c0")
    desc = parse_descriptor(data)
    assert desc.fields[0].usages == (0x00090001, 0x00090002, 0x00090003)
    assert desc.fields[1].usages == (0x00010030, 0x00010038)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (bytes.fromhex("0501 a1"), "needs 1 data byte"),
    (bytes.fromhex("fe05 10 0000"), "long item"),
    (bytes.fromhex("b4"), "Pop without"),
    (bytes.fromhex("a4" * 5), "Push deeper"),
    (bytes.fromhex("c0"), "End Collection without"),
    (bytes.fromhex("0501 0902 a101"), "never closed"),
    (bytes.fromhex("8500"), "Report ID 0"),
    (bytes.fromhex("760001"), None),                       # a 2-byte Report Size of 256 is allowed
    (bytes.fromhex("760101"), "Report Size 257"),
    (bytes.fromhex("c4"), "unknown global item tag 12"),
    (bytes.fromhex("2910"), "Usage Maximum without"),
    (bytes.fromhex("1910 2901"), "below Minimum"),
    (bytes.fromhex("a901 a901"), "nested delimiter"),
    (bytes.fromhex("9501 7500 8102"), "Report Size 0"),
    (bytes.fromhex("1505 2501 7501 9501 8102"), "Logical Minimum 5 above"),
    (bytes.fromhex("7508 9501 8102 8501 8102"), "before any Report ID"),
    (bytes.fromhex("0701000100"), "wider than 16 bits"),
    (bytes.fromhex("963030"), "Report Count 12336 exceeds"),
    (bytes.fromhex("7580 96 ff2f 8101 96ff2f 8101"), "longer than 16384"),
])
def test_malformed_descriptors_say_what_is_wrong(data, message):
    if message is None:
        parse_descriptor(data)
        return
    with pytest.raises(DescriptorError, match=message):
        parse_descriptor(data)


def test_non_bytes_input_is_a_descriptor_error():
    with pytest.raises(DescriptorError, match="must be bytes"):
        parse_descriptor("05 0b")                                   # type: ignore[arg-type]


def _parse_or_descriptor_error(data: bytes) -> None:
    try:
        parse_descriptor(data)
    except DescriptorError as exc:
        assert str(exc)                                            # always says something


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_descriptor_error(data):
    _parse_or_descriptor_error(data)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(REAL), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255),
                                                  st.sampled_from(["set", "insert", "delete"])), max_size=8))
def test_mutated_real_descriptors_raise_only_descriptor_error(name, edits):
    data = bytearray(descriptor(name))
    for position, value, op in edits:
        i = position % (len(data) + 1)
        if op == "insert":
            data.insert(i, value)
        elif data and i < len(data):
            if op == "set":
                data[i] = value
            else:
                del data[i]
    _parse_or_descriptor_error(bytes(data))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(REAL), st.integers(0, 10_000))
def test_truncated_real_descriptors_raise_only_descriptor_error(name, cut):
    data = descriptor(name)
    _parse_or_descriptor_error(data[:cut % len(data)])
