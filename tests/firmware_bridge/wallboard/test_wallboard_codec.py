"""Alpha codec: the hardware.md worked examples byte for byte, checksums, and the sign -> host decoder."""
from __future__ import annotations

import random

import pytest

from firmware_bridge.events import ProtocolError, SignAck, SignFile, SignMemoryTable, SignString
from firmware_bridge.wallboard import alpha
from firmware_bridge.wallboard.alpha import (AlphaDecoder, StringRef, colour, memory_config, message,
                                             packet, string_file, text_file, write_string, write_text)
from firmware_bridge.wallboard.framing import checksum
from tests.firmware_bridge.smdr.smdr_replay import assert_split_invariant, replay
from tests.firmware_bridge.wallboard.wallboard_helpers import GOLDEN



# ---- encoding: the worked examples ---------------------------------------------------------

def test_memory_config_example_reproduces_with_checksum_0535():
    built = packet(memory_config([text_file("A", 0x40), string_file("1", 0x10)]))
    assert built == GOLDEN["memory_config"]
    assert built[-6:-1] == b"\x030535"


def test_text_file_example_reproduces_with_checksum_0411():
    built = packet(write_text("A", message(colour("red"), "Queue: ", StringRef("1")),
                              position="middle", mode="hold"))
    assert built == GOLDEN["text_a"] == b"\x00" * 5 + b"\x01Z00\x02AA\x1b b\x1c1Queue: \x101\x030411\x04"


def test_string_update_example_reproduces_with_checksum_00E0():
    assert packet(write_string("1", "12")) == GOLDEN["string_1"]


def test_manual_checksum_example_aahello_is_01FB():
    assert checksum(b"\x02AAHELLO\x03") == b"01FB"
    assert packet(write_text("A", b"HELLO", position=None)) == GOLDEN["aahello"]


def test_checksum_is_a_16_bit_sum_not_xor_in_upper_case_hex():
    assert checksum(b"\x02" + b"\xff" * 300 + b"\x03") == b"%04X" % ((2 + 255 * 300 + 3) & 0xFFFF)
    assert checksum(b"\x02G1\x03") == b"007D"      # sum 0x7D; an XOR would give 0x75


def test_nested_commands_each_carry_their_own_checksum():
    built = packet(write_string("1", "12"), write_string("2", "7"), address="0A")
    assert built.startswith(b"\x00\x00\x00\x00\x00\x01Z0A")
    assert built.count(b"\x02") == 2 and built.count(b"\x03") == 2
    assert b"\x02G112\x0300E0\x02G27\x03" in built
    assert built.endswith(b"\x03" + checksum(b"\x02G27\x03") + b"\x04")


def test_priority_set_and_cancel_and_reads():
    assert packet(alpha.set_priority(b"HI")).endswith(b"\x02A0\x1b bHI\x03" +
                                                      checksum(b"\x02A0\x1b bHI\x03") + b"\x04")
    assert b"\x02A0\x03" in packet(alpha.cancel_priority())
    assert b"\x02F$\x03" in packet(alpha.read_memory_table())
    assert b"\x02H1\x03" in packet(alpha.read_string("1"))
    assert alpha.is_read(packet(alpha.read_string("1"))) and not alpha.is_read(GOLDEN["string_1"])
    assert alpha.packet_address(packet(write_string("1", "x"), address="7F")) == "7F"


def test_message_text_cannot_smuggle_control_codes():
    assert message("a\x10b\x03é") == b"a?b??"
    assert write_string("1", "x\x04y").data == b"1x?y"


@pytest.mark.parametrize("bad", [lambda: write_string("1", "x" * 126), lambda: string_file("a", 200),
                                 lambda: write_string("0", "x"), lambda: write_string("?", "x"),
                                 lambda: packet(write_string("1", "x"), address="0G"),
                                 lambda: colour("purple"), lambda: packet()])
def test_builders_refuse_what_a_sign_cannot_take(bad):
    with pytest.raises(ValueError):
        bad()


# ---- decoding: what a sign sends back -----------------------------------------------------

def test_ack_nak_status_bits_each_named():
    names = dict((bit, name) for bit, name in alpha.STATUS_BITS)
    for bit, name in names.items():
        (event,) = replay(AlphaDecoder, bytes([0x15, 0x40 | bit]))
        assert event == SignAck(False, 0x40 | bit, (name,))
    (every,) = replay(AlphaDecoder, b"\x15\x7f")
    assert set(every.reasons) == set(names.values()) and len(every.reasons) == 6
    assert replay(AlphaDecoder, GOLDEN["ack_ok"]) == [SignAck(True, 0x40, ())]


def test_ack_without_status_byte_still_counts_and_the_next_packet_parses():
    events = replay(AlphaDecoder, b"\x06" + GOLDEN["string_reply"])
    assert events == [SignAck(True, None, ()), SignString("1", b"12")]
    assert replay(AlphaDecoder, b"\x06") == [SignAck(True, None, ())]     # flushed at the end


def test_memory_table_and_string_replies():
    (table,) = replay(AlphaDecoder, GOLDEN["memory_table"])
    assert table == SignMemoryTable((SignFile("A", "text", False, 0x40, "FF00"),
                                     SignFile("1", "string", True, 0x10, "0000")))
    assert replay(AlphaDecoder, GOLDEN["string_reply"]) == [SignString("1", b"12")]


def test_host_packets_heard_on_the_line_are_ignored_not_errors():
    decoder = AlphaDecoder()
    assert decoder.feed(GOLDEN["memory_config"] + GOLDEN["string_1"]) == []
    assert decoder.ignored == 2


SIGN_STREAM = (GOLDEN["ack_ok"] + GOLDEN["memory_table"] + GOLDEN["nak_checksum"]
               + GOLDEN["string_reply"] + GOLDEN["ack_ok"])
EXPECTED = [SignAck(True, 0x40, ()), SignMemoryTable((SignFile("A", "text", False, 64, "FF00"),
                                                      SignFile("1", "string", True, 16, "0000"))),
            SignAck(False, 0x50, ("checksum error",)), SignString("1", b"12"), SignAck(True, 0x40, ())]


def test_sign_stream_whole_and_split_at_every_byte():
    assert assert_split_invariant(AlphaDecoder, SIGN_STREAM) == EXPECTED


def test_garbage_between_replies_is_reported_with_its_bytes_and_the_rest_survives():
    noisy = b"\xff\xfeAT" + GOLDEN["ack_ok"] + b"junk" + GOLDEN["memory_table"] + b"\x7f"
    events = assert_split_invariant(AlphaDecoder, noisy)
    errors = [e for e in events if isinstance(e, ProtocolError)]
    assert [e.raw for e in errors] == [b"\xff\xfeAT", b"junk", b"\x7f"]
    assert [e for e in events if not isinstance(e, ProtocolError)] == EXPECTED[:2]


def test_damaged_replies_are_errors_and_resync_at_the_next_packet():
    bad_sum = GOLDEN["string_reply"].replace(b"00E0", b"00E1")
    cut = GOLDEN["memory_table"][:20]                    # a new packet starts before this one ended
    bad_entry = packet(alpha.command("E", b"$AXU0040FF00"), address="00", type_code="0")
    events = replay(AlphaDecoder, bad_sum + cut + GOLDEN["string_reply"] + bad_entry)
    kinds = [e.reason.split(":")[0] if isinstance(e, ProtocolError) else type(e).__name__
             for e in events]
    assert kinds == ["checksum", "aborted", "SignString", "memory table"]
    assert events[0].raw == bad_sum.lstrip(b"\x00")


def test_random_noise_never_raises_and_golden_replies_still_come_through():
    rng = random.Random(7)
    for _ in range(200):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        events = replay(AlphaDecoder, noise + b"\x00\x00" + SIGN_STREAM)
        assert [e for e in events if not isinstance(e, ProtocolError)][-4:] == EXPECTED[-4:]
