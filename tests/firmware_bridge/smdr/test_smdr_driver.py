"""PanasonicSerialDriver through a real pty (EmulatedPort) driven by PanasonicEmulator."""
from __future__ import annotations

import select
import time
from datetime import datetime

import pytest

from firmware_bridge.events import PanasonicSmdrRecord, ProtocolError
from firmware_bridge.exceptions import DeviceBusy, DeviceGone, DeviceNotFound
from firmware_bridge.pty import EmulatedPort
from firmware_bridge.smdr.traffic import generate_panasonic_calls
from firmware_bridge.smdr.driver import PanasonicSerialDriver
from firmware_bridge.smdr.emulator import PanasonicEmulator
from firmware_bridge.smdr.panasonic import PanasonicOptions

OPTIONS = PanasonicOptions(date_order="DMY", clock="24h")


@pytest.fixture
def port(tmp_path):
    with EmulatedPort(str(tmp_path / "ttyPBX")) as p:
        yield p


@pytest.fixture
def calls():
    return [rec for call in generate_panasonic_calls(30, start=datetime(2024, 3, 1, 8), seed=7,
                                                     options=OPTIONS) for rec in call]


def read_until(driver: PanasonicSerialDriver, predicate, timeout: float = 5.0) -> list:
    """Read events as the port becomes readable until predicate(events) holds (bounded)."""
    events: list = []
    deadline = time.monotonic() + timeout
    while not predicate(events):
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"timed out; got {events!r}"
        select.select([driver.fileno()], [], [], remaining)
        events += driver.read_events()
    return events


def test_records_printed_by_the_pbx_come_out_of_the_driver(port, calls):
    emulator = PanasonicEmulator(port, OPTIONS, page_length=10)
    with PanasonicSerialDriver("pbx1", port.path, options=OPTIONS) as driver:
        assert driver.read_events() == []                       # nothing waiting: no block
        emulator.write_blank()
        emulator.write_records(calls[:12])
        emulator.write_stars()
        emulator.write_separator()
        emulator.write_records(calls[12:])
        events = read_until(driver, lambda ev: len(ev) >= len(calls))
        assert [e for e in events] == [
            PanasonicSmdrRecord(**{**_fields(rec), "raw": line})
            for rec, line in zip(calls, emulator.written)]
        status = driver.status()
        assert status["open"] and status["records"] == len(calls) and status["errors"] == 0
        assert status["last_record_at"] is not None and status["name"] == "pbx1"


def _fields(rec: PanasonicSmdrRecord) -> dict:
    return {name: getattr(rec, name) for name in PanasonicSmdrRecord.__slots__}


def test_garbage_on_the_line_is_reported_and_the_next_record_still_arrives(port, calls):
    emulator = PanasonicEmulator(port, OPTIONS)
    with PanasonicSerialDriver("pbx1", port.path, options=OPTIONS) as driver:
        emulator.write_garbage(b"\x15\xfe#@!")
        emulator.write_record(calls[0])
        events = read_until(driver, lambda ev: len(ev) >= 2)
        assert events[0] == ProtocolError("not an SMDR line: expected date, time and extension",
                                          b"\x15\xfe#@!")
        assert events[1].raw == emulator.written[0]
        assert driver.status()["errors"] == 1


def test_line_settings_reach_the_port(port):
    with PanasonicSerialDriver("pbx1", port.path, baudrate=9600, bytesize=7, parity="E",
                               stopbits=2) as driver:
        assert driver.status()["line"] == "9600 7E2"     # a pty ignores them; the port has them


def test_slow_bytes_still_make_whole_records(port, calls):
    emulator = PanasonicEmulator(port, OPTIONS)
    with PanasonicSerialDriver("pbx1", port.path, options=OPTIONS) as driver:
        wire = b"".join(_line(emulator, rec) for rec in calls[:3])
        emulator.write_raw(wire, chunk=7, pause=0.001)
        events = read_until(driver, lambda ev: len(ev) >= 3)
        assert [e.raw + b"\r\n" for e in events] == [_line(emulator, r) for r in calls[:3]]


def _line(emulator: PanasonicEmulator, rec: PanasonicSmdrRecord) -> bytes:
    from firmware_bridge.smdr.panasonic import encode_record
    return encode_record(rec, emulator.options)


def test_unplug_gives_device_gone_once_and_reopen_after_replug_works(port, calls):
    emulator = PanasonicEmulator(port, OPTIONS)
    driver = PanasonicSerialDriver("pbx1", port.path, options=OPTIONS)
    driver.open()
    try:
        # One write, so one read takes the record and the half line cut off by the unplug.
        emulator.write_raw(_line(emulator, calls[0]) + b"01/03/24 08:00   42")
        read_until(driver, lambda ev: len(ev) >= 1)
        emulator.unplug()
        select.select([driver.fileno()], [], [], 5.0)
        [cut] = driver.read_events()                             # the half line is not lost
        assert cut == ProtocolError("incomplete line at end of stream (no terminator)",
                                    b"01/03/24 08:00   42")
        with pytest.raises(DeviceGone):
            driver.read_events()
        assert driver.read_events() == []                        # reported once, not again
        assert driver.status()["gone"]
        driver.close()
        driver.close()                                           # idempotent
        assert not driver.status()["open"]
        with pytest.raises(DeviceNotFound):
            driver.open()                                        # still unplugged
        assert driver.identify()["present"] is False
        emulator.replug()
        driver.open()
        emulator.write_record(calls[1])
        [event] = read_until(driver, lambda ev: len(ev) >= 1)
        assert event.raw == emulator.written[-1] == _line(emulator, calls[1])[:-2]
        assert driver.status()["records"] == 2 and driver.status()["errors"] == 1
        assert not driver.status()["gone"]
    finally:
        driver.close()


def test_unplug_between_lines_raises_device_gone_directly(port):
    driver = PanasonicSerialDriver("pbx1", port.path)
    with driver:
        port.unplug()
        select.select([driver.fileno()], [], [], 5.0)
        with pytest.raises(DeviceGone):
            driver.read_events()


def test_identify_reports_a_present_openable_port(port):
    driver = PanasonicSerialDriver("pbx1", port.path)
    info = driver.identify()
    assert info["present"] and info["openable"] and info["error"] == ""
    assert not driver.is_open                                    # identify leaves it closed


def test_a_second_opener_is_refused(port):
    with PanasonicSerialDriver("pbx1", port.path):
        other = PanasonicSerialDriver("pbx1-again", port.path)
        with pytest.raises(DeviceBusy):
            other.open()
        info = other.identify()
        assert info["openable"] is False and "held by another process" in info["error"]


def test_missing_port_is_device_not_found(tmp_path):
    driver = PanasonicSerialDriver("pbx1", str(tmp_path / "ttyNOPE"))
    with pytest.raises(DeviceNotFound):
        driver.open()
    info = driver.identify()
    assert (info["present"], info["openable"]) == (False, False) and "ttyNOPE" in info["error"]
    with pytest.raises(ValueError):
        driver.fileno()
