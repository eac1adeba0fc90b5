"""LineDriver with kind="voice-modem" against the V.253 voice-modem emulator over a real pty."""
from __future__ import annotations

import pytest

from firmware_bridge.events import CallEnded, CallerId, CommandResult, Ring


def line_events(emulator, driver) -> list:
    assert emulator.wait_idle(5.0)
    driver.command("AT")                             # barrier: everything before it is read
    return [e for e in driver.read_events() if not isinstance(e, CommandResult)]


@pytest.fixture
def voice_line(make_voice, make_driver, pump):
    def make(**options):
        emulator = make_voice(**options)
        driver = make_driver("voice-modem")
        driver.open()
        pump(driver, lambda _: driver.ready)
        return emulator, driver
    return make


def test_init_enables_formatted_caller_id(voice_line):
    emulator, driver = voice_line()
    assert emulator.commands == ["ATE0", "AT+VCID=1"]
    assert driver.ready


def test_rockwell_modem_falls_back_to_hash_cid(voice_line):
    emulator, driver = voice_line(cid_command="#CID")
    assert emulator.commands == ["ATE0", "AT+VCID=1", "AT#CID=1"]
    assert driver.ready
    assert driver.status()["unsupported"] == ["AT+VCID=1"]


def test_modem_without_caller_id_is_not_ready(make_voice, make_driver, pump):
    make_voice(refuse=("+VCID",))
    driver = make_driver("voice-modem")
    driver.open()
    pump(driver, lambda events: CommandResult("AT#CID=1", False, (), "ERROR") in events)
    assert not driver.ready
    assert driver.status()["init_failed"] == {"AT#CID=1": "ERROR"}


def test_caller_id_arrives_after_the_first_ring(voice_line):
    emulator, driver = voice_line()
    emulator.incoming_call("5551234", name="JOHN DOE", date="0321", time="1405", rings=3)
    assert line_events(emulator, driver) == [
        Ring(), CallerId("5551234", "JOHN DOE", "valid", "0321", "1405"), Ring(), Ring()]


@pytest.mark.parametrize("options, expected", [
    ({"withheld": True}, CallerId("", validity="withheld", date="0101", time="0000")),
    ({"unavailable": True}, CallerId("", validity="unavailable", date="0101", time="0000")),
    ({"ddn": True}, CallerId("9196278340", date="0101", time="0000", extra=(("DDN_NMBR", "9196278340"),))),
])
def test_caller_id_variants(voice_line, options, expected):
    emulator, driver = voice_line()
    emulator.incoming_call("9196278340", date="0101", time="0000", rings=2, **options)
    assert line_events(emulator, driver) == [Ring(), expected, Ring()]


def test_lost_caller_id_burst_gives_rings_only(voice_line):
    emulator, driver = voice_line()
    emulator.incoming_call("5551234", rings=2, caller_id=False)
    assert line_events(emulator, driver) == [Ring(), Ring()]


def test_numeric_result_codes_over_the_wire(voice_line):
    emulator, driver = voice_line()
    assert driver.command("ATV0") == CommandResult("ATV0", True)
    emulator.incoming_call("5551234", name="JOHN DOE", date="0321", time="1405", rings=2)
    assert line_events(emulator, driver) == [
        Ring(), CallerId("5551234", "JOHN DOE", "valid", "0321", "1405"), Ring()]
    assert driver.command("AT+NOPE") == CommandResult("AT+NOPE", False, (), "ERROR")


def test_busy_dial(voice_line, pump):
    emulator, driver = voice_line()
    emulator.busy()
    driver.dial("5551234")
    events = pump(driver, lambda events: any(isinstance(e, CommandResult) for e in events))
    assert events == [CallEnded("busy"), CommandResult("ATD5551234;", False, (), "BUSY")]


def test_identify_voice_modem(voice_line):
    _, driver = voice_line()
    assert driver.identify() == {"kind": "voice-modem", "info": "CX93001-EIS_V0.2002-V92",
                                 "manufacturer": "CONEXANT", "model": "CX93001-EIS"}
