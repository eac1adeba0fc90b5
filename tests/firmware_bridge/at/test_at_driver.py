"""LineDriver against the GSM module emulator over a real pty: init, commands, faults."""
from __future__ import annotations

import os
import select
import time

import pytest

from firmware_bridge.at import LineDriver
from firmware_bridge.events import (CallConnected, CallEnded, CallerId, CallStatus, CommandResult,
                                    ProtocolError, Ring)
from firmware_bridge.exceptions import DeviceGone, DeviceTimeout

GSM_INIT = ["ATE0", "AT+CMEE=1", "AT+CPIN?", "AT+CLIP=1", "AT+CRC=1", "AT+CVHU=0", "AT+CLCC=1"]
SIM7600_IDENTITY = {
    "kind": "gsm", "manufacturer": "SIMCOM INCORPORATED", "model": "SIMCOM_SIM7600G-H",
    "revision": "LE20B04SIM7600G22", "imei": "862636051234567", "sim": "READY",
    "signal": {"rssi": 23, "ber": 99, "dbm": -67}, "registration": "registered home",
}


def results(events) -> list[CommandResult]:
    """Results of the commands a test sent (not the driver's own AT+CLCC polls during a call)."""
    return [e for e in events if isinstance(e, CommandResult) and e.command != "AT+CLCC"]


@pytest.mark.parametrize("echo_initially", [True, False])
def test_init_sequence_completes(make_gsm, make_driver, pump, echo_initially):
    emulator = make_gsm(echo_initially=echo_initially)
    driver = make_driver()
    driver.open()
    events = pump(driver, lambda _: driver.ready)
    assert emulator.commands == GSM_INIT
    assert [(r.command, r.ok) for r in results(events)] == [(c, True) for c in GSM_INIT]
    assert driver.status()["ready"] is True


def test_optional_commands_the_module_refuses_are_remembered(make_gsm, make_driver, pump):
    make_gsm(model="MC35")                           # no +CVHU, no automatic +CLCC reports
    driver = make_driver()
    driver.open()
    pump(driver, lambda _: driver.ready)
    assert driver.status()["unsupported"] == ["AT+CLCC=1", "AT+CVHU=0"]
    assert driver.status()["init_failed"] == {}


def test_refused_caller_id_leaves_the_line_not_ready(make_gsm, make_driver, pump):
    make_gsm(refuse=("+CLIP",))
    driver = make_driver()
    driver.open()
    pump(driver, lambda events: len(results(events)) == len(GSM_INIT))
    assert not driver.ready
    assert driver.status()["init_failed"] == {"AT+CLIP=1": "ERROR"}


def test_urc_between_command_and_result_is_an_event_not_an_info_line(ready_gsm):
    emulator, driver = ready_gsm
    emulator.interleave_next_response("+CRING: VOICE", '+CLIP: "+15551234567",145,"",,"",0')
    result = driver.command("AT+CSQ")
    assert result == CommandResult("AT+CSQ", True, ("+CSQ: 23,99",))
    assert driver.read_events() == [Ring("VOICE"), CallerId("+15551234567")]


def test_answer_then_hangup(ready_gsm, pump):
    emulator, driver = ready_gsm
    emulator.incoming_call("+15551234567", rings=500, end="local")
    pump(driver, lambda events: any(isinstance(e, CallerId) for e in events))
    driver.answer()
    events = pump(driver, lambda events: results(events))
    assert results(events) == [CommandResult("ATA", True)]
    assert CallConnected("voice_call_begin") in events
    driver.hangup()
    events = pump(driver, lambda events: results(events))
    assert results(events) == [CommandResult("AT+CHUP", True)]
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert [e.reason for e in ended] == ["voice_call_end", "clcc_disconnect"]
    assert emulator.wait_idle(2.0)
    assert emulator.commands[-2:] == ["ATA", "AT+CHUP"]


def test_hangup_falls_back_to_ath_and_remembers(make_gsm, make_driver, pump):
    emulator = make_gsm(model="EC25", refuse=("+CHUP",))
    driver = make_driver()
    driver.open()
    pump(driver, lambda _: driver.ready)
    emulator.incoming_call("5551234", rings=500, end="local")
    pump(driver, lambda events: any(isinstance(e, CallerId) for e in events))
    driver.answer()
    pump(driver, lambda events: results(events))
    driver.hangup()
    events = pump(driver, lambda events: results(events))
    assert results(events) == [CommandResult("ATH", True)]
    assert emulator.wait_idle(2.0)                  # the call really ended
    sent = [c for c in emulator.commands if c != "AT+CLCC"]
    assert sent[-2:] == ["AT+CHUP", "ATH"]
    driver.hangup()                                 # +CHUP is known refused now: ATH directly
    pump(driver, lambda events: results(events))
    sent = [c for c in emulator.commands if c != "AT+CLCC"]
    assert sent[-1] == "ATH" and sent[-2] == "ATH"


def test_identify(ready_gsm):
    _, driver = ready_gsm
    assert driver.identify() == SIM7600_IDENTITY


@pytest.mark.parametrize("sim, shown", [("missing", "not inserted"), ("pin", "SIM PIN")])
def test_identify_reports_sim_problems(make_gsm, make_driver, pump, sim, shown):
    make_gsm(sim=sim)
    driver = make_driver()
    driver.open()
    pump(driver, lambda _: driver.ready)
    identity = driver.identify()
    assert identity["sim"] == shown
    assert identity["registration"] == "not registered"


def test_identify_on_a_silent_device_raises_device_timeout(make_gsm, make_driver):
    make_gsm(silent=True)
    driver = make_driver()
    driver.open()
    with pytest.raises(DeviceTimeout):
        driver.identify(timeout=0.2)


def test_silent_device_times_out_every_init_command(make_gsm, make_driver, pump):
    make_gsm(silent=True)
    driver = make_driver(command_timeout=0.05)
    driver.open()
    events = pump(driver, lambda events: len(results(events)) == len(GSM_INIT))
    assert results(events) == [CommandResult(c, False, (), "timeout") for c in GSM_INIT]
    assert not driver.ready
    status = driver.status()
    assert status["init_failed"] == {"ATE0": "timeout", "AT+CLIP=1": "timeout"}
    assert status["timeouts"] == len(GSM_INIT)


def test_unplug_gives_device_gone_once_and_replug_reinitialises(ready_gsm, pump):
    emulator, driver = ready_gsm
    emulator.unplug()
    gone = 0
    deadline = time.monotonic() + 5
    while gone == 0 and time.monotonic() < deadline:
        select.select([driver.fileno()], [], [], 0.05)
        try:
            driver.read_events()
        except DeviceGone:
            gone += 1
    assert gone == 1
    assert driver.read_events() == []                # once: the owner is told, not nagged
    assert driver.status()["open"] is False and not driver.ready
    driver.close()

    emulator.replug()
    driver.open()
    pump(driver, lambda _: driver.ready)
    assert emulator.commands == GSM_INIT + GSM_INIT
    emulator.incoming_call("+15551234567", rings=1, abandon_style="no_carrier")
    events = pump(driver, lambda events: any(isinstance(e, CallEnded) for e in events))
    assert CallerId("+15551234567") in events


def test_garbage_is_kept_as_protocol_error_and_calls_still_flow(ready_gsm, pump):
    emulator, driver = ready_gsm
    emulator.inject(b"\r\n\x00\xff\xfe\x13\r\n")
    emulator.incoming_call("+15551234567", rings=1)
    events = pump(driver, lambda events: any(isinstance(e, CallEnded) for e in events))
    assert ProtocolError("line is not text", b"\x00\xff\xfe\x13") in events
    assert CallerId("+15551234567") in events
    assert driver.status()["protocol_errors"] == 1


def test_slow_bytes_still_make_whole_answers(make_gsm, make_driver, pump):
    make_gsm(byte_delay=0.0005)
    driver = make_driver()
    driver.open()
    pump(driver, lambda _: driver.ready)
    assert driver.identify()["imei"] == "862636051234567"


def test_reading_an_idle_port_is_not_device_gone(ready_gsm):
    _, driver = ready_gsm
    assert driver.read_events() == []
    assert driver.read_events() == []


def test_status_reports_activity(ready_gsm):
    _, driver = ready_gsm
    status = driver.status()
    assert {k: status[k] for k in ("name", "kind", "open", "ready", "pending", "queued")} == {
        "name": "line1", "kind": "gsm", "open": True, "ready": True, "pending": None, "queued": 0}
    assert status["events"] == len(GSM_INIT) and status["errors"] == 0
    assert status["last_event_at"] is not None


def test_dial_refuses_anything_but_a_dial_string(ready_gsm):
    _, driver = ready_gsm
    with pytest.raises(ValueError):
        driver.dial("5551234;+CFUN=0")


def test_context_manager_opens_and_closes(make_gsm, port, pump):
    make_gsm()
    with LineDriver("ctx", port.path) as driver:
        pump(driver, lambda _: driver.ready)
    assert not driver.is_open
    with pytest.raises(ValueError):
        driver.fileno()
    driver.close()                                   # idempotent


def test_a_module_without_clcc_reports_is_asked_during_a_call(make_gsm, make_driver, pump):
    """EC25 refuses AT+CLCC=1 and prints nothing when a dialled call connects: the driver polls
    AT+CLCC during the call, so the state machine still learns it was answered; it stops when
    the call is over."""
    emulator = make_gsm(model="EC25")
    driver = make_driver()
    driver.open()
    pump(driver, lambda _: driver.ready)
    assert "AT+CLCC=1" in driver.unsupported
    emulator.outgoing_call(outcome="answered", alert_s=0.5, talk_s=3000)
    driver.dial("5550100")
    events = pump(driver, lambda events: any(isinstance(e, CallStatus) and e.state == "active" for e in events))
    assert CommandResult("ATD5550100;", True) in events
    driver.hangup()
    pump(driver, lambda events: any(isinstance(e, CallEnded) for e in events)
         or any(isinstance(e, CommandResult) and e.command in ("AT+CHUP", "ATH") for e in events))
    assert emulator.wait_idle(2.0)
    # One more poll may find the list empty; after that no more polls, whatever the time.
    pump(driver, lambda events: any(isinstance(e, CommandResult) and e.command == "AT+CLCC" and not e.lines
                                    for e in events) or not driver.polling_calls, timeout=3)
    assert not driver.polling_calls


def test_a_sim_asking_for_its_pin_gets_sim_pin_once_and_it_is_never_logged(make_gsm, make_driver, pump, caplog):
    emulator = make_gsm(sim="pin", pin="4321")
    driver = make_driver(sim_pin="4321")
    with caplog.at_level("DEBUG", logger="firmware_bridge.at"):
        driver.open()
        pump(driver, lambda _: driver.ready)
    assert emulator.pin_attempts == ["4321"]
    assert "AT+CLIP=1" in emulator.commands                     # the init went on with the SIM unlocked
    assert not any("4321" in r.getMessage() for r in caplog.records)


def test_a_wrong_sim_pin_is_sent_once_then_never_again_and_says_so(make_gsm, make_driver, pump, caplog):
    emulator = make_gsm(sim="pin", pin="4321")
    driver = make_driver(sim_pin="1111")
    with caplog.at_level("INFO", logger="firmware_bridge.at"):
        driver.open()
        pump(driver, lambda _: driver._init_done)
        assert driver.pin_rejected
        assert driver.status()["sim_problem"] == "the SIM refused sim_pin"
        driver.open()                                             # a replug re-runs the init
        pump(driver, lambda _: driver._init_done)
    assert emulator.pin_attempts == ["1111"]                      # three wrong PINs would lock the SIM
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "refused the PIN in sim_pin" in messages and "1111" not in messages


def test_a_sim_asking_for_a_pin_without_sim_pin_says_what_to_set(make_gsm, make_driver, pump):
    make_gsm(sim="pin")
    driver = make_driver()
    driver.open()
    pump(driver, lambda _: driver._init_done)
    assert driver.status()["sim_problem"] == "the SIM asks for a PIN: set sim_pin"


def test_a_port_kept_across_a_restart_is_taken_over_and_initialised_again(ready_gsm, make_driver, pump):
    emulator, first = ready_gsm
    kept = {name: os.dup(fd) for name, fd in first.descriptors().items()}
    assert list(kept) == ["port"]
    first.close()
    emulator.inject(b"\r\nRING\r\n")                      # said while the daemon was down
    second = make_driver()
    second.adopt(kept)
    second.open()
    events = pump(second, lambda _: second.ready)
    assert any(isinstance(e, Ring) for e in events)
    assert second.descriptors() == kept
    assert emulator.commands[-len(GSM_INIT):] == GSM_INIT   # the init sequence ran again on the kept port
