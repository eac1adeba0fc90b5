"""Scripted calls through emulator, pty and driver: the event sequences a state machine sees."""
from __future__ import annotations

import pytest

from firmware_bridge.events import (CallConnected, CallEnded, CallerId, CallStatus, CommandResult,
                                    Ring)

CALLER = "+15551234567"


def call_events(emulator, driver) -> list:
    """Everything the line said once the emulator is idle; `AT` is the barrier (pty is FIFO)."""
    assert emulator.wait_idle(5.0)
    driver.command("AT")
    return [e for e in driver.read_events() if not isinstance(e, CommandResult)]


def status(state: str, direction: str = "inbound", number: str = CALLER) -> CallStatus:
    return CallStatus(index=1, direction=direction, state=state, mode="voice", number=number)


def ringing(rings: int, caller: CallerId = CallerId(CALLER)) -> list:
    return [Ring("VOICE"), caller] * rings


@pytest.fixture
def line(make_gsm, make_driver, pump):
    """(emulator, driver) for a given module model, initialised."""
    def make(model: str = "SIM7600", **options):
        emulator = make_gsm(model=model, **options)
        driver = make_driver()
        driver.open()
        pump(driver, lambda _: driver.ready)
        return emulator, driver
    return make


# Without automatic +CLCC reports (EC25) each abandon style shows exactly its own indication.
ABANDON_EC25 = {
    "no_carrier": [CallEnded("no_carrier")],
    "missed_call": [CallEnded("missed_call", number=CALLER)],
    "clcc": [status("disconnected"), CallEnded("clcc_disconnect", number=CALLER)],
    "rings_stop": [],
}
# SIM7600 with AT+CLCC=1 adds the incoming report up front and stat 6 at the end.
ABANDON_SIM7600 = {
    "no_carrier": [CallEnded("no_carrier"), status("disconnected"),
                   CallEnded("clcc_disconnect", number=CALLER)],
    "missed_call": [CallEnded("missed_call", number=CALLER), status("disconnected"),
                    CallEnded("clcc_disconnect", number=CALLER)],
    "clcc": [status("disconnected"), CallEnded("clcc_disconnect", number=CALLER)],
    "rings_stop": [],
}


@pytest.mark.parametrize("style", sorted(ABANDON_EC25))
def test_abandoned_call_on_ec25(line, style):
    emulator, driver = line("EC25")
    emulator.incoming_call(CALLER, rings=2, abandon_style=style)
    assert call_events(emulator, driver) == ringing(2) + ABANDON_EC25[style]


@pytest.mark.parametrize("style", sorted(ABANDON_SIM7600))
def test_abandoned_call_on_sim7600(line, style):
    emulator, driver = line("SIM7600")
    emulator.incoming_call(CALLER, rings=2, abandon_style=style)
    expected = [status("incoming")] + ringing(2) + ABANDON_SIM7600[style]
    assert call_events(emulator, driver) == expected


def test_answered_elsewhere_reports_the_scripted_talk_time(line):
    emulator, driver = line("SIM7600")
    emulator.incoming_call(CALLER, rings=5, answer_after_rings=1, talk_s=60)
    assert call_events(emulator, driver) == [
        status("incoming"), Ring("VOICE"), CallerId(CALLER),
        CallConnected("voice_call_begin"), status("active"), CallConnected("clcc"),
        CallEnded("voice_call_end", duration_s=60), CallEnded("no_carrier"),
        status("disconnected"), CallEnded("clcc_disconnect", number=CALLER)]


def test_host_answers_and_caller_hangs_up(line, pump):
    emulator, driver = line("SIM7600")
    emulator.incoming_call(CALLER, rings=500, talk_s=17)
    pump(driver, lambda events: Ring("VOICE") in events)
    driver.answer()
    events = pump(driver, lambda events: CallEnded("no_carrier") in events)
    assert CommandResult("ATA", True) in events
    assert CallEnded("voice_call_end", duration_s=17) in events
    assert emulator.wait_idle(2.0)


def test_host_rejects_a_ringing_call(line, pump):
    emulator, driver = line("SIM7600")
    emulator.incoming_call(CALLER, rings=500)
    pump(driver, lambda events: Ring("VOICE") in events)
    driver.hangup()
    events = pump(driver, lambda events: CommandResult("AT+CHUP", True) in events)
    assert emulator.wait_idle(2.0)                  # no more rings: the call is gone
    assert CallEnded("clcc_disconnect", number=CALLER) in events + call_events(emulator, driver)


@pytest.mark.parametrize("model, options, expected", [
    ("SIM7600", {"withheld": True}, CallerId("", validity="withheld")),
    ("SIM7600", {"unavailable": True}, CallerId("", validity="unavailable")),
    ("MC35", {"unavailable": True}, CallerId("", validity="unavailable")),     # validity 3
    ("MC35", {}, CallerId(CALLER)),                                            # 2-field form
    ("EC25", {"name": "ACME, INC"}, CallerId(CALLER, name="ACME, INC")),
])
def test_caller_id_forms_per_module(line, model, options, expected):
    emulator, driver = line(model)
    emulator.incoming_call(CALLER, rings=1, abandon_style="rings_stop", **options)
    events = call_events(emulator, driver)
    assert [e for e in events if isinstance(e, CallerId)] == [expected]


def test_two_queued_calls_come_one_after_the_other(line):
    emulator, driver = line("EC25")
    emulator.incoming_call("5550001", rings=1)
    emulator.incoming_call("5550002", rings=1)
    events = call_events(emulator, driver)
    assert events == (ringing(1, CallerId("5550001")) + [CallEnded("no_carrier")]
                      + ringing(1, CallerId("5550002")) + [CallEnded("no_carrier")])


def test_outgoing_call_answered_then_remote_hangs_up(line, pump):
    emulator, driver = line("SIM7600")
    emulator.outgoing_call("5550100", outcome="answered", alert_s=3, talk_s=42)
    driver.dial("5550100")
    # Once ATD is answered the emulator is running the call, so waiting for idle is meaningful.
    events = pump(driver, lambda events: CommandResult("ATD5550100;", True) in events)
    events = [e for e in events if not isinstance(e, CommandResult)]
    out = lambda state: status(state, "outbound", "5550100")   # noqa: E731
    assert events + call_events(emulator, driver) == [
        out("dialing"), out("alerting"),
        CallConnected("voice_call_begin"), out("active"), CallConnected("clcc"),
        CallEnded("voice_call_end", duration_s=42), CallEnded("no_carrier"),
        out("disconnected"), CallEnded("clcc_disconnect", number="5550100")]


@pytest.mark.parametrize("script, reason", [("busy", "busy"), ("no_answer", "no_answer")])
def test_outgoing_call_not_answered(line, pump, script, reason):
    emulator, driver = line("EC25")
    if script == "busy":
        emulator.busy()
    else:
        emulator.outgoing_call(outcome="no_answer", alert_s=5)
    driver.dial("5550100")
    events = pump(driver, lambda events: any(isinstance(e, CallEnded) for e in events))
    # EC25 has no +CLCC reports: the driver's own AT+CLCC polls may show the call dialling meanwhile.
    polled = [e for e in events if isinstance(e, CallStatus)
              or (isinstance(e, CommandResult) and e.command == "AT+CLCC")]
    assert all(e.state in ("dialing", "alerting") for e in polled if isinstance(e, CallStatus))
    assert [e for e in events if e not in polled] == [CommandResult("ATD5550100;", True), CallEnded(reason)]
