"""The sign-side parser: hardware.md packets whole, split at every byte, with noise, and the 1 s gap rule."""
from __future__ import annotations

import random

from firmware_bridge.wallboard.framing import Command, FrameError, Framer, Packet
from tests.firmware_bridge.smdr.smdr_replay import assert_split_invariant, replay
from tests.firmware_bridge.wallboard.wallboard_helpers import GOLDEN

HOST_STREAM = GOLDEN["memory_config"] + GOLDEN["text_a"] + GOLDEN["string_1"] + GOLDEN["aahello"]
COMMANDS = [("E", b"$AAU0040FF001BL00100000"), ("A", b"A\x1b b\x1c1Queue: \x101"),
            ("G", b"112"), ("A", b"AHELLO")]


def sign_framer() -> Framer:
    return Framer(gap_s=1.0)


def packets(items) -> list[tuple[str, bytes]]:
    return [(c.code, c.data) for p in items if isinstance(p, Packet) for c in p.commands]


def test_golden_packets_whole_and_split_at_every_byte():
    items = assert_split_invariant(sign_framer, HOST_STREAM)
    assert packets(items) == COMMANDS
    assert all(isinstance(p, Packet) and p.type_code == "Z" and p.address == "00" for p in items)
    assert all(c.checked for p in items for c in p.commands)


def test_nested_commands_come_out_of_one_packet_in_order():
    nested = (b"\x00\x00\x01Z01\x02G112\x0300E0\x02G27\x03" + b"%04X" % sum(b"\x02G27\x03") + b"\x04")
    (pkt,) = replay(sign_framer, nested)
    assert pkt.address == "01" and [(c.code, c.data) for c in pkt.commands] == [("G", b"112"), ("G", b"27")]


def test_commands_without_checksum_are_accepted_unchecked():
    (pkt,) = replay(sign_framer, b"\x00\x00\x00\x00\x00\x01Z00\x02F$\x04")
    assert pkt.commands == (Command("F", b"$", checked=False),)


def test_sync_may_be_nuls_or_sohs_in_any_number():
    (pkt,) = replay(sign_framer, b"\x01\x01\x00\x01Z00\x02G112\x0300E0\x04")
    assert pkt.commands[0].data == b"112"


def test_a_bad_checksum_drops_the_whole_packet_and_names_its_address():
    bad = GOLDEN["string_1"].replace(b"00E0", b"00E1").replace(b"Z00", b"Z07")
    (error,) = replay(sign_framer, bad)
    assert error.kind == "checksum" and error.address == "07" and error.raw == bad.lstrip(b"\x00")


def test_noise_between_packets_is_garbage_and_every_packet_still_parses():
    noisy = b"hello" + GOLDEN["memory_config"] + b"\xff\x05\x06" + GOLDEN["string_1"] + b"~"
    items = assert_split_invariant(sign_framer, noisy)
    assert packets(items) == COMMANDS[:1] + COMMANDS[2:3]
    assert [i.raw for i in items if isinstance(i, FrameError)] == [b"hello", b"\xff\x05\x06", b"~"]


def test_random_noise_inside_and_around_packets_never_breaks_the_next_good_packet():
    rng = random.Random(11)
    for _ in range(300):
        stream = bytearray(HOST_STREAM)
        for _ in range(rng.randrange(1, 4)):          # overwrite a few bytes anywhere
            stream[rng.randrange(len(stream))] = rng.randrange(256)
        items = replay(sign_framer, bytes(stream) + GOLDEN["string_1"])
        assert packets(items)[-1] == ("G", b"112")


def test_a_gap_over_gap_s_inside_a_packet_aborts_it():
    framer = Framer(gap_s=1.0)
    data = GOLDEN["text_a"]
    assert framer.feed(data[:12], now=10.0) == []
    (error,) = framer.feed(data[12:], now=11.5)       # the rest arrives 1.5 s later
    assert error.kind == "gap" and error.raw == data[5:12]
    garbage, pkt = framer.feed(GOLDEN["string_1"], now=11.6)   # the late rest is noise now
    assert garbage.kind == "garbage" and garbage.raw == data[12:]
    assert pkt.commands[0].data == b"112"


def test_a_gap_is_noticed_without_further_bytes_and_pauses_under_gap_s_are_fine():
    framer = Framer(gap_s=1.0)
    data = GOLDEN["string_1"]
    framer.feed(data[:9], now=0.0)
    assert framer.expire(0.9) == []
    assert [p.commands[0].data for p in framer.feed(data[9:], now=0.95)] == [b"112"]
    framer.feed(data[:9], now=5.0)
    assert [e.kind for e in framer.expire(6.01)] == ["gap"]
    assert framer.expire(7.0) == []                    # reported once


def test_no_gap_rule_between_packets():
    framer = Framer(gap_s=1.0)
    assert len(framer.feed(GOLDEN["string_1"], now=0.0)) == 1
    assert len(framer.feed(GOLDEN["string_1"], now=100.0)) == 1
