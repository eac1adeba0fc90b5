"""The sign emulator as a sign: golden packets over a pty in pieces, memory rules, replies, the gap rule."""
from __future__ import annotations

import random
import select
import time

import pytest

from firmware_bridge.events import SignAck, SignFile, SignMemoryTable, SignString
from firmware_bridge.serialport import close_serial, open_serial
from firmware_bridge.wallboard import alpha
from firmware_bridge.wallboard.alpha import AlphaDecoder, packet
from tests.firmware_bridge.wallboard.wallboard_helpers import GOLDEN

GOLDEN_SIGN = GOLDEN["memory_config"] + GOLDEN["text_a"] + GOLDEN["string_1"]


@pytest.fixture
def host(line):
    """The host end as a plain serial port: raw bytes out, decoded replies in."""
    port = open_serial(line.path, bytesize=7, parity="E")
    yield port
    close_serial(port)


def replies(port, count: int, timeout: float = 3.0) -> list:
    decoder, events = AlphaDecoder(), []
    deadline = time.monotonic() + timeout
    while len(events) < count and time.monotonic() < deadline:
        if select.select([port.fileno()], [], [], 0.05)[0]:
            events += decoder.feed(port.read(4096))
    return events + (decoder.flush() if len(events) < count else [])


def test_golden_packets_in_random_pieces_with_noise_show_queue_12_in_red(make_sign, host):
    sign = make_sign("00")
    rng = random.Random(3)
    stream = b"\xff\xfe" + GOLDEN_SIGN[:20] + b"\x00" + GOLDEN_SIGN + b"garbage" + GOLDEN["aahello"]
    at = 0
    while at < len(stream):
        step = rng.randrange(1, 9)
        host.write(stream[at:at + step])
        at += step
    assert sign.wait_until(lambda: sign.counts()["A"] == 2)
    assert sign.render() == "HELLO"                     # AAHELLO replaced the layout of file A
    assert sign.counts() == {"E$": 1, "A": 2, "G": 1}
    assert sign.aborted == 1 and sign.garbage == len(b"\xff\xfe") + len(b"garbage")
    assert sign.strings() == {"1": b"12"}


def test_layout_with_string_and_colour(make_sign, host):
    sign = make_sign("00")
    host.write(GOLDEN_SIGN)
    assert sign.wait_until(lambda: sign.render() == "Queue: 12")
    assert sign.colour() == "red"
    host.write(packet(alpha.write_string("1", "13")))
    assert sign.wait_until(lambda: sign.render() == "Queue: 13")


def test_priority_overrides_and_cancel_restores(make_sign, host):
    sign = make_sign("00")
    host.write(GOLDEN_SIGN + packet(alpha.set_priority(alpha.message(alpha.colour("amber"), "DOWN"))))
    assert sign.wait_until(lambda: sign.render() == "DOWN") and sign.colour() == "amber"
    host.write(packet(alpha.cancel_priority()))
    assert sign.wait_until(lambda: sign.render() == "Queue: 12") and sign.colour() == "red"


def test_memory_config_replaces_the_table_and_empties_files(make_sign, host):
    sign = make_sign("00")
    host.write(GOLDEN_SIGN + packet(alpha.memory_config([alpha.text_file("B", 16)])))
    assert sign.wait_until(lambda: sign.counts()["E$"] == 2)
    assert sign.files() == (SignFile("B", "text", False, 16, "FF00"),) and sign.render() == ""
    assert sign.strings() == {}


def test_reads_are_answered_as_type_0_address_00_packets(make_sign, host):
    make_sign("00")
    host.write(GOLDEN_SIGN + packet(alpha.read_memory_table()) + packet(alpha.read_string("1")))
    table, string = replies(host, 2)
    assert table == SignMemoryTable((SignFile("A", "text", False, 0x40, "FF00"),
                                     SignFile("1", "string", True, 0x10, "0000")))
    assert string == SignString("1", b"12")


def test_ack_mode_answers_bad_checksum_illegal_label_and_overflow(make_sign, host):
    sign = make_sign("01", ack=True)
    host.write(packet(alpha.memory_config([alpha.string_file("1", 4)]), address="01"))
    host.write(packet(alpha.write_string("1", "12"), address="01")[:-5] + b"0000\x04")  # bad sum
    host.write(packet(alpha.write_string("9", "1"), address="01"))       # no such file
    host.write(packet(alpha.write_string("1", "12345"), address="01"))   # past its 4 bytes
    host.write(packet(alpha.write_string("1", "1234"), address="01"))
    events = replies(host, 5)
    assert [(e.ok, e.status) for e in events] == [(True, 0x40), (False, 0x50), (False, 0x60),
                                                  (False, 0x48), (True, 0x40)]
    assert events[1].reasons == ("checksum error",) and sign.checksum_errors == 1
    assert sign.strings("01") == {"1": b"1234"}


def test_es1_turns_ack_mode_on_and_injected_faults(make_sign, host):
    sign = make_sign("01")
    host.write(packet(alpha.write_string("1", "x"), address="01"))        # no ack yet: silence
    host.write(packet(alpha.ack_nak(True), address="01"))
    assert sign.wait_until(lambda: sign.packets == 2)
    sign.nak_next(1, status=0x42)
    host.write(packet(alpha.ack_nak(True), address="01"))
    assert replies(host, 2) == [SignAck(True, 0x40, ()), SignAck(False, 0x42, ("framing error",))]
    sign.ignore_next(1)
    host.write(packet(alpha.ack_nak(True), address="01") * 2)
    assert replies(host, 2, timeout=1.0) == [SignAck(True, 0x40, ())]     # one lost, one answered


def test_packets_for_other_addresses_are_ignored_broadcast_reaches_all(make_sign, host):
    sign = make_sign("01", "02")
    host.write(packet(alpha.memory_config([alpha.string_file("1", 8)])))          # broadcast
    host.write(packet(alpha.write_string("1", "one"), address="01"))
    host.write(packet(alpha.write_string("1", "three"), address="03"))
    host.write(packet(alpha.write_string("1", "two"), address="02"))
    assert sign.wait_until(lambda: sign.strings("02") == {"1": b"two"})
    assert sign.strings("01") == {"1": b"one"} and sign.foreign == 1


def test_a_pause_longer_than_gap_s_inside_a_packet_drops_it(make_sign, host):
    sign = make_sign("00", gap_s=0.2)
    host.write(GOLDEN["memory_config"])
    data = GOLDEN["string_1"]
    host.write(data[:10])
    assert sign.wait_until(lambda: sign.aborted == 1, timeout=3.0)      # noticed with no more bytes
    host.write(data[10:])
    host.write(packet(alpha.read_memory_table()))
    assert sign.wait_until(lambda: sign.counts()["F$"] == 1)          # later packets still work
    assert sign.strings() == {} and sign.counts()["G"] == 0 and sign.garbage == len(data) - 10


def test_replug_with_reset_loses_memory(make_sign, line):
    sign = make_sign("00")
    host = open_serial(line.path)
    host.write(GOLDEN_SIGN)
    assert sign.wait_until(lambda: sign.render() == "Queue: 12")
    close_serial(host)
    sign.replug()                                    # cable only: memory kept
    assert sign.render() == "Queue: 12"
    sign.replug(reset=True)                          # power cycle: memory gone
    assert sign.render() == "" and sign.files() == ()
