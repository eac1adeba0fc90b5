"""WallboardDriver against emulated signs on a real pty: shared ports, ACK/NAK, unplug, identify."""
from __future__ import annotations

import logging
import select

import pytest

from firmware_bridge.events import ProtocolError, SignAck
from firmware_bridge.exceptions import DeviceGone, NotOpen
from firmware_bridge.registry import kind
from firmware_bridge.wallboard.alpha import (memory_config, packet, string_file, text_file,
                                             write_string, write_text, message, StringRef)
from firmware_bridge.wallboard.driver import WallboardDriver
from firmware_bridge.wallboard.settings import WallboardSettings
from tests.firmware_bridge.wallboard.wallboard_helpers import run_until


def setup_packets(address: str, value: str) -> list[bytes]:
    return [packet(memory_config([text_file("A", 32), string_file("a", 16)]), address=address),
            packet(write_text("A", message("Q ", StringRef("a"))), address=address),
            packet(write_string("a", value), address=address)]


def test_two_signs_on_one_port_each_get_their_own_content(make_sign, make_driver):
    sign = make_sign("01", "02")
    driver = make_driver("01", "02")
    for address, value in (("01", "7"), ("02", "42")):
        for data in setup_packets(address, value):
            driver.send(address, data)
    assert driver.pending == 0                     # fire and forget: all written at once
    assert sign.wait_until(lambda: sign.render("01") == "Q 7" and sign.render("02") == "Q 42")
    assert sign.counts("01") == sign.counts("02") == {"E$": 1, "A": 1, "G": 1}
    driver.send("02", packet(write_string("a", "43"), address="02"))
    assert sign.wait_until(lambda: sign.render("02") == "Q 43")
    assert sign.render("01") == "Q 7" and sign.counts("01")["G"] == 1   # 01 ignored 02's packet


def test_write_goes_through_the_queue_by_the_packets_own_address(make_sign, make_driver):
    sign = make_sign("05")
    driver = make_driver("05")
    for data in setup_packets("05", "1"):
        driver.write(data)
    assert sign.wait_until(lambda: sign.render("05") == "Q 1")
    assert driver.status()["packets_written"] == 3


def test_ack_mode_retries_after_an_injected_nak_and_keeps_the_reason(make_sign, make_driver, caplog):
    sign = make_sign("01", ack=True)
    driver = make_driver("01", ack=True, ack_timeout_s=0.5)
    for data in setup_packets("01", "1"):
        driver.send("01", data)
    run_until(driver, lambda: driver.pending == 0)
    sign.nak_next(2, status=0x50)
    driver.send("01", packet(write_string("a", "2"), address="01"))
    driver.send("01", packet(write_string("a", "3"), address="01"))
    assert driver.pending == 2                     # one at a time: the second waits its turn
    events = run_until(driver, lambda: driver.pending == 0)
    assert sign.render("01") == "Q 3"
    assert [e.ok for e in events if isinstance(e, SignAck)] == [False, False, True, True]
    state = driver.status()["signs"]["01"]
    assert state["naks"] == 2 and state["retries"] == 2 and state["given_up"] == 0
    assert state["refused"] == ["checksum error"] and state["reasons"] == []
    assert caplog.text.count("refused a packet: checksum error") == 1       # logged once


def test_ack_mode_missing_ack_is_retried_then_given_up_and_reported(make_sign, make_driver, caplog):
    caplog.set_level(logging.WARNING)
    sign = make_sign("01", ack=True)
    driver = make_driver("01", ack=True, ack_timeout_s=0.2, retries=2)
    run_until(driver, lambda: driver.pending == 0)          # the Es1 sent at open
    sign.ignore_next(3)                                      # every try of the next packet is lost
    driver.send("01", packet(write_string("a", "x"), address="01"))
    run_until(driver, lambda: driver.pending == 0)
    state = driver.status()["signs"]["01"]
    assert (state["timeouts"], state["retries"], state["given_up"]) == (3, 2, 1)
    assert driver.given_up("01") == 1 and state["answering"] is False
    assert sign.packets == 4                                  # Es1 + 3 tries, nothing applied
    sign.ignore_next(3)
    driver.send("01", packet(write_string("a", "y"), address="01"))
    run_until(driver, lambda: driver.pending == 0)
    assert driver.given_up("01") == 2
    assert caplog.text.count("did not answer") == 1           # reported once, then counted


def test_ack_mode_does_not_resend_what_the_sign_calls_illegal(make_sign, make_driver):
    sign = make_sign("01", ack=True)
    driver = make_driver("01", ack=True, ack_timeout_s=0.5)
    driver.send("01", packet(write_string("z", "no such file"), address="01"))
    events = run_until(driver, lambda: driver.pending == 0)
    assert SignAck(False, 0x60, ("illegal command or label",)) in events
    assert driver.given_up("01") == 1 and driver.status()["signs"]["01"]["retries"] == 0
    assert sign.packets == 2


def test_garbage_from_the_sign_is_an_event_and_counted(make_sign, make_driver):
    sign = make_sign("01")
    driver = make_driver("01")
    sign.inject(b"\xffnoise")
    events = run_until(driver, lambda: driver.status()["errors"] == 1)
    assert [e.raw for e in events if isinstance(e, ProtocolError)] == [b"\xffnoise"]


def test_unplug_raises_device_gone_exactly_once_and_a_reopen_works(make_sign, make_driver, line):
    sign = make_sign("01")
    driver = make_driver("01")
    sign.unplug()
    gone = 0
    for _ in range(5):
        select.select(driver.filenos(), [], [], 1.0)
        try:
            driver.read_events()
            driver.poll(0.0)
        except DeviceGone:
            gone += 1
    assert gone == 1
    driver.send("01", packet(write_string("a", "lost"), address="01"))     # dropped, no raise
    assert driver.status()["dropped"] == 1
    driver.close()
    sign.replug()
    driver.open()
    for data in setup_packets("01", "back"):
        driver.send("01", data)
    assert sign.wait_until(lambda: sign.render("01") == "Q back")


def test_identify_reads_the_memory_table_of_a_replying_sign(make_sign, line):
    sign = make_sign("01")
    driver = WallboardDriver("wb", line.path, addresses=("01",))
    with driver:
        for data in setup_packets("01", "1"):
            driver.send("01", data)
        info = driver.identify(timeout=2.0)
    assert info["answered"] is True and info["mode"] == "two-way"
    assert info["files"] == [{"label": "A", "kind": "text", "size": 32, "locked": False},
                             {"label": "a", "kind": "string", "size": 16, "locked": True}]
    assert sign.counts("01")["F$"] == 1


def test_identify_on_a_write_only_sign_says_so_and_leaves_the_port_closed(make_sign, line):
    sign = make_sign("01", replies=False)
    driver = WallboardDriver("wb", line.path, addresses=("01",), ack_timeout_s=0.2, retries=0)
    info = driver.identify(timeout=1.0)
    assert info["answered"] is False and info["mode"] == "write-only" and info["files"] == []
    assert sign.counts("01")["F$"] == 1 and not driver.is_open


def test_identify_in_ack_mode(make_sign, make_driver):
    make_sign("01", ack=True)
    driver = make_driver("01", ack=True, ack_timeout_s=0.5)
    info = driver.identify(timeout=2.0)
    assert info["mode"] == "two-way" and info["files"] == []        # a fresh sign: empty table


def test_settings_line_and_rs485_flag_on_a_pty(make_sign, line):
    make_sign("01")
    settings = WallboardSettings(name="floor", port=line.path, address="01", queues=("q",),
                                 rs485=True, stopbits=2)
    driver = kind("alpha").load("driver").from_settings(settings)
    with driver:
        status = driver.status()
        assert status["line"] == "9600 7E2" and status["rs485"].startswith("skipped")
        assert driver.identify(timeout=2.0)["mode"] == "two-way"


def test_from_settings_shares_one_port_and_refuses_conflicts(line):
    a = WallboardSettings(name="a", port=line.path, address="01", queues=("q",))
    b = WallboardSettings(name="b", port=line.path, address="02", queues=("r",))
    driver = WallboardDriver.from_settings([a, b])
    assert driver.addresses == ("01", "02") and driver.name == "a+b"
    with pytest.raises(ValueError, match="^baudrate: "):
        WallboardDriver.from_settings([a, WallboardSettings(name="c", port=line.path, address="03",
                                                            queues=("q",), baudrate=4800)])


def test_a_closed_driver_refuses_to_send(line):
    driver = WallboardDriver("wb", line.path)
    with pytest.raises(NotOpen):
        driver.send("00", packet(write_string("a", "1")))
    assert driver.filenos() == []
